package dev.partwright.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.partwright.embedded.KafkaEndpoint;
import dev.partwright.embedded.PostgresEndpoint;
import dev.partwright.embedded.Servers;
import dev.partwright.schemas.IngestionEvent;
import dev.partwright.schemas.Topics;
import dev.partwright.streams.Interval;
import dev.partwright.streams.Planner;
import dev.partwright.streams.PlannerConfig;
import dev.partwright.streams.TablePolicy;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * One event's walk through every stage on the real broker and the real PostgreSQL: ingestion →
 * demand topology → command store → worker → PostgreSQL → boundary topic → router.
 */
class EndToEndTest {

  private static final DateTimeFormatter PG_TS = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss").withZone(ZoneOffset.UTC);
  private static KafkaEndpoint kafka;
  private static PostgresEndpoint postgres;
  private static Pipeline pipeline;
  private static Path stateDir;
  private static final TablePolicy POLICY = TablePolicy.dailyShared("e2e", "readings");
  private static final String INGESTION = "e2e.ingestion";

  @BeforeAll
  static void start() throws Exception {
    kafka = Servers.kafka();
    postgres = Servers.postgres();
    try (Connection c = postgres.dataSource().getConnection(); Statement s = c.createStatement()) {
      s.execute("CREATE SCHEMA IF NOT EXISTS e2e");
      s.execute("CREATE TABLE e2e.readings (device_id bigint NOT NULL, recorded_at timestamptz NOT NULL,"
          + " value double precision) PARTITION BY RANGE (recorded_at)");
      s.execute("CREATE INDEX readings_recorded_at_idx ON e2e.readings (recorded_at)");
      s.execute("CREATE TABLE e2e.readings_default PARTITION OF e2e.readings DEFAULT");
    }
    stateDir = Files.createTempDirectory("e2e-streams");
    PlannerConfig planner = PlannerConfig.defaults(Map.of(POLICY.qualifiedName(), POLICY)).withIngestionTopic(INGESTION);
    pipeline = Pipeline.start(kafka.bootstrapServers(), TestSerdes.get(),
        new Pipeline.Database(postgres.jdbcUrl(), postgres.user(), postgres.password()), planner,
        "e2e-demand-" + UUID.randomUUID(), "e2e", stateDir);
    pipeline.awaitReady(Duration.ofSeconds(60));
  }

  @AfterAll
  static void stop() throws Exception {
    if (pipeline != null) {
      pipeline.close();
    }
    try (Connection c = postgres.dataSource().getConnection(); Statement s = c.createStatement()) {
      s.execute("DROP SCHEMA IF EXISTS e2e CASCADE");
    }
  }

  @Test
  void eventsBecomeIndexedPartitionsAndTheRouterAgreesWithPostgres() throws Exception {
    Instant now = Instant.now();
    Random random = new Random(7);
    var serde = TestSerdes.get().serde(IngestionEvent.class);
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer())) {
      producer.send(new ProducerRecord<>(INGESTION, "broken", "{\"not\":\"avro\"}".getBytes(StandardCharsets.UTF_8)));
      for (int i = 0; i < 50; i++) {
        IngestionEvent e = IngestionEvent.newBuilder().setTenant("tenant-" + (i % 5)).setSchemaName("e2e")
            .setTable("readings").setEventTime(now.plus(Duration.ofMinutes(random.nextInt(10 * 24 * 60)))).build();
        producer.send(new ProducerRecord<>(INGESTION, e.getTenant(), serde.encode(INGESTION, e)));
      }
    }

    Instant today = Interval.DAY.floor(now, ZoneOffset.UTC);
    Instant end = Planner.bufferEnd(now, POLICY, 30);
    Map<String, String> expected = new HashMap<>();
    for (Instant d = today; d.isBefore(end); d = Interval.DAY.next(d, ZoneOffset.UTC)) {
      expected.put(Planner.partitionName(POLICY, d), "FOR VALUES FROM ('" + PG_TS.format(d) + "+00') TO ('"
          + PG_TS.format(d.plus(Duration.ofDays(1))) + "+00')");
    }
    assertThat(expected).hasSizeBetween(30, 31);

    await().atMost(Duration.ofSeconds(60)).until(() -> bounds().keySet().containsAll(expected.keySet()));
    Map<String, String> actual = bounds();
    for (Map.Entry<String, String> e : expected.entrySet()) {
      assertThat(actual.get(e.getKey())).as(e.getKey()).isEqualTo(e.getValue());
    }
    assertThat(indexedPartitions()).containsAll(expected.keySet());

    await().atMost(Duration.ofSeconds(30)).until(() -> pipeline.router.partitionCount("e2e.readings") >= expected.size());
    int checked = 0;
    try (Connection c = postgres.dataSource().getConnection();
         PreparedStatement ps = c.prepareStatement("""
             WITH ins AS (INSERT INTO e2e.readings VALUES (?, ?, 1.0) RETURNING tableoid)
             SELECT n.nspname || '.' || cl.relname FROM ins JOIN pg_class cl ON cl.oid = ins.tableoid
               JOIN pg_namespace n ON n.oid = cl.relnamespace""")) {
      for (int i = 0; i < 300; i++) {
        Instant at = today.plus(random.nextLong(ChronoUnit.MICROS.between(today, end)), ChronoUnit.MICROS);
        ps.setLong(1, i);
        ps.setObject(2, at.atOffset(ZoneOffset.UTC));
        try (ResultSet rs = ps.executeQuery()) {
          rs.next();
          assertThat(pipeline.router.resolve("e2e.readings", at)).as("row at %s", at).isEqualTo(rs.getString(1));
          assertThat(rs.getString(1)).isNotEqualTo("e2e.readings_default");
          checked++;
        }
      }
    }
    assertThat(checked).isEqualTo(300);

    List<ConsumerRecord<byte[], byte[]>> dead = deadLetters();
    assertThat(dead).anySatisfy(r -> {
      assertThat(new String(r.value(), StandardCharsets.UTF_8)).isEqualTo("{\"not\":\"avro\"}");
      assertThat(headers(r)).contains("PayloadException$WrongMagicByte").contains("magic byte 0x00");
    });

    // the walking skeleton's topics carry the Confluent wire format: magic byte 0, an id the registry resolves
    assertConfluentWireFormat(pipeline.store.commandsTopic(), "*/e2e.readings", "dev.partwright.schemas.CommandLogEntry");
    assertConfluentWireFormat(pipeline.store.boundariesTopic(), "e2e.readings", "dev.partwright.schemas.BoundaryChange");
  }

  private static void assertConfluentWireFormat(String topic, String key, String schemaName) {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    List<ConsumerRecord<String, byte[]>> ours = new ArrayList<>();
    try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(p, new org.apache.kafka.common.serialization.StringDeserializer(),
        new ByteArrayDeserializer())) {
      List<org.apache.kafka.common.TopicPartition> parts = consumer.partitionsFor(topic).stream()
          .map(i -> new org.apache.kafka.common.TopicPartition(topic, i.partition())).toList();
      consumer.assign(parts);
      consumer.seekToBeginning(parts);
      await().atMost(Duration.ofSeconds(30)).until(() -> {
        consumer.poll(Duration.ofMillis(200)).forEach(r -> {
          if (key.equals(r.key())) {
            ours.add(r);
          }
        });
        return !ours.isEmpty();
      });
    }
    byte[] first = ours.get(0).value();
    assertThat(first[0]).as("magic byte of the first record of %s", topic).isEqualTo((byte) 0);
    int id = java.nio.ByteBuffer.wrap(first, 1, 4).getInt();
    assertThat(TestSerdes.get().registry().schemaById(id).getFullName()).as("schema id %d in the registry", id)
        .isEqualTo(schemaName);
  }

  private static Map<String, String> bounds() throws Exception {
    Map<String, String> out = new HashMap<>();
    try (Connection c = postgres.dataSource().getConnection(); Statement s = c.createStatement()) {
      s.execute("SET TimeZone = 'UTC'");
      try (ResultSet rs = s.executeQuery("SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
          + " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'e2e.readings'::regclass")) {
        while (rs.next()) {
          out.put(rs.getString(1), rs.getString(2));
        }
      }
    }
    return out;
  }

  private static List<String> indexedPartitions() throws Exception {
    List<String> out = new ArrayList<>();
    try (Connection c = postgres.dataSource().getConnection(); Statement s = c.createStatement();
         ResultSet rs = s.executeQuery("SELECT t.relname FROM pg_inherits ih JOIN pg_index ci ON ci.indexrelid = ih.inhrelid"
             + " JOIN pg_class t ON t.oid = ci.indrelid WHERE ih.inhparent = 'e2e.readings_recorded_at_idx'::regclass"
             + " AND ci.indisvalid AND ci.indisready")) {
      while (rs.next()) {
        out.add(rs.getString(1));
      }
    }
    return out;
  }

  private static List<ConsumerRecord<byte[], byte[]>> deadLetters() {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    p.put(ConsumerConfig.GROUP_ID_CONFIG, "e2e-dlq-" + UUID.randomUUID());
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      consumer.subscribe(List.of(Topics.INGESTION_DLQ));
      await().atMost(Duration.ofSeconds(30)).until(() -> {
        consumer.poll(Duration.ofMillis(200)).forEach(out::add);
        return !out.isEmpty();
      });
    }
    return out;
  }

  private static String headers(ConsumerRecord<byte[], byte[]> r) {
    StringBuilder b = new StringBuilder();
    for (Header h : r.headers()) {
      b.append(h.key()).append('=').append(h.value() == null ? "" : new String(h.value(), StandardCharsets.UTF_8)).append('\n');
    }
    return b.toString();
  }
}
