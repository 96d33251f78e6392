package dev.partwright.streams;

import dev.partwright.schemas.AvroSerde;
import dev.partwright.schemas.CommandLogEntry;
import dev.partwright.schemas.IngestionEvent;
import dev.partwright.schemas.ProvisionPartitions;
import java.time.Instant;
import java.util.Properties;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.LogAndContinueExceptionHandler;
import org.apache.kafka.streams.errors.LogAndContinueProcessingExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;

/**
 * Ingestion events in, {@code ProvisionPartitions} commands out. Events are re-keyed by aggregate
 * so one task owns one aggregate's coverage; the planner decides, per event, what the aggregate
 * lacks; the command goes to the command store keyed by aggregate. Unreadable and unplannable
 * events go to the dead-letter topic with the reason (Kafka Streams' own DLQ support, KIP-1034:
 * headers {@code __streams.errors.exception} / {@code __streams.errors.message}); the topology
 * never stops on bad input.
 */
public final class DemandTopology {

  /** Per-aggregate coverage already commanded (changelogged, restorable). */
  public static final String COVERAGE_STORE = "coverage";

  private DemandTopology() {}

  public static Topology build(StreamsBuilder builder, PlannerConfig config) {
    AvroSerde<IngestionEvent> events = AvroSerde.of(IngestionEvent.class);
    AvroSerde<CommandLogEntry> log = AvroSerde.of(CommandLogEntry.class);
    builder.addStateStore(Stores.keyValueStoreBuilder(
        Stores.persistentKeyValueStore(COVERAGE_STORE), Serdes.String(), Coverage.serde()));

    builder.stream(config.ingestionTopic(), Consumed.with(Serdes.ByteArray(), events).withName("ingestion-events"))
        .selectKey((key, event) -> aggregateOf(event, config), Named.as("key-by-aggregate"))
        .repartition(Repartitioned.with(Serdes.String(), events).withName("by-aggregate"))
        .process(() -> new PlanningProcessor(config), Named.as("planner"), COVERAGE_STORE)
        .to(config.commandsTopic(), Produced.with(Serdes.String(), log).withName("commands"));
    return builder.build();
  }

  /**
   * Streams settings tuned for reaction time: records leave within one commit interval, no
   * record cache holds them back, DLQ on bad input. At-least-once is enough: commands carry
   * deterministic idempotency keys and the worker applies each once.
   */
  public static Properties streamsProperties(String bootstrapServers, String applicationId, PlannerConfig config) {
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, applicationId);
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);
    p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
    p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
    p.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), 0);
    p.put(StreamsConfig.consumerPrefix("fetch.max.wait.ms"), 20);
    p.put(StreamsConfig.DESERIALIZATION_EXCEPTION_HANDLER_CLASS_CONFIG, LogAndContinueExceptionHandler.class);
    p.put(StreamsConfig.PROCESSING_EXCEPTION_HANDLER_CLASS_CONFIG, LogAndContinueProcessingExceptionHandler.class);
    p.put(StreamsConfig.PROCESSING_EXCEPTION_HANDLER_GLOBAL_ENABLED_CONFIG, true);
    p.put(StreamsConfig.ERRORS_DEAD_LETTER_QUEUE_TOPIC_NAME_CONFIG, config.deadLetterTopic());
    return p;
  }

  static String aggregateOf(IngestionEvent event, PlannerConfig config) {
    if (event == null) {
      throw new UnplannableEventException("empty ingestion event (null payload)");
    }
    TablePolicy policy = policyOf(event, config);
    return Planner.aggregateOf(event, policy).toString();
  }

  static TablePolicy policyOf(IngestionEvent event, PlannerConfig config) {
    String table = event.getSchemaName() + "." + event.getTable();
    TablePolicy policy = config.policies().get(table);
    if (policy == null) {
      throw new UnplannableEventException("table " + table + " is not managed by partwright (tenant "
          + event.getTenant() + "); register it with 'partwright manage'");
    }
    return policy;
  }

  /** Runs the planner for each event against the aggregate's stored coverage. */
  static final class PlanningProcessor implements Processor<String, IngestionEvent, String, CommandLogEntry> {
    private final PlannerConfig config;
    private ProcessorContext<String, CommandLogEntry> context;
    private KeyValueStore<String, Coverage> coverage;

    PlanningProcessor(PlannerConfig config) {
      this.config = config;
    }

    @Override
    public void init(ProcessorContext<String, CommandLogEntry> context) {
      this.context = context;
      this.coverage = context.getStateStore(COVERAGE_STORE);
    }

    @Override
    public void process(Record<String, IngestionEvent> record) {
      IngestionEvent event = record.value();
      TablePolicy policy = policyOf(event, config);
      Instant now = Instant.ofEpochMilli(context.currentSystemTimeMs());
      Planner.Plan plan = Planner.plan(coverage.get(record.key()), event, policy, config, now);
      if (plan.command().isEmpty()) {
        return;
      }
      ProvisionPartitions command = plan.command().get();
      coverage.put(record.key(), plan.coverage());
      CommandLogEntry entry = CommandLogEntry.newBuilder()
          .setAggregateId(record.key())
          .setRecordedAt(now)
          .setEntry(command)
          .build();
      context.forward(record.withValue(entry).withTimestamp(context.currentSystemTimeMs()));
    }
  }
}
