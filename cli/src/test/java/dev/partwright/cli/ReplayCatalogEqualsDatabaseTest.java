package dev.partwright.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.zaxxer.hikari.HikariDataSource;
import dev.partwright.commandstore.Appended;
import dev.partwright.commandstore.CatalogReplay;
import dev.partwright.commandstore.CommandStore;
import dev.partwright.commandstore.CommandStoreConfig;
import dev.partwright.commandstore.CommandTopics;
import dev.partwright.commandstore.PartitionCatalog;
import dev.partwright.commandstore.SnapshotWriter;
import dev.partwright.commandstore.VersionConflictException;
import dev.partwright.connectors.ProvisioningWorker;
import dev.partwright.connectors.WorkerConfig;
import dev.partwright.connectors.WorkerDataSource;
import dev.partwright.connectors.postgres.PartitionProvisioner;
import dev.partwright.embedded.KafkaEndpoint;
import dev.partwright.embedded.PostgresEndpoint;
import dev.partwright.embedded.Servers;
import dev.partwright.schemas.AggregateId;
import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.Bounds;
import dev.partwright.schemas.CommandHeader;
import dev.partwright.schemas.PartitionAdded;
import dev.partwright.schemas.PartitionRetired;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.RetirePartitions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * Invariant 3, catalog = database: commands go through the command store to the real provisioning
 * worker and the real PostgreSQL; {@code partwright replay --verify} then finds the catalog rebuilt
 * from the log equal to what {@code pg_inherits} reports, and lists every difference once the
 * database is changed behind the log's back. Also {@code --republish-boundaries} and the output.
 */
class ReplayCatalogEqualsDatabaseTest {

  private static final Instant DAY0 = Instant.parse("2026-05-01T00:00:00Z");
  private static final AggregateId EVENTS = new AggregateId("acme", "replay_it", "events");
  private static final AggregateId METRICS = AggregateId.shared("replay_it", "metrics");
  private static KafkaEndpoint kafka;
  private static PostgresEndpoint postgres;
  private static CommandStoreConfig store;
  private static HikariDataSource pool;
  private static ProvisioningWorker worker;
  private static String dbUrl;

  record Run(int exit, String out, String err) {}

  @BeforeAll
  static void provisionThroughTheRealPipeline() throws Exception {
    kafka = Servers.kafka();
    postgres = Servers.postgres();
    String prefix = "replay" + UUID.randomUUID().toString().substring(0, 8);
    store = new CommandStoreConfig(kafka.bootstrapServers(), "partwright.commands", "partwright.boundaries", 2, (short) 1, 1,
        TestSerdes.get()).withTopicPrefix(prefix);
    Properties admin = new Properties();
    admin.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    try (Admin a = Admin.create(admin)) {
      CommandTopics.ensure(a, store);
    }
    try (Connection c = postgres.dataSource().getConnection(); Statement s = c.createStatement()) {
      s.execute("CREATE SCHEMA replay_it");
      s.execute("CREATE TABLE replay_it.events (tenant text NOT NULL, ts timestamptz NOT NULL) PARTITION BY RANGE (ts)");
      s.execute("CREATE TABLE replay_it.events_default PARTITION OF replay_it.events DEFAULT");
      s.execute("CREATE TABLE replay_it.metrics (ts timestamptz NOT NULL, v double precision) PARTITION BY RANGE (ts)");
    }
    dbUrl = postgres.jdbcUrl() + (postgres.jdbcUrl().contains("?") ? "&" : "?") + "user=" + postgres.user()
        + (postgres.password() == null || postgres.password().isEmpty() ? "" : "&password=" + postgres.password());
    pool = WorkerDataSource.create(postgres.jdbcUrl(), postgres.user(), postgres.password(), 2);
    WorkerConfig config = new WorkerConfig(kafka.bootstrapServers(), store.commandsTopic(), store.boundariesTopic(),
        store.deadLetterTopic(), prefix + "-workers", prefix, PartitionProvisioner.Limits.defaults());
    worker = new ProvisioningWorker(config, TestSerdes.get(), new PartitionProvisioner(pool, config.limits(), config.workerId()),
        new SimpleMeterRegistry()).start();
    assertThat(worker.awaitAssignment(Duration.ofSeconds(60))).isTrue();

    try (CommandStore commands = new CommandStore(store)) {
      commands.append(EVENTS, 0, provision(EVENTS, "events-1", 0, 1, 2));
      commands.append(METRICS, 0, provision(METRICS, "metrics-1", 0, 1));
      // retention: the worker drops metrics_d0 and answers Retired; replay must drop it too
      commands.append(METRICS, -1, RetirePartitions.newBuilder()
          .setHeader(CommandHeader.newBuilder().setIdempotencyKey("metrics-retire-0").setAggregateId(METRICS.toString())
              .setExpectedVersion(-1).setIssuedAt(Instant.now()).setIssuedBy("replay-test").setReason("retention").build())
          .setPartitions(List.of("replay_it.metrics_d0")).build());
      // the same intent again is stored once; a stale decision is refused
      assertThat(commands.append(EVENTS, -1, provision(EVENTS, "events-1", 0, 1, 2)).duplicate()).isTrue();
      await().atMost(Duration.ofSeconds(60)).until(() -> commands.version(EVENTS) == 2);
      Appended second = commands.append(EVENTS, 2, provision(EVENTS, "events-2", 2, 3));
      assertThat(second.version()).isEqualTo(3);
      try {
        commands.append(EVENTS, 2, provision(EVENTS, "events-stale", 9));
        throw new AssertionError("a stale expected version was accepted");
      } catch (VersionConflictException expected) {
        // the catalog must not show partitions of a refused command, nor the database have them
      }
    }
    await().atMost(Duration.ofSeconds(60)).until(() -> {
      PartitionCatalog catalog = CatalogReplay.fromZero(store, CatalogReplay.Progress.NONE).catalog();
      return catalog.aggregates().size() == 2
          && catalog.aggregates().values().stream().allMatch(a -> a.pending().isEmpty());
    });
  }

  @AfterAll
  static void stop() throws Exception {
    if (worker != null) {
      worker.close();
    }
    if (pool != null) {
      pool.close();
    }
    try (Connection c = postgres.dataSource().getConnection(); Statement s = c.createStatement()) {
      s.execute("DROP SCHEMA IF EXISTS replay_it CASCADE");
    }
  }

  private static ProvisionPartitions provision(AggregateId a, String key, int... days) {
    List<PartitionSpec> specs = new ArrayList<>();
    for (int d : days) {
      Instant from = DAY0.plus(Duration.ofDays(d));
      specs.add(PartitionSpec.newBuilder().setParent(a.qualifiedTable()).setSchemaName(a.schema())
          .setName(a.table() + "_d" + d).setBound(Bounds.timeRange(from, from.plus(Duration.ofDays(1)))).build());
    }
    return ProvisionPartitions.newBuilder()
        .setHeader(CommandHeader.newBuilder().setIdempotencyKey(key).setAggregateId(a.toString()).setExpectedVersion(-1)
            .setIssuedAt(Instant.now()).setIssuedBy("replay-test").setReason("coverage for " + key).build())
        .setPartitions(specs).build();
  }

  static Run replay(String... args) {
    PrintStream originalOut = System.out;
    PrintStream originalErr = System.err;
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    try {
      System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
      System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
      int exit = new CommandLine(new ReplayCommand()).execute(args);
      return new Run(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    } finally {
      System.setOut(originalOut);
      System.setErr(originalErr);
    }
  }

  private static List<String> topics() {
    return List.of("--bootstrap-servers", kafka.bootstrapServers(), "--schema-registry-url", TestSerdes.url(), "--commands-topic", store.commandsTopic(),
        "--snapshots-topic", store.snapshotsTopic(), "--boundaries-topic", store.boundariesTopic());
  }

  private static String[] args(String... more) {
    List<String> all = new ArrayList<>(topics());
    all.addAll(List.of(more));
    return all.toArray(String[]::new);
  }

  @Test
  void theCatalogEqualsTheDatabaseAndEveryDifferenceIsListedOnceTheyDiverge() throws Exception {
    Run same = replay(args("--verify", "--db-url", dbUrl, "--output", "json", "--from", "zero"));

    assertThat(same.exit()).as("stdout:%n%s%nstderr:%n%s", same.out(), same.err()).isZero();
    JsonNode report = new ObjectMapper().readTree(same.out());
    assertThat(report.at("/verification/equal").asBoolean()).isTrue();
    // events_d0..d3 and metrics_d1: metrics_d0 was retired, in the database and in the catalog
    assertThat(report.at("/verification/partitionsCompared").asInt()).isEqualTo(5);
    PartitionCatalog.Aggregate metrics = CatalogReplay.fromZero(store, CatalogReplay.Progress.NONE).catalog()
        .aggregate(METRICS).orElseThrow();
    assertThat(metrics.partitions()).containsOnlyKeys("replay_it.metrics_d1");
    assertThat(metrics.history()).filteredOn(h -> h.getIdempotencyKey().equals("metrics-retire-0"))
        .extracting(h -> h.getKind() + " " + h.getVerdict() + " " + h.getPartitions())
        .containsExactly("RETIRE_PARTITIONS APPLIED [replay_it.metrics_d0]", "RETIRED APPLIED [replay_it.metrics_d0]");
    assertThat(report.at("/verification/unmanaged").toString()).contains("replay_it.events_default");

    // from here on replay starts from snapshots: they must verify the same way
    SnapshotWriter.write(store, CatalogReplay.fromZero(store, CatalogReplay.Progress.NONE).catalog());
    // behind the log's back: a partition disappears, another appears
    try (Connection c = postgres.dataSource().getConnection(); Statement s = c.createStatement()) {
      s.execute("ALTER TABLE replay_it.metrics DETACH PARTITION replay_it.metrics_d1");
      s.execute("CREATE TABLE replay_it.metrics_rogue PARTITION OF replay_it.metrics"
          + " FOR VALUES FROM ('2026-06-01 00:00:00+00') TO ('2026-06-02 00:00:00+00')");
    }
    try {
      Run diverged = replay(args("--verify", "--db-url", dbUrl, "--output", "json"));

      assertThat(diverged.exit()).as(diverged.err()).isEqualTo(1);
      assertThat(new ObjectMapper().readTree(diverged.out()).get("source").asText()).isEqualTo("snapshots + tail");
      JsonNode v = new ObjectMapper().readTree(diverged.out()).get("verification");
      assertThat(v.get("equal").asBoolean()).isFalse();
      List<String> differences = new ArrayList<>();
      v.get("differences").forEach(d -> differences.add(d.get("kind").asText() + " " + d.get("table").asText()));
      assertThat(differences).containsExactlyInAnyOrder(
          "MISSING_IN_DATABASE replay_it.metrics_d1", "NOT_IN_CATALOG replay_it.metrics_rogue");
    } finally {
      try (Connection c = postgres.dataSource().getConnection(); Statement s = c.createStatement()) {
        s.execute("DROP TABLE replay_it.metrics_rogue");
        s.execute("ALTER TABLE replay_it.metrics ATTACH PARTITION replay_it.metrics_d1"
            + " FOR VALUES FROM ('2026-05-02 00:00:00+00') TO ('2026-05-03 00:00:00+00')");
      }
    }
  }

  @Test
  void printsEachAggregateWithItsPartitionsAndHistory() {
    Run text = replay(args("--aggregate", EVENTS.toString()));

    assertThat(text.exit()).as(text.err()).isZero();
    assertThat(text.out())
        .contains("acme/replay_it.events  version 4")
        .contains("replay_it.events_d3  FROM (2026-05-04T00:00:00Z) TO (2026-05-05T00:00:00Z)  by events-2")
        .contains("PROVISION_PARTITIONS events-1 by replay-test: coverage for events-1")
        .contains("PROVISIONED events-2 by ")
        .doesNotContain("*/replay_it.metrics");
  }

  @Test
  void republishesEveryLivePartitionAsTheWorkerAnnouncedIt() throws Exception {
    List<Announcement> announced = announcements();

    Run run = replay(args("--republish-boundaries", "--db-url", dbUrl, "--output", "json", "--no-progress"));

    assertThat(run.exit()).as(run.err()).isZero();
    assertThat(new ObjectMapper().readTree(run.out()).get("boundariesRepublished").asInt()).isEqualTo(5);
    List<Announcement> republished = new ArrayList<>(announcements());
    announced.forEach(republished::remove);
    List<String> retired = announced.stream().filter(a -> a.what().startsWith("retired "))
        .map(a -> a.what().substring("retired ".length())).toList();
    assertThat(retired).containsExactly("replay_it.metrics_d0");
    // each live partition once, with the parent, key and bound the worker announced, retired ones not ...
    assertThat(republished).extracting(Announcement::what).containsExactlyInAnyOrderElementsOf(
        announced.stream().map(Announcement::what).filter(w -> !w.startsWith("retired ")
            && retired.stream().noneMatch(r -> w.startsWith(r + " of "))).distinct().toList());
    // ... and, per aggregate, a version no older than any the worker announced
    for (Announcement r : republished) {
      long newest = announced.stream().filter(a -> a.aggregate().equals(r.aggregate()))
          .mapToLong(Announcement::version).max().orElseThrow();
      assertThat(r.version()).as(r.what()).isEqualTo(newest);
    }
  }

  /** One PartitionAdded on the boundary topic: whose, which version, and what it says (record key included). */
  record Announcement(String aggregate, long version, String what) {}

  @Test
  void refusesBadArgumentsAndReportsAnUnreachableBroker() {
    assertThat(replay(args("--from", "yesterday")).exit()).isEqualTo(2);
    assertThat(replay(args("--aggregate", "no-slash")).exit()).isEqualTo(2);
    Run unreachable = replay("--bootstrap-servers", "127.0.0.1:1", "--schema-registry-url", TestSerdes.url());
    assertThat(unreachable.exit()).isEqualTo(3);
    assertThat(unreachable.err()).contains("127.0.0.1:1");
  }

  private static List<Announcement> announcements() {
    var serde = TestSerdes.get().serde(BoundaryChange.class);
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    List<Announcement> out = new ArrayList<>();
    try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer())) {
      var tps = c.partitionsFor(store.boundariesTopic(), Duration.ofSeconds(30)).stream()
          .map(i -> new org.apache.kafka.common.TopicPartition(i.topic(), i.partition())).toList();
      c.assign(tps);
      c.seekToBeginning(tps);
      var end = c.endOffsets(tps);
      while (tps.stream().anyMatch(tp -> c.position(tp) < end.get(tp))) {
        for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(200))) {
          BoundaryChange b = serde.decode(r.topic(), r.value());
          if (b.getChange() instanceof PartitionRetired gone) {
            out.add(new Announcement(b.getAggregateId(), b.getAggregateVersion(), "retired " + gone.getPartition()));
            continue;
          }
          PartitionAdded added = (PartitionAdded) b.getChange();
          out.add(new Announcement(b.getAggregateId(), b.getAggregateVersion(), added.getPartition() + " of "
              + added.getParent() + " " + added.getParentKey() + " " + added.getBound() + " key " + r.key()));
        }
      }
    }
    return out;
  }
}
