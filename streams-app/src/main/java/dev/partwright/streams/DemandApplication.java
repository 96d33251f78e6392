package dev.partwright.streams;

import com.sun.net.httpserver.HttpServer;
import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.schemas.SchemaRegistryConfig;
import io.micrometer.core.instrument.binder.kafka.KafkaStreamsMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The demand topology as a process of its own — what the Deployment in {@code deploy/} runs.
 * Policies come from the policies topic ({@code partwright manage --bootstrap-servers}); meters
 * (runway, rejections, deferrals, Kafka Streams' own) are served for Prometheus on
 * {@code :PORT/metrics}, liveness on {@code :PORT/healthz}.
 *
 * <p>Environment: {@code PARTWRIGHT_KAFKA_BOOTSTRAP} (required), {@code PARTWRIGHT_APPLICATION_ID}
 * (default {@code partwright-demand}), {@code PARTWRIGHT_STATE_DIR} (default
 * {@code /var/lib/partwright/streams}), {@code PARTWRIGHT_METRICS_PORT} (9404),
 * {@code PARTWRIGHT_MIN_BUFFER_DAYS} / {@code PARTWRIGHT_MAX_BUFFER_DAYS} (30 / 90),
 * {@code PARTWRIGHT_INGESTION_TOPIC}, {@code PARTWRIGHT_POLICIES_TOPIC},
 * {@code PARTWRIGHT_TOPIC_PARTITIONS} (6, for topics it creates), {@code PARTWRIGHT_REPLICATION_FACTOR} (1),
 * {@code PARTWRIGHT_SCHEMA_REGISTRY_URL} (required) and its credentials ({@link SchemaRegistryConfig#fromEnvironment()}).
 */
public final class DemandApplication {

  private static final Logger LOG = LoggerFactory.getLogger(DemandApplication.class);

  private DemandApplication() {}

  public static void main(String[] args) throws Exception {
    Map<String, String> env = System.getenv();
    String bootstrap = env.get("PARTWRIGHT_KAFKA_BOOTSTRAP");
    if (bootstrap == null || bootstrap.isBlank()) {
      System.err.println("PARTWRIGHT_KAFKA_BOOTSTRAP is not set");
      System.exit(2);
    }
    PartwrightSerdes serdes = PartwrightSerdes.create(SchemaRegistryConfig.fromEnvironment());
    PlannerConfig defaults = PlannerConfig.defaults(Map.of());
    PlannerConfig config = defaults
        .withIngestionTopic(env.getOrDefault("PARTWRIGHT_INGESTION_TOPIC", defaults.ingestionTopic()))
        .withPoliciesTopic(env.getOrDefault("PARTWRIGHT_POLICIES_TOPIC", PlannerConfig.DEFAULT_POLICIES_TOPIC))
        .withBuffer(Integer.parseInt(env.getOrDefault("PARTWRIGHT_MIN_BUFFER_DAYS", "30")),
            Integer.parseInt(env.getOrDefault("PARTWRIGHT_MAX_BUFFER_DAYS", "90")));

    Properties admin = new Properties();
    admin.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    try (Admin a = Admin.create(admin)) {
      DemandTopology.ensureTopics(a, config, Integer.parseInt(env.getOrDefault("PARTWRIGHT_TOPIC_PARTITIONS", "6")),
          Short.parseShort(env.getOrDefault("PARTWRIGHT_REPLICATION_FACTOR", "1")));
    }

    PrometheusMeterRegistry meters = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    Properties props = DemandTopology.streamsProperties(bootstrap,
        env.getOrDefault("PARTWRIGHT_APPLICATION_ID", "partwright-demand"), config);
    props.put(StreamsConfig.STATE_DIR_CONFIG, env.getOrDefault("PARTWRIGHT_STATE_DIR", "/var/lib/partwright/streams"));
    KafkaStreams streams = new KafkaStreams(DemandTopology.build(new StreamsBuilder(), config, serdes, meters), props);
    streams.setUncaughtExceptionHandler(e -> {
      LOG.error("stream thread died; replacing it", e);
      return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.REPLACE_THREAD;
    });
    new KafkaStreamsMetrics(streams).bindTo(meters);

    HttpServer http = HttpServer.create(new InetSocketAddress(Integer.parseInt(env.getOrDefault("PARTWRIGHT_METRICS_PORT",
        "9404"))), 0);
    http.createContext("/metrics", exchange -> respond(exchange, 200, meters.scrape()));
    http.createContext("/healthz", exchange -> {
      KafkaStreams.State state = streams.state();
      boolean alive = state.isRunningOrRebalancing() || state == KafkaStreams.State.CREATED;
      respond(exchange, alive ? 200 : 503, state + "\n");
    });
    http.start();

    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      streams.close(CloseOptions.groupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP)
          .withTimeout(Duration.ofSeconds(30)));
      http.stop(0);
      stopped.countDown();
    }, "partwright-demand-shutdown"));
    streams.start();
    LOG.info("demand topology started on {} (policies from {}, metrics on :{}/metrics)", bootstrap,
        config.policiesTopic(), http.getAddress().getPort());
    stopped.await();
  }

  private static void respond(com.sun.net.httpserver.HttpExchange exchange, int status, String body) throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    exchange.getResponseHeaders().add("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    exchange.sendResponseHeaders(status, bytes.length);
    try (OutputStream out = exchange.getResponseBody()) {
      out.write(bytes);
    }
  }
}
