package dev.partwright.cli;

import dev.partwright.commandstore.CommandStoreConfig;
import dev.partwright.commandstore.CommandTopics;
import dev.partwright.commandstore.TopicLayoutException;
import dev.partwright.embedded.ExternalKafka;
import dev.partwright.embedded.ServerStartException;
import dev.partwright.schemas.PartwrightSerdes;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * What every {@code partwright run} process shares: connection and topic-layout options, the
 * Prometheus endpoint, and the life cycle — start the component, log it, run until SIGTERM (a
 * shutdown hook) or {@link #stop()}, close the component, log that, exit. Exit codes: 0 stopped
 * when asked, 2 bad arguments or the component failed (Kubernetes restarts it), 3 a server could
 * not be reached at start.
 */
abstract class LongRunningCommand implements Callable<Integer> {

  private static final Logger LOG = LoggerFactory.getLogger(LongRunningCommand.class);
  /** How long the shutdown hook waits for the component to close (the pods' grace period is longer). */
  private static final Duration SHUTDOWN_WAIT = Duration.ofSeconds(45);

  @Spec
  CommandSpec spec;

  @Mixin
  ConnectionOptions connection;

  @Option(names = "--metrics-port", paramLabel = "PORT", defaultValue = "${env:PARTWRIGHT_METRICS_PORT:-9404}",
      description = "Serve Prometheus metrics on :PORT/metrics and liveness on :PORT/healthz; 0 = off"
          + " (default: ${DEFAULT-VALUE}; env PARTWRIGHT_METRICS_PORT).")
  int metricsPort;

  @Option(names = "--topic-prefix", paramLabel = "PREFIX", defaultValue = "${env:PARTWRIGHT_TOPIC_PREFIX}",
      description = "Prefix every topic name with PREFIX and a dot: an isolated pipeline on a shared cluster"
          + " (env PARTWRIGHT_TOPIC_PREFIX).")
  String topicPrefix;

  @Option(names = "--partitions", paramLabel = "N", defaultValue = "${env:PARTWRIGHT_TOPIC_PARTITIONS:-6}",
      description = "Partitions of the command and boundary topics, created if missing; an existing topic with"
          + " another count is refused (default: ${DEFAULT-VALUE}; env PARTWRIGHT_TOPIC_PARTITIONS).")
  int partitions;

  @Option(names = "--replication-factor", paramLabel = "N",
      defaultValue = "${env:PARTWRIGHT_REPLICATION_FACTOR:-1}",
      description = "Replication factor of the topics created; existing ones must match"
          + " (default: ${DEFAULT-VALUE}; env PARTWRIGHT_REPLICATION_FACTOR; 3 in production).")
  short replicationFactor;

  @Option(names = "--min-insync-replicas", paramLabel = "N", defaultValue = "${env:PARTWRIGHT_MIN_INSYNC_REPLICAS}",
      description = "min.insync.replicas of those topics (default: 2 when replicated, else 1;"
          + " env PARTWRIGHT_MIN_INSYNC_REPLICAS).")
  Integer minInsyncReplicas;

  @Option(names = "--startup-timeout", paramLabel = "DURATION", defaultValue = "30s", converter = Durations.class,
      description = "How long to try reaching the servers at start before exiting 3 (default: ${DEFAULT-VALUE}).")
  Duration startupTimeout;

  private final CountDownLatch stopRequested = new CountDownLatch(1);
  private final CountDownLatch stopped = new CountDownLatch(1);
  private volatile int exitCode = ExitCodes.OK;
  private volatile MetricsEndpoint endpoint;

  /** A started component. */
  interface Running extends AutoCloseable {
    /** Why the component stopped on its own, or null while it works. */
    Throwable failure();

    /** What {@code /healthz} says. */
    default MetricsEndpoint.Health health() {
      Throwable f = failure();
      return new MetricsEndpoint.Health(f == null, f == null ? "ok" : "stopped: " + f);
    }

    /** Stops the component and releases what it holds. */
    @Override
    void close();
  }

  /** The subcommand's name, for log lines and messages. */
  abstract String component();

  /**
   * Checks the options, reaches the servers and starts the component.
   *
   * @throws ManageCommand.Db.UnreachableException when a server cannot be reached (exit 3)
   * @throws ParameterException on bad options (exit 2)
   */
  abstract Running start(PrometheusMeterRegistry meters) throws Exception;

  @Override
  public final Integer call() throws Exception {
    PrintWriter err = spec.commandLine().getErr();
    if (metricsPort < 0 || metricsPort > 65_535) {
      throw new ParameterException(spec.commandLine(), "--metrics-port must be 0..65535, not " + metricsPort);
    }
    PrometheusMeterRegistry meters = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    meters.config().commonTags("component", component());
    new JvmMemoryMetrics().bindTo(meters);
    new JvmThreadMetrics().bindTo(meters);
    new ProcessorMetrics().bindTo(meters);
    Running running;
    try {
      running = start(meters);
    } catch (ManageCommand.Db.UnreachableException e) {
      err.println("partwright run " + component() + ": " + e.getMessage());
      err.flush();
      return ExitCodes.UNAVAILABLE;
    } catch (TopicLayoutException e) {
      err.println("partwright run " + component() + ": " + e.getMessage());
      err.flush();
      return ExitCodes.ERROR;
    }
    Thread hook = new Thread(() -> {
      LOG.info("partwright run {}: shutdown requested (SIGTERM), stopping", component());
      stopRequested.countDown();
      try {
        if (stopped.await(SHUTDOWN_WAIT.toMillis(), TimeUnit.MILLISECONDS)) {
          // the component is closed: exit with its code (0), not the JVM's 143 for a signal
          Runtime.getRuntime().halt(exitCode);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }, "partwright-" + component() + "-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);
    int exit = ExitCodes.OK;
    try {
      endpoint = metricsPort == 0 ? null : MetricsEndpoint.start(metricsPort, meters, running::health);
      LOG.info("partwright run {} started{}", component(),
          endpoint == null ? "" : "; metrics on :" + endpoint.port() + "/metrics");
      while (!stopRequested.await(250, TimeUnit.MILLISECONDS)) {
        Throwable failure = running.failure();
        if (failure != null) {
          LOG.error("partwright run {} stopped on its own: {}", component(), failure.toString());
          err.println("partwright run " + component() + ": stopped: " + failure);
          err.flush();
          exit = ExitCodes.ERROR;
          break;
        }
      }
    } finally {
      try {
        running.close();
      } finally {
        MetricsEndpoint e = endpoint;
        if (e != null) {
          e.close();
        }
        meters.close();
        LOG.info("partwright run {} stopped (exit {})", component(), exit);
        exitCode = exit;
        stopped.countDown();
        try {
          Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
          // the JVM is exiting: the hook is what got us here
        }
      }
    }
    return exit;
  }

  /** Asks a running {@link #call()} to stop, as SIGTERM does. */
  void stop() {
    stopRequested.countDown();
  }

  /** The port the metrics endpoint listens on, or -1 when it is off or not started yet. */
  int metricsEndpointPort() {
    MetricsEndpoint e = endpoint;
    return e == null ? -1 : e.port();
  }

  /** {@code name} with the topic prefix, if any. */
  String topic(String name) {
    return topicPrefix == null || topicPrefix.isBlank() ? name : topicPrefix + "." + name;
  }

  /** The Kafka to use, checked reachable within the startup timeout. */
  String kafka() throws ManageCommand.Db.UnreachableException {
    String servers = connection.requireBootstrapServers();
    long deadline = System.nanoTime() + startupTimeout.toNanos();
    while (true) {
      try (ExternalKafka k = ExternalKafka.connect(servers)) {
        return k.bootstrapServers();
      } catch (ServerStartException e) {
        if (System.nanoTime() > deadline) {
          throw new ManageCommand.Db.UnreachableException("Kafka at " + servers + " unreachable for "
              + startupTimeout.toSeconds() + " s: " + e.getMessage());
        }
        waitBeforeRetry();
      }
    }
  }

  /** The target database, checked reachable within the startup timeout. */
  ManageCommand.Db database(int maxConnections) throws ManageCommand.Db.UnreachableException {
    String url = connection.requireDbUrl();
    long deadline = System.nanoTime() + startupTimeout.toNanos();
    while (true) {
      try {
        return ManageCommand.Db.connect(url, connection.dbUserOrEnv(), connection.dbPasswordOrEnv(), maxConnections);
      } catch (ManageCommand.Db.UnreachableException e) {
        if (System.nanoTime() > deadline) {
          throw e;
        }
        waitBeforeRetry();
      }
    }
  }

  private void waitBeforeRetry() {
    try {
      // a server that is starting (a pod beside ours) gets a moment; SIGTERM meanwhile ends the wait
      stopRequested.await(1, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * The command store's topics (prefixed), created if missing and refused when they contradict the
   * layout options: every process checks, so a misconfigured one never starts on the wrong log.
   */
  CommandStoreConfig commandStore(String bootstrapServers, PartwrightSerdes serdes) {
    if (partitions < 1) {
      throw new ParameterException(spec.commandLine(), "--partitions must be >= 1, not " + partitions);
    }
    if (replicationFactor < 1) {
      throw new ParameterException(spec.commandLine(), "--replication-factor must be >= 1, not " + replicationFactor);
    }
    int minIsr = minInsyncReplicas != null ? minInsyncReplicas : replicationFactor > 1 ? 2 : 1;
    if (minIsr < 1 || minIsr > replicationFactor) {
      throw new ParameterException(spec.commandLine(), "--min-insync-replicas must be between 1 and the replication"
          + " factor (" + replicationFactor + "), not " + minIsr);
    }
    CommandStoreConfig config = new CommandStoreConfig(bootstrapServers, topic(dev.partwright.schemas.Topics.COMMANDS),
        topic(dev.partwright.schemas.Topics.BOUNDARIES), partitions, replicationFactor, minIsr,
        topic(dev.partwright.schemas.Topics.SNAPSHOTS), topic(dev.partwright.schemas.Topics.COMMANDS_DLQ), serdes);
    try (Admin admin = Admin.create(adminProperties(bootstrapServers))) {
      CommandTopics.ensure(admin, config, topic(dev.partwright.schemas.Topics.ALERTS));
    }
    return config;
  }

  /** The registry serdes of the pipeline's topics ({@code --schema-registry-url} or the environment). */
  PartwrightSerdes serdes() {
    try {
      return Registry.serdes(connection.schemaRegistryUrl);
    } catch (IllegalArgumentException e) {
      throw new ParameterException(spec.commandLine(), e.getMessage());
    }
  }

  static Properties adminProperties(String bootstrapServers) {
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    return p;
  }

  /** This host's name: the default instance id (a StatefulSet pod's name is its host name). */
  static String hostName() {
    String env = System.getenv("HOSTNAME");
    if (env != null && !env.isBlank()) {
      return env;
    }
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (UnknownHostException e) {
      return "partwright";
    }
  }
}
