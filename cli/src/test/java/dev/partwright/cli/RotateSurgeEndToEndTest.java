package dev.partwright.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.partwright.embedded.KafkaEndpoint;
import dev.partwright.embedded.Servers;
import dev.partwright.schemas.CommandLogEntry;
import dev.partwright.schemas.IngestionEvent;
import dev.partwright.schemas.Provisioned;
import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.Topics;
import dev.partwright.streams.DemandTopology;
import dev.partwright.streams.Interval;
import dev.partwright.streams.Planner;
import dev.partwright.streams.PlannerConfig;
import dev.partwright.streams.TablePolicy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/**
 * The whole loop on the real broker and the real PostgreSQL: {@code manage} publishes a policy the
 * running topology learns (no static policy), a surge far beyond the buffer is provisioned before
 * its first row is inserted (the row lands in its partition, not DEFAULT), and {@code rotate}
 * extends the table with its command and outcome on the command log.
 */
class RotateSurgeEndToEndTest {

  private static final TablePolicy DAILY = TablePolicy.dailyShared("public", "readings");

  @Test
  void managedPolicyReachesTheTopologyASurgeIsReadyBeforeItsFirstRowAndRotateExtendsTheTable() throws Exception {
    KafkaEndpoint kafka = Servers.kafka();
    String run = UUID.randomUUID().toString().substring(0, 8);
    try (ManageCommandTest.Database db = new ManageCommandTest.Database()) {
      db.sql("CREATE TABLE public.readings (device_id bigint NOT NULL, recorded_at timestamptz NOT NULL)"
              + " PARTITION BY RANGE (recorded_at)",
          "CREATE INDEX readings_recorded_at_idx ON public.readings (recorded_at)",
          "CREATE TABLE public.readings_default PARTITION OF public.readings DEFAULT");
      PlannerConfig planner = PlannerConfig.defaults(Map.of())
          .withIngestionTopic("rs-" + run + ".ingestion").withPoliciesTopic("rs-" + run + ".policies");

      ManageCommandTest.Run managed = ManageCommandTest.run(new ManageCommand(), "--db-url", db.url(),
          "--table", "public.readings", "--strategy", "range", "--column", "recorded_at", "--interval", "day",
          "--buffer-days", "7", "--bootstrap-servers", kafka.bootstrapServers(), "--schema-registry-url", TestSerdes.url(),
          "--policies-topic", planner.policiesTopic());
      assertThat(managed.exit()).as(managed.err()).isZero();

      Properties admin = new Properties();
      admin.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
      try (Admin a = Admin.create(admin)) {
        DemandTopology.ensureTopics(a, planner, 3, (short) 1);
      }
      Path state = Files.createTempDirectory("rotate-surge");
      String jdbc = db.url().substring(0, db.url().indexOf('?'));
      try (Pipeline pipeline = Pipeline.start(kafka.bootstrapServers(), TestSerdes.get(),
          new Pipeline.Database(jdbc, db.server.user(), db.server.password()), planner, "rs-demand-" + run, "rs-" + run,
          state)) {
        pipeline.awaitReady(Duration.ofSeconds(60));
        Instant now = Instant.now();
        Instant today = Interval.DAY.floor(now, ZoneOffset.UTC);

        send(kafka, planner, now);
        List<String> week = days(today, Planner.bufferEnd(now, DAILY, 7));
        await().atMost(Duration.ofSeconds(60)).until(() -> partitions(db).containsAll(week));

        Instant surge = now.plus(Duration.ofDays(20)).truncatedTo(ChronoUnit.MICROS);
        send(kafka, planner, surge);
        List<String> toSurge = days(today, Interval.DAY.next(Interval.DAY.floor(surge, ZoneOffset.UTC), ZoneOffset.UTC));
        await().atMost(Duration.ofSeconds(60)).until(() -> partitions(db).containsAll(toSurge));
        // the surge's first row, written only now that its event went through the pipeline
        assertThat(insert(db, surge)).isEqualTo("public." + Planner.partitionName(DAILY, Interval.DAY.floor(surge, ZoneOffset.UTC)));
      }

      // a table's own buffer wins over rotate's --buffer-days: deepen it to 30 days, then rotate
      ManageCommandTest.Run deeper = ManageCommandTest.run(new ManageCommand(), "--db-url", db.url(),
          "--table", "public.readings", "--strategy", "range", "--column", "recorded_at", "--interval", "day",
          "--buffer-days", "30");
      assertThat(deeper.exit()).as(deeper.err()).isZero();
      ManageCommandTest.Run rotated = ManageCommandTest.run(new RotateCommand(), "--db-url", db.url(), "--buffer-days", "14",
          "--bootstrap-servers", kafka.bootstrapServers(), "--schema-registry-url", TestSerdes.url(), "--output", "json");
      assertThat(rotated.exit()).as(rotated.out() + rotated.err()).isZero();
      JsonNode table = new ObjectMapper().readTree(rotated.out()).get("tables").get(0);
      assertThat(table.get("verdict").asText()).isEqualTo("PROVISIONED");
      Instant now = Instant.now();
      assertThat(partitions(db)).containsAll(days(Interval.DAY.floor(now, ZoneOffset.UTC), Planner.bufferEnd(now, DAILY, 30)));
      assertThat(table.get("runwayDays").asDouble()).isGreaterThanOrEqualTo(30.0);

      List<CommandLogEntry> log = commandLog(kafka, "*/public.readings");
      List<ProvisionPartitions> byRotate = log.stream().filter(e -> e.getEntry() instanceof ProvisionPartitions p
          && p.getHeader().getIssuedBy().equals("rotate")).map(e -> (ProvisionPartitions) e.getEntry()).toList();
      assertThat(byRotate).hasSize(1);
      String key = byRotate.get(0).getHeader().getIdempotencyKey();
      assertThat(log).anySatisfy(e -> assertThat(e.getEntry()).isInstanceOfSatisfying(Provisioned.class,
          o -> assertThat(o.getIdempotencyKey()).isEqualTo(key)));
      try (Connection c = db.connect(); PreparedStatement ps = c.prepareStatement(
          "SELECT count(*) FROM partwright.provisioning_log WHERE idempotency_key = ? AND action = 'created'")) {
        ps.setString(1, key);
        try (ResultSet rs = ps.executeQuery()) {
          rs.next();
          assertThat(rs.getInt(1)).as("rotation's DDL in the audit trail").isEqualTo(table.get("created").size());
        }
      }
    }
  }

  private static void send(KafkaEndpoint kafka, PlannerConfig planner, Instant at) {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    var serde = TestSerdes.get().serde(IngestionEvent.class);
    try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer())) {
      IngestionEvent e = IngestionEvent.newBuilder().setTenant("acme").setSchemaName("public").setTable("readings")
          .setEventTime(at.truncatedTo(ChronoUnit.MICROS)).build();
      producer.send(new ProducerRecord<>(planner.ingestionTopic(), "acme", serde.encode(planner.ingestionTopic(), e)));
    }
  }

  private static List<String> days(Instant from, Instant to) {
    List<String> names = new ArrayList<>();
    for (Instant d = from; d.isBefore(to); d = Interval.DAY.next(d, ZoneOffset.UTC)) {
      names.add(Planner.partitionName(DAILY, d));
    }
    return names;
  }

  private static List<String> partitions(ManageCommandTest.Database db) throws Exception {
    List<String> names = new ArrayList<>();
    try (Connection c = db.connect(); Statement s = c.createStatement();
         ResultSet rs = s.executeQuery("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
             + " WHERE i.inhparent = 'public.readings'::regclass")) {
      while (rs.next()) {
        names.add(rs.getString(1));
      }
    }
    return names;
  }

  private static String insert(ManageCommandTest.Database db, Instant at) throws Exception {
    try (Connection c = db.connect(); PreparedStatement ps = c.prepareStatement("""
        WITH ins AS (INSERT INTO public.readings VALUES (1, ?) RETURNING tableoid)
        SELECT n.nspname || '.' || cl.relname FROM ins JOIN pg_class cl ON cl.oid = ins.tableoid
          JOIN pg_namespace n ON n.oid = cl.relnamespace""")) {
      ps.setObject(1, at.atOffset(ZoneOffset.UTC));
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getString(1);
      }
    }
  }

  private static List<CommandLogEntry> commandLog(KafkaEndpoint kafka, String aggregate) {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    p.put(ConsumerConfig.GROUP_ID_CONFIG, "rs-log-" + UUID.randomUUID());
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    var serde = TestSerdes.get().serde(CommandLogEntry.class);
    List<CommandLogEntry> out = new ArrayList<>();
    try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer())) {
      consumer.subscribe(List.of(Topics.COMMANDS));
      await().atMost(Duration.ofSeconds(30)).until(() -> {
        for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(300))) {
          if (aggregate.equals(r.key())) {
            out.add(serde.decode(r.topic(), r.value()));
          }
        }
        return out.stream().anyMatch(e -> e.getEntry() instanceof Provisioned o && out.stream().anyMatch(c ->
            c.getEntry() instanceof ProvisionPartitions cmd && cmd.getHeader().getIssuedBy().equals("rotate")
                && cmd.getHeader().getIdempotencyKey().equals(o.getIdempotencyKey())));
      });
    }
    return out;
  }
}
