package dev.partwright.connectors;

import static dev.partwright.connectors.Commands.defaultBound;
import static dev.partwright.connectors.Commands.provision;
import static dev.partwright.connectors.Commands.spec;
import static dev.partwright.connectors.Commands.time;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.partwright.connectors.postgres.PartitionProvisioner;
import dev.partwright.schemas.PartitionSpec;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Invariant 4: provisioning never makes an insert into the parent wait longer than the configured
 * {@code lock_timeout}, and never makes one fail. The setting is the one that hurts plain
 * {@code CREATE TABLE ... PARTITION OF}: a long-running reader holds ACCESS SHARE on the parent, so
 * an ACCESS EXCLUSIVE request would queue behind it and every insert behind that request. Each
 * insert's latency is measured, and the inserting backend is sampled in {@code pg_locks} for
 * ungranted requests the whole time. A second session inserts rows no partition takes (they go to
 * DEFAULT): ATTACH must lock DEFAULT (PostgreSQL scans or proves it), so those inserts may wait —
 * but never longer than {@code lock_timeout}, however many partitions one transaction attaches.
 */
class NoWriteStallTest {

  private static final Instant DAY0 = Instant.parse("2026-01-01T00:00:00Z");
  private static final Duration LOCK_TIMEOUT = PartitionProvisioner.Limits.defaults().lockTimeout();
  private static TestSchema db;

  @BeforeAll
  static void setUp() throws Exception {
    db = TestSchema.create("nostall");
    db.exec("CREATE TABLE ${s}.events (tenant_id text NOT NULL, ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts)",
        "CREATE INDEX ON ${s}.events (ts)", "CREATE INDEX ON ${s}.events (tenant_id, ts)");
    db.provisioner().provision(provision("*/" + db.q("events"),
        spec(db.q("events"), db.name, "events_p0", time(DAY0, DAY0.plus(Duration.ofDays(1)))),
        spec(db.q("events"), db.name, "events_default", defaultBound())));
  }

  @AfterAll
  static void tearDown() throws Exception {
    db.close();
  }

  @Test
  void insertsIntoTheParentNeverWaitOnALockWhile50PartitionsAreProvisioned() throws Exception {
    List<PartitionSpec> specs = new ArrayList<>();
    for (int d = 1; d <= 50; d++) {
      Instant from = DAY0.plus(Duration.ofDays(d));
      specs.add(spec(db.q("events"), db.name, "events_p" + d, time(from, from.plus(Duration.ofDays(1)))));
    }
    PartitionProvisioner provisioner = db.provisioner(PartitionProvisioner.Limits.defaults(),
        PartitionProvisioner.Checkpoint.NONE);
    AtomicBoolean stop = new AtomicBoolean();
    ConcurrentLinkedQueue<Long> latenciesNanos = new ConcurrentLinkedQueue<>();
    ConcurrentLinkedQueue<Long> defaultLatenciesNanos = new ConcurrentLinkedQueue<>();
    ConcurrentLinkedQueue<Throwable> insertFailures = new ConcurrentLinkedQueue<>();
    AtomicInteger inserterPid = new AtomicInteger();
    AtomicLong lockWaitsSeen = new AtomicLong();
    AtomicLong samples = new AtomicLong();

    try (Connection reader = db.postgres.dataSource().getConnection();
         Connection inserter = db.postgres.dataSource().getConnection();
         Connection defaultInserter = db.postgres.dataSource().getConnection();
         Connection sampler = db.postgres.dataSource().getConnection()) {
      reader.setAutoCommit(false);
      try (Statement s = reader.createStatement()) {
        // the long-running reader: ACCESS SHARE on the parent and today's partition until the end
        s.executeQuery("SELECT count(*) FROM " + db.q("events") + " WHERE ts >= '2026-01-01' AND ts < '2026-01-02'");
      }
      inserterPid.set(pid(inserter));
      CompletableFuture<Void> inserts = CompletableFuture.runAsync(() -> {
        try (PreparedStatement ps = inserter.prepareStatement(
            "INSERT INTO " + db.q("events") + " (tenant_id, ts, v) VALUES (?, ?, ?)")) {
          for (int i = 0; !stop.get(); i++) {
            ps.setString(1, "t" + (i % 7));
            ps.setTimestamp(2, Timestamp.from(DAY0.plusSeconds(i % 86_400)));
            ps.setInt(3, i);
            long t0 = System.nanoTime();
            ps.executeUpdate();
            latenciesNanos.add(System.nanoTime() - t0);
          }
        } catch (SQLException | RuntimeException e) {
          insertFailures.add(e);
        }
      });
      CompletableFuture<Void> defaultInserts = CompletableFuture.runAsync(() -> {
        try (PreparedStatement ps = defaultInserter.prepareStatement(
            "INSERT INTO " + db.q("events") + " (tenant_id, ts, v) VALUES (?, ?, ?)")) {
          for (int i = 0; !stop.get(); i++) {
            ps.setString(1, "late");
            // a year ahead: no partition, the row goes to DEFAULT
            ps.setTimestamp(2, Timestamp.from(DAY0.plus(Duration.ofDays(365)).plusSeconds(i)));
            ps.setInt(3, i);
            long t0 = System.nanoTime();
            ps.executeUpdate();
            defaultLatenciesNanos.add(System.nanoTime() - t0);
          }
        } catch (SQLException | RuntimeException e) {
          insertFailures.add(e);
        }
      });
      CompletableFuture<Void> sampling = CompletableFuture.runAsync(() -> {
        try (PreparedStatement ps = sampler.prepareStatement(
            "SELECT count(*) FROM pg_locks WHERE pid = ? AND NOT granted")) {
          ps.setInt(1, inserterPid.get());
          while (!stop.get()) {
            try (ResultSet rs = ps.executeQuery()) {
              rs.next();
              lockWaitsSeen.addAndGet(rs.getLong(1));
              samples.incrementAndGet();
            }
          }
        } catch (SQLException e) {
          throw new IllegalStateException(e);
        }
      });
      await().atMost(Duration.ofSeconds(30)).until(() -> latenciesNanos.size() >= 20 && samples.get() >= 5
          && defaultLatenciesNanos.size() >= 20);

      PartitionProvisioner.Result result;
      try {
        result = provisioner.provision(provision("*/" + db.q("events"), specs));
      } finally {
        stop.set(true);
        inserts.join();
        defaultInserts.join();
        sampling.join();
        reader.rollback();
      }

      assertThat(result.created()).hasSize(50);
      assertThat(insertFailures).isEmpty();
      assertThat(latenciesNanos.size()).isGreaterThan(20);
      long worst = latenciesNanos.stream().mapToLong(Long::longValue).max().orElseThrow();
      assertThat(Duration.ofNanos(worst)).isLessThan(LOCK_TIMEOUT);
      assertThat(lockWaitsSeen.get()).as("ungranted lock requests of the inserting backend, over %d samples", samples.get())
          .isZero();
      long worstIntoDefault = defaultLatenciesNanos.stream().mapToLong(Long::longValue).max().orElseThrow();
      assertThat(Duration.ofNanos(worstIntoDefault)).as("worst insert into DEFAULT").isLessThan(LOCK_TIMEOUT);
      assertThat(db.count("SELECT count(*) FROM ONLY ${s}.events_default")).isEqualTo(defaultLatenciesNanos.size());
      assertThat(db.count("SELECT count(*) FROM ${s}.events"))
          .isEqualTo(latenciesNanos.size() + defaultLatenciesNanos.size());
      System.out.printf("NoWriteStallTest: worst insert %.1f ms, worst insert into DEFAULT %.1f ms (lock_timeout %d ms)%n",
          worst / 1e6, worstIntoDefault / 1e6, LOCK_TIMEOUT.toMillis());
    }
  }

  private static int pid(Connection c) throws SQLException {
    try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT pg_backend_pid()")) {
      rs.next();
      return rs.getInt(1);
    }
  }
}
