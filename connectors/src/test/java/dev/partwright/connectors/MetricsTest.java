package dev.partwright.connectors;

import static dev.partwright.connectors.Commands.provision;
import static dev.partwright.connectors.Commands.spec;
import static dev.partwright.connectors.Commands.time;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.Provisioned;
import dev.partwright.schemas.Rejected;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The worker's and the database's numbers as Micrometer meters: outcomes by type, provisioning
 * latency, breaker state; and per managed tree, unaligned and unused partition indexes, waiting
 * and ACCESS EXCLUSIVE locks, plus replication lag — each moved by the real condition it counts.
 */
class MetricsTest {

  private static final Instant DAY0 = Instant.parse("2027-04-01T00:00:00Z");
  private static TestSchema db;

  @BeforeAll
  static void setUp() throws Exception {
    db = TestSchema.create("metrics");
    db.exec("CREATE TABLE ${s}.events (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts)",
        "CREATE INDEX events_ts ON ${s}.events (ts)");
  }

  @AfterAll
  static void tearDown() throws Exception {
    db.close();
  }

  private static ProvisionPartitions day(int d) {
    Instant from = DAY0.plus(Duration.ofDays(d));
    return provision("*/" + db.q("events"),
        spec(db.q("events"), db.name, "events_p" + d, time(from, from.plus(Duration.ofDays(1)))));
  }

  @Test
  void outcomesLatencyAndBreakerStateOfARunningWorker() throws Exception {
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    try (WorkerFixture kafka = new WorkerFixture("metrics")) {
      kafka.start(kafka.config(TestSchema.fastLimits()), db.provisioner(), meters);
      kafka.send("*/" + db.q("events"), day(0));
      kafka.send("*/" + db.q("missing"), provision("*/" + db.q("missing"),
          spec(db.q("missing"), db.name, "missing_p0", time(DAY0, DAY0.plusSeconds(60)))));

      kafka.outcomes(Provisioned.class).first(p -> true, Duration.ofSeconds(60));
      kafka.outcomes(Rejected.class).first(r -> r.getCode().equals("UNKNOWN_TABLE"), Duration.ofSeconds(60));

      assertThat(meters.get("partwright.worker.outcomes").tag("type", "Provisioned").counter().count()).isEqualTo(1.0);
      assertThat(meters.get("partwright.worker.outcomes").tag("type", "Rejected").counter().count()).isEqualTo(1.0);
      assertThat(meters.get("partwright.worker.provisioning").timer().count()).isEqualTo(2);
      assertThat(meters.get("partwright.worker.breaker.state").gauge().value()).isZero();
      assertThat(meters.get("partwright.db.replication.lag").gauge().value()).isZero();
    }
  }

  @Test
  void indexAndLockGaugesOfEachManagedTree() throws Exception {
    db.provisioner().provision(day(1));
    db.provisioner().provision(day(2));
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    DatabaseMonitor monitor = new DatabaseMonitor(db.pool, meters);
    String table = db.q("events");

    monitor.refresh();
    assertThat(gauge(meters, "partwright.db.indexes.unaligned", table)).isZero();
    assertThat(gauge(meters, "partwright.db.indexes.unused", table)).isGreaterThanOrEqualTo(2);
    assertThat(gauge(meters, "partwright.db.locks.waiting", table)).isZero();

    // a partition index that stopped being valid, as after a failed REINDEX CONCURRENTLY
    db.exec("UPDATE pg_index SET indisvalid = false WHERE indrelid = '${s}.events_p2'::regclass");
    try (Connection holder = db.postgres.dataSource().getConnection();
         Connection blocked = db.postgres.dataSource().getConnection()) {
      holder.setAutoCommit(false);
      try (Statement s = holder.createStatement()) {
        s.execute("LOCK TABLE " + table + " IN ACCESS EXCLUSIVE MODE");
      }
      CompletableFuture<Void> insert = CompletableFuture.runAsync(() -> {
        try (Statement s = blocked.createStatement()) {
          s.execute("INSERT INTO " + table + " VALUES ('2027-04-02T01:00:00Z', 1)");
        } catch (SQLException e) {
          throw new IllegalStateException(e);
        }
      });

      await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
        monitor.refresh();
        assertThat(gauge(meters, "partwright.db.locks.waiting", table)).isGreaterThanOrEqualTo(1);
      });
      assertThat(gauge(meters, "partwright.db.locks.access_exclusive", table)).isGreaterThanOrEqualTo(1);
      assertThat(gauge(meters, "partwright.db.indexes.unaligned", table)).isEqualTo(1);
      holder.commit();
      insert.join();
    } finally {
      db.exec("UPDATE pg_index SET indisvalid = true WHERE indrelid = '${s}.events_p2'::regclass");
    }
    monitor.refresh();
    assertThat(gauge(meters, "partwright.db.locks.waiting", table)).isZero();
    assertThat(gauge(meters, "partwright.db.indexes.unaligned", table)).isZero();
  }

  private static double gauge(SimpleMeterRegistry meters, String name, String table) {
    return meters.get(name).tag("table", table).gauge().value();
  }
}
