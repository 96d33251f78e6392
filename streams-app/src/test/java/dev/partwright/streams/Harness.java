package dev.partwright.streams;

import dev.partwright.schemas.Bounds;
import dev.partwright.schemas.CapacityAlert;
import dev.partwright.schemas.CommandLogEntry;
import dev.partwright.schemas.IngestionEvent;
import dev.partwright.schemas.ManagedTablePolicy;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.RangeBound;
import dev.partwright.schemas.RegistryAvroSerde;
import dev.partwright.schemas.Rejected;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;

/** A TopologyTestDriver around the demand topology, its topics, and its meters; wall clock starts at {@link #NOW}. */
final class Harness implements AutoCloseable {

  static final Instant NOW = Instant.parse("2026-11-25T10:15:00Z");

  final PlannerConfig config;
  final TopologyTestDriver driver;
  final SimpleMeterRegistry meters = new SimpleMeterRegistry();
  final TestInputTopic<byte[], byte[]> input;
  final TestInputTopic<String, ManagedTablePolicy> policies;
  final TestOutputTopic<String, CommandLogEntry> log;
  final TestOutputTopic<String, CapacityAlert> alerts;
  final TestOutputTopic<byte[], byte[]> deadLetters;
  private final RegistryAvroSerde<IngestionEvent> events = TestSerdes.get().serde(IngestionEvent.class);
  private final Path stateDir;

  Harness(PlannerConfig config) {
    this.config = config;
    try {
      stateDir = Files.createTempDirectory("demand-ttd");
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
    Properties props = DemandTopology.streamsProperties("dummy:9092", "demand-test", config);
    props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
    driver = new TopologyTestDriver(DemandTopology.build(new StreamsBuilder(), config, TestSerdes.get(), meters), props, NOW);
    input = driver.createInputTopic(config.ingestionTopic(), new ByteArraySerializer(), new ByteArraySerializer());
    policies = config.policiesTopic() == null ? null : driver.createInputTopic(config.policiesTopic(),
        new StringSerializer(), TestSerdes.get().serde(ManagedTablePolicy.class).serializer());
    log = driver.createOutputTopic(config.commandsTopic(), new StringDeserializer(),
        TestSerdes.get().serde(CommandLogEntry.class).deserializer());
    alerts = driver.createOutputTopic(config.alertsTopic(), new StringDeserializer(),
        TestSerdes.get().serde(CapacityAlert.class).deserializer());
    deadLetters = driver.createOutputTopic(config.deadLetterTopic(), new ByteArrayDeserializer(), new ByteArrayDeserializer());
  }

  /** An event ingested now (record time = wall clock). */
  void send(String tenant, String table, Instant eventTime) {
    send(tenant, table, eventTime, wallClock(), null, null);
  }

  void send(String tenant, String table, Instant eventTime, Instant ingestedAt, Long bytes, Long rows) {
    IngestionEvent e = IngestionEvent.newBuilder().setTenant(tenant).setSchemaName("public").setTable(table)
        .setEventTime(eventTime).setBytes(bytes).setRowCount(rows).build();
    input.pipeInput(tenant.getBytes(StandardCharsets.UTF_8), events.encode(config.ingestionTopic(), e), ingestedAt);
  }

  /** An event without a key, ingested now: whatever its tenant, it takes the repartition topic. */
  void sendWithoutKey(String tenant, String table, Instant eventTime, Long bytes) {
    IngestionEvent e = IngestionEvent.newBuilder().setTenant(tenant).setSchemaName("public").setTable(table)
        .setEventTime(eventTime).setBytes(bytes).build();
    input.pipeInput(null, events.encode(config.ingestionTopic(), e), wallClock());
  }

  Instant wallClock() {
    return NOW.plusMillis(wallOffsetMs);
  }

  private long wallOffsetMs;

  void advance(java.time.Duration d) {
    wallOffsetMs += d.toMillis();
    driver.advanceWallClockTime(d);
  }

  /** The commands among the log entries read so far, in order. */
  static List<ProvisionPartitions> commands(List<CommandLogEntry> entries) {
    return entries.stream().filter(e -> e.getEntry() instanceof ProvisionPartitions)
        .map(e -> (ProvisionPartitions) e.getEntry()).toList();
  }

  static List<Rejected> rejections(List<CommandLogEntry> entries) {
    return entries.stream().filter(e -> e.getEntry() instanceof Rejected).map(e -> (Rejected) e.getEntry()).toList();
  }

  static Instant from(PartitionSpec p) {
    return Bounds.instantOf(((RangeBound) p.getBound()).getFrom().get(0));
  }

  static Instant to(PartitionSpec p) {
    return Bounds.instantOf(((RangeBound) p.getBound()).getTo().get(0));
  }

  /** End of the last range partition of a command. */
  static Instant end(ProvisionPartitions c) {
    return to(c.getPartitions().get(c.getPartitions().size() - 1));
  }

  @Override
  public void close() {
    driver.close();
    try (var paths = Files.walk(stateDir)) {
      paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException e) {
      // a temp dir: the OS cleans up what is left
    }
  }
}
