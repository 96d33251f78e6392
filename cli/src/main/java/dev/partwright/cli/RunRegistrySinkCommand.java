package dev.partwright.cli;

import dev.partwright.commandstore.CommandStoreConfig;
import dev.partwright.connectors.registry.RedisRegistry;
import dev.partwright.connectors.registry.RedisRegistrySink;
import dev.partwright.connectors.registry.RegistrySinkConfig;
import dev.partwright.schemas.PartwrightSerdes;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.URI;
import java.time.Duration;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import redis.clients.jedis.RedisClient;

@Command(
    name = "registry-sink",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
        "The Redis registry sink: partition boundaries into Redis.",
        "",
        "Follows the boundary topic into Redis, so services that do not read Kafka",
        "see the same boundaries (a hash per root table, a version, an",
        "invalidation channel). Instances share the topic as a consumer group;",
        "offsets are committed after Redis applied the changes, and a re-delivered",
        "change is a no-op.",
        "",
        "Required: --bootstrap-servers (or PARTWRIGHT_KAFKA_BOOTSTRAP),",
        "--redis-url (or PARTWRIGHT_REDIS_URL).",
        "Exit codes: 0 stopped; 2 bad arguments; 3 Kafka or Redis unreachable."})
final class RunRegistrySinkCommand extends LongRunningCommand {

  @Option(names = "--redis-url", paramLabel = "URL", defaultValue = "${env:PARTWRIGHT_REDIS_URL:-${env:REDIS_URL}}",
      description = "The registry: redis://[user:password@]host:port[/db] or rediss://... (env PARTWRIGHT_REDIS_URL).")
  String redisUrl;

  @Option(names = "--key-prefix", paramLabel = "PREFIX", defaultValue = RedisRegistry.DEFAULT_PREFIX,
      description = "First part of every Redis key and of the invalidation channel (default: ${DEFAULT-VALUE}).")
  String keyPrefix;

  @Option(names = "--group-id", paramLabel = "GROUP", defaultValue = "partwright-registry",
      description = "Consumer group of all sink instances (default: ${DEFAULT-VALUE}).")
  String groupId;

  private volatile RedisRegistrySink sink;

  @Override
  String component() {
    return "registry-sink";
  }

  @Override
  Running start(PrometheusMeterRegistry meters) throws Exception {
    if (redisUrl == null || redisUrl.isBlank()) {
      throw new ParameterException(spec.commandLine(), "Missing required option: '--redis-url=URL' (or PARTWRIGHT_REDIS_URL)");
    }
    PartwrightSerdes serdes = serdes();
    CommandStoreConfig store = commandStore(kafka(), serdes);
    RegistrySinkConfig config;
    try {
      config = new RegistrySinkConfig(store.bootstrapServers(), store.boundariesTopic(), groupId, redisUrl, keyPrefix,
          Duration.ofSeconds(1));
    } catch (IllegalArgumentException e) {
      throw new ParameterException(spec.commandLine(), e.getMessage());
    }
    ping(config.redisUri());
    RedisRegistrySink s = RedisRegistrySink.start(config, serdes);
    sink = s;
    FunctionCounter.builder("partwright.registry.applied", s, RedisRegistrySink::applied)
        .description("Boundary changes applied to Redis").register(meters);
    return new Running() {
      @Override
      public Throwable failure() {
        return null; // the sink retries a refusing Redis itself; it never gives up
      }

      @Override
      public void close() {
        s.close();
      }
    };
  }

  /** Redis answers, within the startup timeout; otherwise exit 3. */
  private void ping(String uri) throws ManageCommand.Db.UnreachableException {
    long deadline = System.nanoTime() + startupTimeout.toNanos();
    while (true) {
      try (RedisClient redis = RedisClient.create(URI.create(uri))) {
        redis.ping();
        return;
      } catch (RuntimeException e) {
        if (System.nanoTime() > deadline) {
          throw new ManageCommand.Db.UnreachableException("Redis at " + redacted(uri) + " unreachable for "
              + startupTimeout.toSeconds() + " s: " + e.getMessage());
        }
        try {
          Thread.sleep(500); // retry pacing while a Redis beside us starts
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          throw new ManageCommand.Db.UnreachableException("interrupted while reaching Redis");
        }
      }
    }
  }

  private static String redacted(String uri) {
    return uri.replaceAll("//[^@/]*@", "//***@");
  }

  /** The running sink, once started (tests). */
  RedisRegistrySink sink() {
    return sink;
  }
}
