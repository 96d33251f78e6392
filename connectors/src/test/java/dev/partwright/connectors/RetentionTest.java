package dev.partwright.connectors;

import static dev.partwright.connectors.Commands.defaultBound;
import static dev.partwright.connectors.Commands.provision;
import static dev.partwright.connectors.Commands.retire;
import static dev.partwright.connectors.Commands.spec;
import static dev.partwright.connectors.Commands.time;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.partwright.connectors.postgres.PartitionProvisioner;
import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.PartitionRetired;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.Retired;
import dev.partwright.schemas.RetirePartitions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Retention: {@code RetirePartitions} detaches without an exclusive lock on the parent
 * ({@code DETACH ... CONCURRENTLY}; a plain DETACH under {@code lock_timeout} where PostgreSQL
 * refuses that, next to a DEFAULT partition), drops or archives, and announces
 * {@code PartitionRetired}; a detach interrupted half-way is finalized at start-up.
 */
class RetentionTest {

  private static final Instant DAY0 = Instant.parse("2027-03-01T00:00:00Z");
  private static final PartitionProvisioner.Limits LIMITS =
      new PartitionProvisioner.Limits(Duration.ofSeconds(2), Duration.ofSeconds(30), 10, Duration.ofMillis(50));
  private static TestSchema db;
  private static WorkerFixture kafka;
  private static final SimpleMeterRegistry METERS = new SimpleMeterRegistry();

  @BeforeAll
  static void setUp() throws Exception {
    db = TestSchema.create("retention");
    kafka = new WorkerFixture("retention");
    kafka.start(kafka.config(LIMITS), db.provisioner(LIMITS, PartitionProvisioner.Checkpoint.NONE), METERS);
  }

  @AfterAll
  static void tearDown() throws Exception {
    kafka.close();
    db.close();
  }

  private static void table(String name, int days, boolean withDefault) throws Exception {
    db.exec("CREATE TABLE ${s}." + name + " (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts)",
        "CREATE INDEX ON ${s}." + name + " (ts)");
    List<PartitionSpec> specs = new ArrayList<>();
    for (int d = 0; d < days; d++) {
      Instant from = DAY0.plus(Duration.ofDays(d));
      specs.add(spec(db.q(name), db.name, name + "_p" + d, time(from, from.plus(Duration.ofDays(1)))));
    }
    if (withDefault) {
      specs.add(spec(db.q(name), db.name, name + "_default", defaultBound()));
    }
    db.provisioner().provision(provision("*/" + db.q(name), specs));
    db.exec("INSERT INTO ${s}." + name + " SELECT '2027-03-01T00:00:00Z'::timestamptz + g * interval '1 hour', g"
        + " FROM generate_series(0, " + (days * 24 - 1) + ") g");
  }

  private static Retired answer(RetirePartitions command) {
    return kafka.outcomes(Retired.class).first(
        r -> r.getIdempotencyKey().equals(command.getHeader().getIdempotencyKey()), Duration.ofSeconds(60));
  }

  private static List<String> retiredAnnouncements() {
    return kafka.boundaryChanges().poll().stream()
        .map(BoundaryChange::getChange)
        .filter(PartitionRetired.class::isInstance)
        .map(c -> ((PartitionRetired) c).getPartition() + " from " + ((PartitionRetired) c).getParent())
        .toList();
  }

  @Test
  void detachesConcurrentlyWhileInsertsGoOnThenDropsAndAnnounces() throws Exception {
    table("events", 3, false);
    RetirePartitions command = retire("*/" + db.q("events"), null, db.q("events_p0"));
    try (Connection reader = db.postgres.dataSource().getConnection();
         Connection writer = db.postgres.dataSource().getConnection()) {
      // a reader in an open transaction: a plain DETACH would queue ACCESS EXCLUSIVE behind it, and inserts behind that
      reader.setAutoCommit(false);
      try (Statement s = reader.createStatement()) {
        s.executeQuery("SELECT count(*) FROM " + db.q("events") + " WHERE ts >= '2027-03-02' AND ts < '2027-03-03'");
      }

      kafka.send("*/" + db.q("events"), command);

      await().atMost(Duration.ofSeconds(30)).until(() -> db.count("SELECT count(*) FROM pg_stat_activity"
          + " WHERE application_name = 'partwright-worker' AND query LIKE '%DETACH PARTITION%events_p0%'"
          + " AND wait_event_type = 'Lock'") > 0);
      try (Statement s = writer.createStatement()) {
        s.execute("SET lock_timeout = '300ms'"); // a write that had to queue fails instead
        try {
          s.execute("INSERT INTO " + db.q("events") + " VALUES ('2027-03-03T05:00:00Z', -1)");
        } finally {
          s.execute("RESET lock_timeout"); // the connection goes back to a shared pool
        }
      }
      reader.commit();
    }

    Retired answer = answer(command);

    assertThat(answer.getRetired()).containsExactly(db.q("events_p0"));
    assertThat(answer.getArchivedTo()).isNull();
    assertThat(answer.getWorker()).startsWith("worker-");
    assertThat(db.tree("events")).extracting(l -> l.split(" ")[0]).containsExactly("events_p1", "events_p2");
    assertThat(db.count("SELECT count(*) FROM pg_class WHERE relname = 'events_p0' AND relnamespace = '${s}'::regnamespace"))
        .isZero();
    await().atMost(Duration.ofSeconds(30)).until(() ->
        retiredAnnouncements().contains(db.q("events_p0") + " from " + db.q("events")));
    assertThat(db.rows("SELECT action FROM partwright.provisioning_log WHERE partition_name = '${s}.events_p0'"
        + " ORDER BY applied_at")).containsExactly("created", "detached", "retired");
  }

  @Test
  void nextToADefaultPartitionAPlainDetachUnderLockTimeoutIsUsed() throws Exception {
    table("metrics", 2, true);
    RetirePartitions command = retire("*/" + db.q("metrics"), null, db.q("metrics_p0"));

    kafka.send("*/" + db.q("metrics"), command);

    assertThat(answer(command).getRetired()).containsExactly(db.q("metrics_p0"));
    assertThat(db.tree("metrics")).extracting(l -> l.split(" ")[0]).containsExactly("metrics_default", "metrics_p1");
    // the retired day's rows left with it; nothing spilled into DEFAULT
    assertThat(db.count("SELECT count(*) FROM ONLY ${s}.metrics_default")).isZero();
  }

  @Test
  void archivesToAnotherSchemaAndARepeatedRetirementIsNotExecutedAgain() throws Exception {
    table("logs", 2, false);
    String archive = db.name + "_archive";
    RetirePartitions command = retire("*/" + db.q("logs"), archive, db.q("logs_p0"));

    var answers = kafka.outcomes(Retired.class);
    kafka.send("*/" + db.q("logs"), command);
    Retired answer = answers.first(r -> r.getIdempotencyKey().equals(command.getHeader().getIdempotencyKey()),
        Duration.ofSeconds(60));
    assertThat(answer.getRetired()).containsExactly(db.q("logs_p0"));
    assertThat(answer.getArchivedTo()).isEqualTo(archive);
    double skipped = METERS.counter("partwright.worker.skipped", "verdict", "Duplicate").count();
    kafka.send("*/" + db.q("logs"), command);

    // the same key again is a duplicate in the log: skipped, not executed, not answered twice
    await().atMost(Duration.ofSeconds(60)).until(() ->
        METERS.counter("partwright.worker.skipped", "verdict", "Duplicate").count() == skipped + 1);
    assertThat(answers.poll().stream()
        .filter(r -> r.getIdempotencyKey().equals(command.getHeader().getIdempotencyKey()))).hasSize(1);
    try {
      assertThat(db.count("SELECT count(*) FROM " + archive + ".logs_p0")).isEqualTo(24);
      assertThat(db.rows("SELECT obj_description('" + archive + ".logs_p0'::regclass, 'pg_class')").get(0))
          .startsWith("partwright:archived");
      assertThat(db.tree("logs")).extracting(l -> l.split(" ")[0]).containsExactly("logs_p1");
    } finally {
      db.exec("DROP SCHEMA " + archive + " CASCADE");
    }
  }

  @Test
  void aDetachInterruptedHalfWayIsFinalizedAtStartUpAndItsRetirementCompletes() throws Exception {
    table("traces", 2, false);
    try (Connection reader = db.postgres.dataSource().getConnection();
         Connection detacher = db.postgres.dataSource().getConnection()) {
      reader.setAutoCommit(false);
      try (Statement s = reader.createStatement()) {
        s.executeQuery("SELECT count(*) FROM " + db.q("traces"));
      }
      int detacherPid = pid(detacher);
      CompletableFuture<Void> detach = CompletableFuture.runAsync(() -> {
        try (Statement s = detacher.createStatement()) {
          s.execute("ALTER TABLE " + db.q("traces") + " DETACH PARTITION " + db.q("traces_p0") + " CONCURRENTLY");
        } catch (SQLException e) {
          // cancelled below: that is the point
        }
      });
      // the second transaction waits for the reader; cancelling it leaves the partition detach-pending
      await().atMost(Duration.ofSeconds(30)).until(() -> db.count("SELECT count(*) FROM pg_stat_activity WHERE pid = "
          + detacherPid + " AND wait_event_type = 'Lock'") > 0
          && db.count("SELECT count(*) FROM pg_inherits WHERE inhrelid = '${s}.traces_p0'::regclass"
              + " AND inhdetachpending") > 0);
      db.exec("SELECT pg_cancel_backend(" + detacherPid + ")");
      detach.join();
      reader.commit();
    }
    assertThat(db.count("SELECT count(*) FROM pg_inherits WHERE inhrelid = '${s}.traces_p0'::regclass"
        + " AND inhdetachpending")).isEqualTo(1);

    try (WorkerFixture restarted = new WorkerFixture("retention-restart")) {
      ProvisioningWorker worker = restarted.start(restarted.config(LIMITS), db.provisioner(), new SimpleMeterRegistry());

      assertThat(worker.recovery().finalized()).containsExactly(db.q("traces_p0"));
      assertThat(db.count("SELECT count(*) FROM pg_inherits WHERE inhrelid = '${s}.traces_p0'::regclass")).isZero();
      // finalized, not an orphan: the retirement it belonged to still has to drop it
      assertThat(worker.recovery().dropped()).isEmpty();
      RetirePartitions command = retire("*/" + db.q("traces"), null, db.q("traces_p0"));
      restarted.send("*/" + db.q("traces"), command);
      Retired answer = restarted.outcomes(Retired.class).first(
          r -> r.getIdempotencyKey().equals(command.getHeader().getIdempotencyKey()), Duration.ofSeconds(60));
      assertThat(answer.getRetired()).containsExactly(db.q("traces_p0"));
    }
    assertThat(db.count("SELECT count(*) FROM pg_class WHERE relname = 'traces_p0' AND relnamespace = '${s}'::regnamespace"))
        .isZero();
  }

  private static int pid(Connection c) throws SQLException {
    try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT pg_backend_pid()")) {
      rs.next();
      return rs.getInt(1);
    }
  }
}
