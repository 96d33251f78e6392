package dev.partwright.connectors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariDataSource;
import dev.partwright.commandstore.CommandStore;
import dev.partwright.commandstore.CommandStoreConfig;
import dev.partwright.commandstore.CommandTopics;
import dev.partwright.connectors.postgres.PartitionProvisioner;
import dev.partwright.embedded.KafkaEndpoint;
import dev.partwright.embedded.PostgresEndpoint;
import dev.partwright.embedded.Servers;
import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.Bounds;
import dev.partwright.schemas.CommandHeader;
import dev.partwright.schemas.CommandLogEntry;
import dev.partwright.schemas.RegistryAvroSerde;
import dev.partwright.schemas.PartitionAdded;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.Provisioned;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
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

/**
 * Invariant 2 on the real broker and database: a command appended N times has the effect of one
 * (the fold makes the copies duplicates, which the worker skips), and a provisioner applying a
 * command again changes nothing.
 */
class IdempotencyTest {

  private static final Instant DAY0 = Instant.parse("2026-03-01T00:00:00Z");
  private static KafkaEndpoint kafka;
  private static PostgresEndpoint postgres;
  private static String suffix;
  private static CommandStoreConfig store;
  private static HikariDataSource pool;
  private static ProvisioningWorker worker;

  @BeforeAll
  static void startWorker() throws Exception {
    kafka = Servers.kafka();
    postgres = Servers.postgres();
    suffix = UUID.randomUUID().toString().substring(0, 8);
    // topics of this test class only, so other classes sharing the broker do not interfere
    store = new CommandStoreConfig(kafka.bootstrapServers(), "idem.commands." + suffix, "idem.boundaries." + suffix,
        2, (short) 1, 1, WorkerFixture.serdes());
    Properties admin = new Properties();
    admin.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    try (Admin a = Admin.create(admin)) {
      CommandTopics.ensure(a, store);
    }
    try (Connection c = postgres.dataSource().getConnection(); Statement s = c.createStatement()) {
      s.execute("CREATE SCHEMA IF NOT EXISTS idem");
      s.execute("CREATE TABLE idem.metrics (tenant_id text NOT NULL, ts timestamptz NOT NULL, v double precision)"
          + " PARTITION BY RANGE (ts)");
      s.execute("CREATE INDEX metrics_ts_idx ON idem.metrics (ts)");
      s.execute("CREATE INDEX metrics_tenant_ts_idx ON idem.metrics (tenant_id, ts)");
      s.execute("CREATE TABLE idem.direct (ts timestamptz NOT NULL) PARTITION BY RANGE (ts)");
    }
    pool = WorkerDataSource.create(postgres.jdbcUrl(), postgres.user(), postgres.password(), 2);
    WorkerConfig config = new WorkerConfig(kafka.bootstrapServers(), store.commandsTopic(), store.boundariesTopic(),
        "idem.dlq." + suffix, "idem-worker-" + suffix, "idem-" + suffix, PartitionProvisioner.Limits.defaults());
    worker = new ProvisioningWorker(config, WorkerFixture.serdes(), new PartitionProvisioner(pool, config.limits(), config.workerId()),
        new SimpleMeterRegistry()).start();
    assertThat(worker.awaitAssignment(Duration.ofSeconds(60))).isTrue();
  }

  @AfterAll
  static void stop() throws SQLException {
    if (worker != null) {
      worker.close();
    }
    if (pool != null) {
      pool.close();
    }
    try (Connection c = postgres.dataSource().getConnection(); Statement s = c.createStatement()) {
      s.execute("DROP SCHEMA IF EXISTS idem CASCADE");
    }
  }

  private static ProvisionPartitions threeDays(String table) {
    List<PartitionSpec> specs = new ArrayList<>();
    for (int d = 0; d < 3; d++) {
      Instant from = DAY0.plus(Duration.ofDays(d));
      specs.add(PartitionSpec.newBuilder()
          .setParent("idem." + table).setSchemaName("idem").setName(table + "_p2026030" + (d + 1))
          .setBound(Bounds.timeRange(from, from.plus(Duration.ofDays(1)))).build());
    }
    return ProvisionPartitions.newBuilder()
        .setHeader(CommandHeader.newBuilder()
            .setIdempotencyKey("idem-key-" + table).setAggregateId("*/idem." + table).setExpectedVersion(-1)
            .setIssuedAt(Instant.now()).setIssuedBy("test").setReason("idempotency").build())
        .setPartitions(specs)
        .build();
  }

  @Test
  void sameCommandAppendedThreeTimesIsExecutedAndAnsweredOnce() throws Exception {
    ProvisionPartitions command = threeDays("metrics");
    // another key for the same partitions, after the copies: once it is answered, the copies were all read
    ProvisionPartitions later = ProvisionPartitions.newBuilder(command)
        .setHeader(CommandHeader.newBuilder(command.getHeader()).setIdempotencyKey("idem-key-metrics-later").build())
        .build();
    try (CommandStore commands = new CommandStore(store)) {
      for (Object c : List.of(command, command, command, later)) {
        commands.append(CommandLogEntry.newBuilder()
            .setAggregateId("*/idem.metrics").setRecordedAt(Instant.now()).setEntry(c).build());
      }
    }

    List<Provisioned> outcomes = new ArrayList<>();
    List<BoundaryChange> boundaries = new ArrayList<>();
    RegistryAvroSerde<CommandLogEntry> log = WorkerFixture.serdes().serde(CommandLogEntry.class);
    RegistryAvroSerde<BoundaryChange> changes = WorkerFixture.serdes().serde(BoundaryChange.class);
    try (KafkaConsumer<String, byte[]> consumer = committedReader()) {
      consumer.subscribe(List.of(store.commandsTopic(), store.boundariesTopic()));
      await().atMost(Duration.ofSeconds(60)).until(() -> {
        for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
          if (r.topic().equals(store.commandsTopic())) {
            if (log.decode(r.topic(), r.value()).getEntry() instanceof Provisioned p) {
              outcomes.add(p);
            }
          } else {
            boundaries.add(changes.decode(r.topic(), r.value()));
          }
        }
        return outcomes.stream().anyMatch(o -> o.getIdempotencyKey().equals("idem-key-metrics-later"));
      });
    }

    // the copies are duplicates in the log: the worker executes the first and skips the others
    assertThat(outcomes).extracting(Provisioned::getIdempotencyKey)
        .containsExactly("idem-key-metrics", "idem-key-metrics-later");
    assertThat(outcomes.get(0).getCreated()).hasSize(3);
    assertThat(outcomes.get(0).getAlreadyPresent()).isEmpty();
    assertThat(outcomes.get(1).getCreated()).isEmpty();
    assertThat(outcomes.get(1).getAlreadyPresent()).hasSize(3);
    assertThat(partitionsOf("idem.metrics")).containsExactly(
        "metrics_p20260301 FOR VALUES FROM ('2026-03-01 00:00:00+00') TO ('2026-03-02 00:00:00+00')",
        "metrics_p20260302 FOR VALUES FROM ('2026-03-02 00:00:00+00') TO ('2026-03-03 00:00:00+00')",
        "metrics_p20260303 FOR VALUES FROM ('2026-03-03 00:00:00+00') TO ('2026-03-04 00:00:00+00')");
    assertThat(tablesNamed("metrics_p%")).isEqualTo(3);
    assertThat(auditRows()).isEqualTo(3);
    // each execution announces the same three partitions; routers treat them as one
    assertThat(boundaries).extracting(b -> ((PartitionAdded) b.getChange()).getPartition()).containsOnly(
        "idem.metrics_p20260301", "idem.metrics_p20260302", "idem.metrics_p20260303");
  }

  @Test
  void provisionerAppliedDirectlyAgainIsANoOp() throws Exception {
    PartitionProvisioner provisioner = new PartitionProvisioner(pool, PartitionProvisioner.Limits.defaults(), "direct");
    ProvisionPartitions command = threeDays("direct");
    provisioner.provision(command);
    int tables = tablesNamed("direct_p%");

    PartitionProvisioner.Result again = provisioner.provision(command);

    assertThat(again.created()).isEmpty();
    assertThat(again.alreadyPresent()).hasSize(3);
    assertThat(tables).isEqualTo(3);
    assertThat(tablesNamed("direct_p%")).isEqualTo(tables);
  }

  private static KafkaConsumer<String, byte[]> committedReader() {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    p.put(ConsumerConfig.GROUP_ID_CONFIG, "idem-reader-" + UUID.randomUUID());
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    return new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
  }

  private static List<String> partitionsOf(String parent) throws SQLException {
    List<String> out = new ArrayList<>();
    try (Connection c = pool.getConnection(); Statement s = c.createStatement();
         ResultSet rs = s.executeQuery("SELECT c.relname || ' ' || pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
             + " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = '" + parent + "'::regclass ORDER BY 1")) {
      while (rs.next()) {
        out.add(rs.getString(1));
      }
    }
    return out;
  }

  private static int tablesNamed(String pattern) throws SQLException {
    try (Connection c = pool.getConnection(); Statement s = c.createStatement();
         ResultSet rs = s.executeQuery("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
             + " WHERE n.nspname = 'idem' AND c.relkind = 'r' AND c.relname LIKE '" + pattern + "'")) {
      rs.next();
      return rs.getInt(1);
    }
  }

  private static int auditRows() throws SQLException {
    try (Connection c = pool.getConnection(); Statement s = c.createStatement();
         ResultSet rs = s.executeQuery("SELECT count(*) FROM partwright.provisioning_log WHERE parent = 'idem.metrics'")) {
      rs.next();
      return rs.getInt(1);
    }
  }
}
