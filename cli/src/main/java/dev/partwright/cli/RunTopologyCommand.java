package dev.partwright.cli;

import dev.partwright.commandstore.CommandStoreConfig;
import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.schemas.Topics;
import dev.partwright.streams.DemandTopology;
import dev.partwright.streams.PlannerConfig;
import io.micrometer.core.instrument.binder.kafka.KafkaStreamsMetrics;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

@Command(
    name = "topology",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
        "The demand topology (Kafka Streams): ingestion events in, commands out.",
        "",
        "Reads the ingestion topic, keeps windowed demand per aggregate, and",
        "appends ProvisionPartitions commands to the command log ahead of the",
        "writes. Managed tables come from the policies topic (partwright manage",
        "--bootstrap-servers). Instances share the work by partitions of the",
        "ingestion topic; state stores live in --state-dir.",
        "",
        "Required: --bootstrap-servers (or PARTWRIGHT_KAFKA_BOOTSTRAP). Stops on",
        "SIGTERM, leaving its group at once. Exit codes: 0 stopped; 2 bad",
        "arguments, or the topology stopped on an error; 3 Kafka unreachable."})
final class RunTopologyCommand extends LongRunningCommand {

  private static final Logger LOG = LoggerFactory.getLogger(RunTopologyCommand.class);

  @Option(names = "--application-id", paramLabel = "ID", defaultValue = "${env:PARTWRIGHT_APPLICATION_ID:-partwright-demand}",
      description = "Kafka Streams application id: the group and the prefix of internal topics"
          + " (default: ${DEFAULT-VALUE}; env PARTWRIGHT_APPLICATION_ID).")
  String applicationId;

  @Option(names = "--state-dir", paramLabel = "DIR",
      defaultValue = "${env:PARTWRIGHT_STATE_DIR:-${sys:java.io.tmpdir}/partwright-streams}",
      description = "Where the state stores live (default: ${DEFAULT-VALUE}; env PARTWRIGHT_STATE_DIR).")
  Path stateDir;

  @Option(names = "--min-buffer-days", paramLabel = "N", defaultValue = "${env:PARTWRIGHT_MIN_BUFFER_DAYS:-30}",
      description = "Forward buffer of a quiet aggregate, 1-366 days (default: ${DEFAULT-VALUE}).")
  int minBufferDays;

  @Option(names = "--max-buffer-days", paramLabel = "N", defaultValue = "${env:PARTWRIGHT_MAX_BUFFER_DAYS:-90}",
      description = "Forward buffer of a fast-growing aggregate (default: ${DEFAULT-VALUE}).")
  int maxBufferDays;

  private volatile KafkaStreams streams;

  @Override
  String component() {
    return "topology";
  }

  @Override
  Running start(PrometheusMeterRegistry meters) throws Exception {
    PlannerConfig defaults = PlannerConfig.defaults(Map.of());
    PlannerConfig planner;
    try {
      planner = defaults
          .withTopics(topic(defaults.ingestionTopic()), topic(Topics.COMMANDS), topic(defaults.deadLetterTopic()),
              topic(defaults.alertsTopic()))
          .withPoliciesTopic(topic(PlannerConfig.DEFAULT_POLICIES_TOPIC))
          .withBuffer(minBufferDays, maxBufferDays);
    } catch (IllegalArgumentException e) {
      throw new ParameterException(spec.commandLine(), e.getMessage());
    }
    PartwrightSerdes serdes = serdes();
    String kafka = kafka();
    CommandStoreConfig store = commandStore(kafka, serdes);
    try (Admin admin = Admin.create(adminProperties(kafka))) {
      DemandTopology.ensureTopics(admin, planner, store.partitions(), store.replicationFactor());
      // the global policies store dies at start on a topic the broker does not list yet (just created)
      awaitTopics(admin, List.of(planner.ingestionTopic(), planner.policiesTopic(), store.commandsTopic()));
    }
    Properties props = DemandTopology.streamsProperties(kafka, applicationId, planner);
    props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
    KafkaStreams s = new KafkaStreams(DemandTopology.build(new StreamsBuilder(), planner, serdes, meters), props);
    s.setUncaughtExceptionHandler(e -> {
      LOG.error("stream thread died; replacing it", e);
      return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.REPLACE_THREAD;
    });
    KafkaStreamsMetrics streamsMetrics = new KafkaStreamsMetrics(s);
    streamsMetrics.bindTo(meters);
    s.start();
    streams = s;
    return new Running() {
      @Override
      public Throwable failure() {
        KafkaStreams.State state = s.state();
        return state == KafkaStreams.State.ERROR || state == KafkaStreams.State.PENDING_ERROR
            ? new IllegalStateException("Kafka Streams is in state " + state) : null;
      }

      @Override
      public MetricsEndpoint.Health health() {
        KafkaStreams.State state = s.state();
        return new MetricsEndpoint.Health(state.isRunningOrRebalancing() || state == KafkaStreams.State.CREATED,
            state.toString());
      }

      @Override
      public void close() {
        // leave the group now: otherwise the next instance waits a whole session timeout to rebalance
        s.close(CloseOptions.groupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP)
            .withTimeout(Duration.ofSeconds(30)));
        streamsMetrics.close();
      }
    };
  }

  /** Waits until the broker describes every topic, within the startup timeout. */
  private void awaitTopics(Admin admin, List<String> topics) throws ManageCommand.Db.UnreachableException {
    long deadline = System.nanoTime() + startupTimeout.toNanos();
    while (true) {
      try {
        admin.describeTopics(topics).allTopicNames().get(startupTimeout.toMillis(), TimeUnit.MILLISECONDS);
        return;
      } catch (ExecutionException | TimeoutException e) {
        if (System.nanoTime() > deadline) {
          throw new ManageCommand.Db.UnreachableException("topics " + topics + " not visible on the broker within "
              + startupTimeout.toSeconds() + " s: " + (e.getCause() == null ? e : e.getCause()));
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new ManageCommand.Db.UnreachableException("interrupted while waiting for topics " + topics);
      }
      LockSupport.parkNanos(Duration.ofMillis(100).toNanos()); // metadata propagates within milliseconds
    }
  }

  /** The running Kafka Streams instance, once started (tests). */
  KafkaStreams streams() {
    return streams;
  }
}
