package dev.partwright.streams;

import static org.assertj.core.api.Assertions.assertThat;

import dev.partwright.schemas.Bounds;
import dev.partwright.schemas.CommandLogEntry;
import dev.partwright.schemas.IngestionEvent;
import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.RangeBound;
import dev.partwright.schemas.RegistryAvroSerde;
import dev.partwright.schemas.SchemaRegistryClient;
import dev.partwright.schemas.SchemaRegistryConfig;
import dev.partwright.schemas.SchemaRegistryException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.test.TestRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class DemandTopologyTest {

  private static final Instant NOW = Instant.parse("2026-11-25T10:15:00Z");
  private final RegistryAvroSerde<IngestionEvent> events = TestSerdes.get().serde(IngestionEvent.class);
  private final PlannerConfig config = PlannerConfig.defaults(
      Map.of("public.events", TablePolicy.dailyShared("public", "events")));

  private TopologyTestDriver driver;
  private TestInputTopic<byte[], byte[]> input;
  private TestOutputTopic<String, CommandLogEntry> commands;
  private TestOutputTopic<byte[], byte[]> deadLetters;

  @BeforeEach
  void start() {
    Properties props = DemandTopology.streamsProperties("dummy:9092", "demand-test", config);
    driver = new TopologyTestDriver(DemandTopology.build(new StreamsBuilder(), config, TestSerdes.get()), props, NOW);
    input = driver.createInputTopic(config.ingestionTopic(), new ByteArraySerializer(), new ByteArraySerializer());
    commands = driver.createOutputTopic(config.commandsTopic(), new StringDeserializer(),
        TestSerdes.get().serde(CommandLogEntry.class).deserializer());
    deadLetters = driver.createOutputTopic(config.deadLetterTopic(), new ByteArrayDeserializer(), new ByteArrayDeserializer());
  }

  @AfterEach
  void stop() {
    driver.close();
  }

  private void send(String tenant, String table, Instant at) {
    IngestionEvent e = IngestionEvent.newBuilder()
        .setTenant(tenant).setSchemaName("public").setTable(table).setEventTime(at).build();
    input.pipeInput(tenant.getBytes(StandardCharsets.UTF_8), events.encode(config.ingestionTopic(), e));
  }

  private static Instant from(PartitionSpec p) {
    return Bounds.instantOf(((RangeBound) p.getBound()).getFrom().get(0));
  }

  private static Instant to(PartitionSpec p) {
    return Bounds.instantOf(((RangeBound) p.getBound()).getTo().get(0));
  }

  @Test
  void firstEventProvisionsTodayThroughTheBuffer() {
    send("acme", "events", NOW);

    List<TestRecord<String, CommandLogEntry>> out = commands.readRecordsToList();
    assertThat(out).hasSize(1);
    assertThat(out.get(0).key()).isEqualTo("*/public.events");
    ProvisionPartitions command = (ProvisionPartitions) out.get(0).value().getEntry();
    List<PartitionSpec> parts = command.getPartitions();
    assertThat(parts).hasSize(31);
    assertThat(from(parts.get(0))).isEqualTo(Instant.parse("2026-11-25T00:00:00Z"));
    assertThat(to(parts.get(30))).isEqualTo(Instant.parse("2026-12-26T00:00:00Z"));
    assertThat(parts.get(0).getName()).isEqualTo("events_p20261125");
    for (int i = 1; i < parts.size(); i++) {
      assertThat(from(parts.get(i))).as("contiguous at %d", i).isEqualTo(to(parts.get(i - 1)));
    }
    assertThat(command.getHeader().getIdempotencyKey()).hasSize(32);
  }

  @Test
  void eventsInsideCoverageProduceNothingNew() {
    send("acme", "events", NOW);
    commands.readRecordsToList();

    send("globex", "events", NOW.plus(Duration.ofDays(3)));
    send("initech", "events", NOW.plus(Duration.ofDays(29)));

    assertThat(commands.isEmpty()).isTrue();
  }

  @Test
  void eventBeyondTheBufferExtendsCoverageContiguously() {
    send("acme", "events", NOW);
    commands.readRecordsToList();

    send("acme", "events", Instant.parse("2027-01-09T12:00:00Z"));

    ProvisionPartitions command = (ProvisionPartitions) commands.readValue().getEntry();
    List<PartitionSpec> parts = command.getPartitions();
    assertThat(from(parts.get(0))).isEqualTo(Instant.parse("2026-12-26T00:00:00Z"));
    assertThat(to(parts.get(parts.size() - 1))).isEqualTo(Instant.parse("2027-01-10T00:00:00Z"));
    assertThat(parts).hasSize(15);
  }

  @Test
  void replayingTheSameEventsGivesTheSameIdempotencyKey() {
    send("acme", "events", NOW);
    String first = ((ProvisionPartitions) commands.readValue().getEntry()).getHeader().getIdempotencyKey();
    driver.close();
    start();
    send("acme", "events", NOW);
    String second = ((ProvisionPartitions) commands.readValue().getEntry()).getHeader().getIdempotencyKey();
    assertThat(second).isEqualTo(first);
  }

  @Test
  void malformedEventGoesToDeadLetterTopicAndTopologyContinues() {
    input.pipeInput("k".getBytes(StandardCharsets.UTF_8), "not avro at all".getBytes(StandardCharsets.UTF_8));
    send("acme", "events", NOW);

    TestRecord<byte[], byte[]> dead = deadLetters.readRecord();
    assertThat(new String(dead.value(), StandardCharsets.UTF_8)).isEqualTo("not avro at all");
    assertThat(reason(dead)).contains("WrongMagicByte").contains("partition 0 offset 0")
        .contains("not the Confluent wire format's magic byte");
    assertThat(commands.readRecordsToList()).hasSize(1);
  }

  @Test
  void aRegistryOutageFailsTheTaskInsteadOfDeadLetteringTheRecord() throws Exception {
    int closedPort;
    try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
      closedPort = s.getLocalPort();
    }
    PartwrightSerdes unreachable = PartwrightSerdes.create(SchemaRegistryConfig.of("http://127.0.0.1:" + closedPort)
        .withTimeouts(Duration.ofSeconds(1), Duration.ofSeconds(1)));
    // a good record, its schema id from the real registry: the cut-off serde has to ask for it
    byte[] good = events.encode(config.ingestionTopic(), IngestionEvent.newBuilder()
        .setTenant("acme").setSchemaName("public").setTable("events").setEventTime(NOW).build());
    Properties props = DemandTopology.streamsProperties("dummy:9092", "demand-outage", config);
    try (TopologyTestDriver cut = new TopologyTestDriver(DemandTopology.build(new StreamsBuilder(), config, unreachable),
        props, NOW)) {
      TestInputTopic<byte[], byte[]> in = cut.createInputTopic(config.ingestionTopic(), new ByteArraySerializer(),
          new ByteArraySerializer());
      TestOutputTopic<byte[], byte[]> dead = cut.createOutputTopic(config.deadLetterTopic(), new ByteArrayDeserializer(),
          new ByteArrayDeserializer());

      Throwable thrown = org.assertj.core.api.Assertions.catchThrowable(
          () -> in.pipeInput("acme".getBytes(StandardCharsets.UTF_8), good));

      assertThat(thrown).as("the task fails").isNotNull();
      boolean registry = false;
      for (Throwable t = thrown; t != null; t = t.getCause()) {
        registry |= t instanceof SchemaRegistryException;
      }
      assertThat(registry).as("because of the registry: %s", thrown).isTrue();
      assertThat(dead.isEmpty()).as("a good record is never dead-lettered for an outage").isTrue();
    }
  }

  @Test
  void unmanagedTableAndBogusTimestampGoToDeadLetterTopicWithReason() {
    send("acme", "not_managed", NOW);
    send("acme", "events", NOW.plus(Duration.ofDays(5000)));

    List<TestRecord<byte[], byte[]>> dead = deadLetters.readRecordsToList();
    assertThat(dead).hasSize(2);
    assertThat(reason(dead.get(0))).contains("public.not_managed is not managed");
    assertThat(reason(dead.get(1))).contains("days ahead");
    assertThat(commands.isEmpty()).isTrue();
  }

  @Test
  void thePlannerRegistersItsOutputSchemasWhenItsTaskStartsBeforeAnyEvent() {
    String suffix = Long.toString(System.nanoTime());
    PlannerConfig fresh = config.withTopics(config.ingestionTopic(), "commands-" + suffix, config.deadLetterTopic(),
        "alerts-" + suffix);
    Properties props = DemandTopology.streamsProperties("dummy:9092", "demand-prepare-test", fresh);
    try (TopologyTestDriver d = new TopologyTestDriver(DemandTopology.build(new StreamsBuilder(), fresh, TestSerdes.get()),
        props, NOW)) {
      // nothing piped: a new tenant's first command must not wait for a registry round trip
      assertThat(TestSerdes.get().registry().subjects()).contains(
          SchemaRegistryClient.valueSubject(fresh.commandsTopic()), SchemaRegistryClient.valueSubject(fresh.alertsTopic()));
    }
  }

  private static String reason(TestRecord<byte[], byte[]> record) {
    StringBuilder all = new StringBuilder();
    for (Header h : record.headers()) {
      if (h.key().startsWith("__streams.errors.")) {
        all.append(h.key()).append('=').append(h.value() == null ? "" : new String(h.value(), StandardCharsets.UTF_8)).append('\n');
      }
    }
    return all.toString();
  }
}
