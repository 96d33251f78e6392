package dev.partwright.connectors;

import static dev.partwright.connectors.Commands.provision;
import static dev.partwright.connectors.Commands.spec;
import static dev.partwright.connectors.Commands.time;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.zaxxer.hikari.HikariDataSource;
import dev.partwright.connectors.postgres.PartitionProvisioner;
import dev.partwright.embedded.EmbeddedPostgres;
import dev.partwright.embedded.EmbeddedStandby;
import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.Provisioned;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.sql.DataSource;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The circuit breaker against the real thing: a streaming standby replaying 3 s late
 * ({@code recovery_min_apply_delay}) makes the primary report real {@code replay_lag}; while it is
 * above the limit the breaker opens and the command waits — not executed, not answered, its offset
 * not committed — and once the standby has caught up the breaker probes, admits the command and
 * closes. The same for lock requests queued on the managed table.
 */
class CircuitBreakerTest {

  private static final Instant DAY0 = Instant.parse("2027-02-01T00:00:00Z");
  private static final Duration APPLY_DELAY = Duration.ofSeconds(3);

  private static ProvisionPartitions day(String parent, String schema, String name) {
    return provision("*/" + parent, spec(parent, schema, name, time(DAY0, DAY0.plus(Duration.ofDays(1)))));
  }

  @Test
  void opensWhileAStandbyLagsAndClosesAfterItCaughtUp(@TempDir Path dir) throws Exception {
    try (EmbeddedPostgres primary = EmbeddedPostgres.start(dir.resolve("primary"), Map.of());
         EmbeddedStandby standby = EmbeddedStandby.start(primary, dir.resolve("standby"), APPLY_DELAY);
         HikariDataSource pool = WorkerDataSource.create(primary.jdbcUrl(), primary.user(), primary.password(), 4);
         WorkerFixture kafka = new WorkerFixture("breaker")) {
      assertThat(standby.awaitStreaming(Duration.ofSeconds(30))).isTrue();
      exec(pool, "CREATE SCHEMA app", "CREATE TABLE app.events (ts timestamptz NOT NULL) PARTITION BY RANGE (ts)",
          "CREATE TABLE app.heartbeat (at timestamptz)");
      SimpleMeterRegistry meters = new SimpleMeterRegistry();
      WorkerConfig config = kafka.config(TestSchema.fastLimits())
          .withBreaker(new CircuitBreaker.Config(Duration.ofSeconds(1), Duration.ofSeconds(1), Duration.ofMillis(200)));
      ProvisioningWorker worker = kafka.start(config,
          new PartitionProvisioner(pool, config.limits(), config.workerId()), meters);
      var provisioned = kafka.outcomes(Provisioned.class);

      // a steady trickle of commits: each one is replayed by the standby 3 s after it happened
      AtomicBoolean writing = new AtomicBoolean(true);
      CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> {
        try (Connection c = pool.getConnection(); Statement s = c.createStatement()) {
          while (writing.get()) {
            s.execute("INSERT INTO app.heartbeat VALUES (clock_timestamp())");
            Thread.sleep(100); // pacing the load, not waiting for a condition
          }
        } catch (SQLException e) {
          throw new IllegalStateException(e);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      });
      try {
        await().atMost(Duration.ofSeconds(30)).until(() -> replayLagSeconds(pool) > 1.5);

        kafka.send("*/app.events", day("app.events", "app", "events_p0"));

        await().atMost(Duration.ofSeconds(30)).until(() -> worker.breaker().state() == CircuitBreaker.State.OPEN);
        assertThat(worker.breaker().status().reason()).contains("replication lag");
        assertThat(meters.get("partwright.worker.breaker.state").gauge().value()).isEqualTo(2.0);
        // while the standby lags, the command waits: no partition, no outcome, no committed offset
        await().during(Duration.ofSeconds(2)).atMost(Duration.ofSeconds(3)).until(() ->
            !exists(pool, "app.events_p0") && provisioned.poll().isEmpty() && committed(kafka, config).isEmpty());
      } finally {
        writing.set(false);
        writer.join();
      }

      Provisioned done = provisioned.first(p -> true, Duration.ofSeconds(60));

      assertThat(done.getCreated()).hasSize(1);
      assertThat(exists(pool, "app.events_p0")).isTrue();
      assertThat(worker.breaker().state()).isEqualTo(CircuitBreaker.State.CLOSED);
      assertThat(meters.get("partwright.worker.breaker.state").gauge().value()).isZero();
      assertThat(meters.get("partwright.worker.breaker.transitions").tag("to", "half_open").counter().count())
          .isGreaterThanOrEqualTo(1.0);
      await().atMost(Duration.ofSeconds(30)).until(() -> !committed(kafka, config).isEmpty());
    }
  }

  @Test
  void opensWhileLockRequestsQueueOnTheManagedTableAndClosesWhenTheyAreGranted() throws Exception {
    try (TestSchema db = TestSchema.create("breakerlocks");
         WorkerFixture kafka = new WorkerFixture("breakerlocks")) {
      db.exec("CREATE TABLE ${s}.events (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts)");
      db.provisioner().provision(day(db.q("events"), db.name, "events_p0"));
      WorkerConfig config = kafka.config(TestSchema.fastLimits())
          .withBreaker(new CircuitBreaker.Config(Duration.ofSeconds(5), Duration.ofMillis(300), Duration.ofMillis(200)));
      ProvisioningWorker worker = kafka.start(config, db.provisioner(), new SimpleMeterRegistry());
      var provisioned = kafka.outcomes(Provisioned.class);
      Instant day1 = DAY0.plus(Duration.ofDays(1));
      ProvisionPartitions next = provision("*/" + db.q("events"),
          spec(db.q("events"), db.name, "events_p1", time(day1, day1.plus(Duration.ofDays(1)))));

      try (Connection holder = db.postgres.dataSource().getConnection();
           Connection blocked = db.postgres.dataSource().getConnection()) {
        holder.setAutoCommit(false);
        try (Statement s = holder.createStatement()) {
          s.execute("LOCK TABLE " + db.q("events") + " IN ACCESS EXCLUSIVE MODE");
        }
        // an application insert queues behind the lock; the breaker sees it waiting
        CompletableFuture<Void> insert = CompletableFuture.runAsync(() -> {
          try (Statement s = blocked.createStatement()) {
            s.execute("INSERT INTO " + db.q("events") + " VALUES ('2027-02-01T10:00:00Z', 1)");
          } catch (SQLException e) {
            throw new IllegalStateException(e);
          }
        });
        await().atMost(Duration.ofSeconds(30)).until(() -> db.count(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = '${s}.events'::regclass"
                + " AND clock_timestamp() - waitstart > interval '500 milliseconds'") > 0);

        kafka.send("*/" + db.q("events"), next);

        await().atMost(Duration.ofSeconds(30)).until(() -> worker.breaker().state() == CircuitBreaker.State.OPEN);
        assertThat(worker.breaker().status().reason()).contains("lock requests waiting");
        await().during(Duration.ofSeconds(1)).atMost(Duration.ofSeconds(2)).until(() -> provisioned.poll().isEmpty());

        holder.commit();
        insert.join();
      }

      assertThat(provisioned.first(p -> true, Duration.ofSeconds(60)).getCreated()).hasSize(1);
      assertThat(worker.breaker().state()).isEqualTo(CircuitBreaker.State.CLOSED);
      assertThat(db.tree("events")).hasSize(2);
    }
  }

  private static void exec(DataSource ds, String... sql) throws SQLException {
    try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
      for (String q : sql) {
        s.execute(q);
      }
    }
  }

  private static double replayLagSeconds(DataSource ds) throws SQLException {
    try (Connection c = ds.getConnection(); Statement s = c.createStatement();
         ResultSet rs = s.executeQuery("SELECT COALESCE(max(extract(epoch FROM replay_lag)), 0) FROM pg_stat_replication")) {
      rs.next();
      return rs.getDouble(1);
    }
  }

  private static boolean exists(DataSource ds, String table) throws SQLException {
    try (Connection c = ds.getConnection(); PreparedStatement ps = c.prepareStatement("SELECT to_regclass(?) IS NOT NULL")) {
      ps.setString(1, table);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getBoolean(1);
      }
    }
  }

  /** The worker group's committed offsets on the command topic (empty: nothing committed yet). */
  private static Map<TopicPartition, OffsetAndMetadata> committed(WorkerFixture kafka, WorkerConfig config)
      throws Exception {
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.kafka.bootstrapServers());
    try (Admin admin = Admin.create(p)) {
      Map<TopicPartition, OffsetAndMetadata> offsets =
          new HashMap<>(admin.listConsumerGroupOffsets(config.groupId()).partitionsToOffsetAndMetadata().get());
      offsets.values().removeIf(o -> o == null || o.offset() == 0);
      return offsets;
    }
  }
}
