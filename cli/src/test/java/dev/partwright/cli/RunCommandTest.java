package dev.partwright.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.partwright.commandstore.CatalogReplay;
import dev.partwright.commandstore.CommandStore;
import dev.partwright.commandstore.CommandStoreConfig;
import dev.partwright.commandstore.PartitionCatalog;
import dev.partwright.embedded.EmbeddedRedis;
import dev.partwright.embedded.KafkaEndpoint;
import dev.partwright.embedded.PostgresEndpoint;
import dev.partwright.embedded.Servers;
import dev.partwright.schemas.AggregateId;
import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.Bounds;
import dev.partwright.schemas.CommandHeader;
import dev.partwright.schemas.CommandLogEntry;
import dev.partwright.schemas.IngestionEvent;
import dev.partwright.schemas.ManagedTablePolicy;
import dev.partwright.schemas.PartitionAdded;
import dev.partwright.schemas.PartitionKey;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.Provisioned;
import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.Strategy;
import dev.partwright.schemas.Topics;
import dev.partwright.streams.PlannerConfig;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KafkaStreams;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import redis.clients.jedis.RedisClient;

/**
 * The {@code partwright run} processes, each started in-process on a thread against the real
 * broker, PostgreSQL and Redis, doing its one job, and stopping cleanly (exit 0) when asked as
 * SIGTERM asks; plus the exit codes of bad arguments (2) and an unreachable server (3).
 */
class RunCommandTest {

  private static final Instant DAY0 = Instant.parse("2026-09-01T00:00:00Z");
  private static KafkaEndpoint kafka;
  private static PostgresEndpoint postgres;
  private static String dbUrl;

  /** One {@code run} subcommand running on its own thread. */
  record Started<T extends LongRunningCommand>(T command, CompletableFuture<Integer> exit, ByteArrayOutputStream err) {
    int stop() throws Exception {
      command.stop();
      return exit.get(60, TimeUnit.SECONDS);
    }
  }

  @BeforeAll
  static void servers() throws Exception {
    kafka = Servers.kafka();
    postgres = Servers.postgres();
    dbUrl = postgres.jdbcUrl() + (postgres.jdbcUrl().contains("?") ? "&" : "?") + "user=" + postgres.user()
        + (postgres.password() == null || postgres.password().isEmpty() ? "" : "&password=" + postgres.password());
    try (Connection c = postgres.dataSource().getConnection(); Statement s = c.createStatement()) {
      s.execute("CREATE SCHEMA run_it");
      s.execute("CREATE TABLE run_it.events (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts)");
    }
  }

  @AfterAll
  static void dropSchema() throws Exception {
    try (Connection c = postgres.dataSource().getConnection(); Statement s = c.createStatement()) {
      s.execute("DROP SCHEMA IF EXISTS run_it CASCADE");
    }
  }

  private static <T extends LongRunningCommand> Started<T> start(T command, String... args) {
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    CommandLine cli = new CommandLine(command);
    cli.setErr(new PrintWriter(err, true, StandardCharsets.UTF_8));
    String[] all = java.util.stream.Stream.concat(java.util.Arrays.stream(args),
        java.util.stream.Stream.of("--schema-registry-url", TestSerdes.url())).toArray(String[]::new);
    CompletableFuture<Integer> exit = new CompletableFuture<>();
    Thread t = new Thread(() -> {
      try {
        exit.complete(cli.execute(all));
      } catch (Throwable e) {
        exit.completeExceptionally(e);
      }
    }, "run-" + command.component());
    t.setDaemon(true);
    t.start();
    return new Started<>(command, exit, err);
  }

  private static String prefix() {
    return "run" + UUID.randomUUID().toString().substring(0, 8);
  }

  private static CommandStoreConfig store(String prefix) {
    return CommandStoreConfig.singleBroker(kafka.bootstrapServers(), TestSerdes.get()).withTopicPrefix(prefix);
  }

  private static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  private static HttpResponse<String> get(int port, String path) throws Exception {
    return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private static ProvisionPartitions day(String aggregate, String parent, String key, int d) {
    String schema = parent.substring(0, parent.indexOf('.'));
    String table = parent.substring(parent.indexOf('.') + 1);
    Instant from = DAY0.plus(Duration.ofDays(d));
    return ProvisionPartitions.newBuilder()
        .setHeader(CommandHeader.newBuilder().setIdempotencyKey(key).setAggregateId(aggregate).setExpectedVersion(-1)
            .setIssuedAt(Instant.now()).setIssuedBy("run-test").setReason("test").build())
        .setPartitions(List.of(PartitionSpec.newBuilder().setParent(parent).setSchemaName(schema)
            .setName(table + "_d" + d).setBound(Bounds.timeRange(from, from.plus(Duration.ofDays(1)))).build()))
        .build();
  }

  @Test
  void theWorkerAppliesACommandOfTheLogServesMetricsAndStopsCleanly() throws Exception {
    String prefix = prefix();
    int port = freePort();
    AggregateId events = AggregateId.shared("run_it", "events");
    Started<RunWorkerCommand> worker = start(new RunWorkerCommand(), "--bootstrap-servers", kafka.bootstrapServers(),
        "--db-url", dbUrl, "--worker-id", prefix, "--group-id", prefix + "-workers", "--topic-prefix", prefix,
        "--metrics-port", Integer.toString(port), "--monitor-interval", "1s");
    assertThat(worker.command().awaitAssignment(Duration.ofSeconds(90))).as(worker.err().toString()).isTrue();

    try (CommandStore log = new CommandStore(store(prefix))) {
      log.append(events, 0, day(events.toString(), "run_it.events", "run-worker-1", 0));
    }

    await().atMost(Duration.ofSeconds(60)).until(() -> {
      PartitionCatalog catalog = CatalogReplay.fromZero(store(prefix), CatalogReplay.Progress.NONE).catalog();
      return catalog.aggregate(events).map(a -> a.pending().isEmpty() && a.partitions().containsKey("run_it.events_d0"))
          .orElse(false);
    });
    try (Connection c = postgres.dataSource().getConnection(); Statement s = c.createStatement();
         var rs = s.executeQuery("SELECT count(*) FROM pg_inherits WHERE inhparent = 'run_it.events'::regclass")) {
      rs.next();
      assertThat(rs.getInt(1)).isEqualTo(1);
    }
    HttpResponse<String> metrics = get(port, "/metrics");
    assertThat(metrics.statusCode()).isEqualTo(200);
    assertThat(metrics.body()).contains("partwright_worker_outcomes_total{component=\"worker\",type=\"Provisioned\"} 1.0");
    assertThat(get(port, "/healthz").statusCode()).isEqualTo(200);
    // every metric the worker's alert rules watch is one this worker exports: the database gauges
    // per managed table from the monitor's next refresh (--monitor-interval) on
    List<String> alerted = alertRuleMetrics("partwright.worker");
    assertThat(alerted).as("metrics of the partwright.worker alert rules").hasSizeGreaterThanOrEqualTo(5);
    await().atMost(Duration.ofSeconds(45)).untilAsserted(() -> {
      String body = get(port, "/metrics").body();
      assertThat(alerted).allSatisfy(name -> assertThat(body).as(name).contains(name + "{"));
    });

    assertThat(worker.stop()).as(worker.err().toString()).isZero();
    // the endpoint went with it
    assertThat(worker.command().metricsEndpointPort()).isEqualTo(port);
    try {
      get(port, "/healthz");
      throw new AssertionError("the metrics endpoint still answers after the worker stopped");
    } catch (IOException expected) {
      // connection refused
    }
  }

  @Test
  void snapshotsAreWrittenPeriodicallyAndReplayFromThemPlusTheTailEqualsAFullReplay() throws Exception {
    String prefix = prefix();
    CommandStoreConfig store = store(prefix);
    Started<RunSnapshotsCommand> snapshots = start(new RunSnapshotsCommand(), "--bootstrap-servers",
        kafka.bootstrapServers(), "--topic-prefix", prefix, "--snapshot-interval", "1s", "--instance-id", prefix,
        "--metrics-port", "0");
    await().atMost(Duration.ofSeconds(60)).until(() -> snapshots.command().writer() != null);
    assertThat(snapshots.command().writer().awaitCaughtUp(Duration.ofSeconds(60))).isTrue();

    AggregateId a = AggregateId.shared("run_it", "snap");
    try (CommandStore log = new CommandStore(store)) {
      for (int d = 0; d < 3; d++) {
        ProvisionPartitions c = day(a.toString(), "run_it.snap", "snap-" + d, d);
        log.append(a, -1, c);
        log.append(answer(a, c));
      }
      // a snapshot covering all six records: replay from snapshots then reads no tail at all
      await().atMost(Duration.ofSeconds(60)).until(() ->
          CatalogReplay.fromSnapshots(store, CatalogReplay.Progress.NONE).recordsRead() == 0);
      assertThat(snapshots.command().writer().snapshotsWritten()).isPositive();
      assertThat(snapshots.stop()).as(snapshots.err().toString()).isZero();
      // the tail: records no snapshot covers
      ProvisionPartitions tail = day(a.toString(), "run_it.snap", "snap-3", 3);
      log.append(a, -1, tail);
      log.append(answer(a, tail));
    }

    CatalogReplay.Result fromSnapshots = CatalogReplay.fromSnapshots(store, CatalogReplay.Progress.NONE);
    CatalogReplay.Result fromZero = CatalogReplay.fromZero(store, CatalogReplay.Progress.NONE);
    assertThat(fromSnapshots.snapshotOffsets()).isNotEmpty();
    assertThat(fromSnapshots.recordsRead()).isEqualTo(2); // the tail only
    assertThat(fromSnapshots.catalog().canonicalBytes()).isEqualTo(fromZero.catalog().canonicalBytes());
    assertThat(fromZero.catalog().aggregate(a).orElseThrow().partitions()).hasSize(4);
  }

  private static CommandLogEntry answer(AggregateId a, ProvisionPartitions c) {
    return CommandLogEntry.newBuilder().setAggregateId(a.toString()).setRecordedAt(Instant.now().truncatedTo(ChronoUnit.MICROS))
        .setEntry(Provisioned.newBuilder().setIdempotencyKey(c.getHeader().getIdempotencyKey())
            .setCreated(c.getPartitions()).setAlreadyPresent(List.of()).setWorker("run-test").setDurationMicros(1).build())
        .build();
  }

  @Test
  void theTopologyTurnsAnIngestionEventIntoACommand() throws Exception {
    String prefix = prefix();
    CommandStoreConfig store = store(prefix);
    Started<RunTopologyCommand> topology = start(new RunTopologyCommand(), "--bootstrap-servers",
        kafka.bootstrapServers(), "--topic-prefix", prefix, "--application-id", prefix + "-demand",
        "--state-dir", Files.createTempDirectory("run-topology").toString(), "--metrics-port", "0");
    await().atMost(Duration.ofSeconds(90)).until(() -> topology.exit().isDone() || topology.command().streams() != null
        && topology.command().streams().state() == KafkaStreams.State.RUNNING);
    assertThat(topology.exit()).as(topology.err().toString()).isNotDone();

    String policies = prefix + "." + PlannerConfig.DEFAULT_POLICIES_TOPIC;
    String ingestion = prefix + "." + Topics.INGESTION;
    Instant now = Instant.now().truncatedTo(ChronoUnit.MICROS);
    try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(Map.of(
        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(), ProducerConfig.ACKS_CONFIG, "all"),
        new StringSerializer(), new ByteArraySerializer())) {
      ManagedTablePolicy policy = ManagedTablePolicy.newBuilder().setSchemaName("run_it").setTable("orders")
          .setStrategy("range").setColumn("created_at").setInterval("day").setBufferDays(3).setRegisteredAt(now).build();
      producer.send(new ProducerRecord<>(policies, "run_it.orders",
          TestSerdes.get().serde(ManagedTablePolicy.class).encode(policies, policy))).get();
      byte[] event = TestSerdes.get().serde(IngestionEvent.class).encode(ingestion, IngestionEvent.newBuilder().setTenant("acme")
          .setSchemaName("run_it").setTable("orders").setEventTime(now).build());
      // until the topology has learned the policy, an event for the table is dead-lettered: send until one is planned
      await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofSeconds(1)).until(() -> {
        producer.send(new ProducerRecord<>(ingestion, "acme", event)).get();
        PartitionCatalog catalog = CatalogReplay.fromZero(store, CatalogReplay.Progress.NONE).catalog();
        return catalog.aggregates().values().stream().anyMatch(a -> a.id().endsWith("run_it.orders")
            && !a.pending().isEmpty());
      });
    }
    assertThat(topology.stop()).as(topology.err().toString()).isZero();
    assertThat(topology.command().streams().state()).isEqualTo(KafkaStreams.State.NOT_RUNNING);
  }

  @Test
  void theRegistrySinkWritesABoundaryIntoRedis() throws Exception {
    String prefix = prefix();
    String boundaries = prefix + "." + Topics.BOUNDARIES;
    try (EmbeddedRedis server = EmbeddedRedis.start();
         RedisClient redis = RedisClient.create(server.host(), server.port())) {
      Started<RunRegistrySinkCommand> sink = start(new RunRegistrySinkCommand(), "--bootstrap-servers",
          kafka.bootstrapServers(), "--topic-prefix", prefix, "--redis-url", server.uri(), "--key-prefix", prefix,
          "--group-id", prefix + "-registry", "--metrics-port", "0");
      await().atMost(Duration.ofSeconds(60)).until(() -> sink.command().sink() != null || sink.exit().isDone());
      assertThat(sink.exit()).as(sink.err().toString()).isNotDone();

      BoundaryChange change = BoundaryChange.newBuilder().setAggregateId("*/run_it.events").setAggregateVersion(1)
          .setRootTable("run_it.events").setChangedAt(Instant.now().truncatedTo(ChronoUnit.MICROS))
          .setChange(PartitionAdded.newBuilder().setPartition("run_it.events_d0").setParent("run_it.events")
              .setParentKey(new PartitionKey(Strategy.RANGE, List.of("ts"), List.of("timestamp with time zone")))
              .setBound(Bounds.timeRange(DAY0, DAY0.plus(Duration.ofDays(1)))).setSubpartitionBy(null).build())
          .build();
      try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(Map.of(
          ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()), new StringSerializer(), new ByteArraySerializer())) {
        producer.send(new ProducerRecord<>(boundaries, "run_it.events",
            TestSerdes.get().serde(BoundaryChange.class).encode(boundaries, change))).get();
      }

      String key = dev.partwright.connectors.registry.RedisRegistry.partitionsKey(prefix, "run_it.events");
      await().atMost(Duration.ofSeconds(60)).until(() -> redis.hexists(key, "run_it.events_d0"));
      assertThat(sink.stop()).as(sink.err().toString()).isZero();
    }
  }

  @Test
  void badArgumentsExitTwoAnUnreachableServerThreeAndHelpNamesTheOptions() throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    CommandLine cli = Partwright.commandLine();
    cli.setOut(new PrintWriter(out, true, StandardCharsets.UTF_8));
    cli.setErr(new PrintWriter(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
    assertThat(cli.execute("run", "worker", "--help")).isZero();
    assertThat(out.toString(StandardCharsets.UTF_8)).contains("--db-url", "--bootstrap-servers", "--worker-id",
        "--metrics-port", "DB_URL", "PARTWRIGHT_KAFKA_BOOTSTRAP");

    List<Integer> exits = new ArrayList<>();
    for (String[] args : List.of(
        new String[] {"run"},
        new String[] {"run", "snapshots", "--bootstrap-servers", kafka.bootstrapServers(), "--snapshot-interval", "soon"},
        new String[] {"run", "worker", "--bootstrap-servers", kafka.bootstrapServers(), "--db-url", dbUrl,
            "--worker-id", "no spaces please", "--metrics-port", "0"})) {
      CommandLine c = Partwright.commandLine();
      c.setErr(new PrintWriter(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
      exits.add(c.execute(args));
    }
    assertThat(exits).containsOnly(ExitCodes.ERROR);

    ByteArrayOutputStream err = new ByteArrayOutputStream();
    CommandLine unreachable = Partwright.commandLine();
    unreachable.setErr(new PrintWriter(err, true, StandardCharsets.UTF_8));
    assertThat(unreachable.execute("run", "snapshots", "--bootstrap-servers", "127.0.0.1:1", "--startup-timeout", "1s",
        "--metrics-port", "0", "--schema-registry-url", TestSerdes.url())).isEqualTo(ExitCodes.UNAVAILABLE);
    assertThat(err.toString(StandardCharsets.UTF_8)).contains("127.0.0.1:1");
  }

  /** The partwright_ metric names the expressions of one group of deploy/prometheus/partwright-rules.yaml use. */
  private static List<String> alertRuleMetrics(String group) throws IOException {
    List<String> lines = Files.readAllLines(Path.of("..", "deploy", "prometheus", "partwright-rules.yaml"),
        StandardCharsets.UTF_8);
    List<String> names = new ArrayList<>();
    boolean inGroup = false;
    Pattern metric = Pattern.compile("partwright_[a-z_]+");
    for (String line : lines) {
      if (line.trim().startsWith("- name: ")) {
        inGroup = line.trim().equals("- name: " + group);
      } else if (inGroup && line.trim().startsWith("expr:")) {
        Matcher m = metric.matcher(line);
        while (m.find()) {
          if (!names.contains(m.group())) {
            names.add(m.group());
          }
        }
      }
    }
    return names;
  }
}
