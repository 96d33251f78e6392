package dev.partwright.connectors;

import static dev.partwright.connectors.Commands.defaultBound;
import static dev.partwright.connectors.Commands.provision;
import static dev.partwright.connectors.Commands.spec;
import static dev.partwright.connectors.Commands.time;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.partwright.connectors.postgres.PartitionProvisioner;
import dev.partwright.connectors.postgres.ProvisioningException;
import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.Failed;
import dev.partwright.schemas.PartitionAdded;
import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.Provisioned;
import dev.partwright.schemas.RolledBack;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Invariant 6: after any failure no table of Partwright's making exists unattached, and the
 * boundary topic never announces a partition the database lacks. A failure before the commit is
 * undone by the transaction itself — a verification failure too: verification runs before the
 * commit, and is answered with {@code Failed}; anything else left behind (a crash of an older worker,
 * a manual run) by the start-up sweep.
 */
class NoOrphansTest {

  private static final Instant DAY0 = Instant.parse("2026-09-01T00:00:00Z");
  private static TestSchema db;

  @BeforeAll
  static void setUp() throws Exception {
    db = TestSchema.create("orphans");
    db.exec("CREATE TABLE ${s}.events (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts)",
        "CREATE INDEX events_ts ON ${s}.events (ts)");
    db.provisioner().provision(provision("*/" + db.q("events"),
        spec(db.q("events"), db.name, "events_p0", day(0)),
        spec(db.q("events"), db.name, "events_default", defaultBound())));
  }

  @AfterAll
  static void tearDown() throws Exception {
    db.close();
  }

  private static Object day(int d) {
    Instant from = DAY0.plus(Duration.ofDays(d));
    return time(from, from.plus(Duration.ofDays(1)));
  }

  private static ProvisionPartitions dayCommand(int d) {
    return provision("*/" + db.q("events"), spec(db.q("events"), db.name, "events_p" + d, day(d)));
  }

  @Test
  void aFailureAnywhereBeforeCommitLeavesNoTableAndEveryDefaultRowInPlace() throws Exception {
    db.exec("INSERT INTO ${s}.events SELECT '2026-09-02T00:00:00Z'::timestamptz + g * interval '1 hour', g"
        + " FROM generate_series(0, 4) g");
    List<String> before = db.relations();
    for (PartitionProvisioner.Step failAt : List.of(PartitionProvisioner.Step.CREATED,
        PartitionProvisioner.Step.LOCKED, PartitionProvisioner.Step.ATTACHED)) {
      PartitionProvisioner provisioner = db.provisioner(TestSchema.fastLimits(), (step, partition, c) -> {
        if (step == failAt) {
          throw new SQLException("injected failure at " + step);
        }
      });

      ProvisioningException e = catchThrowableOfType(() -> provisioner.provision(dayCommand(1)),
          ProvisioningException.class);

      assertThat(e.kind()).as("at %s", failAt).isEqualTo(ProvisioningException.Kind.FAILED);
      assertThat(e.getMessage()).contains("injected failure at " + failAt);
      assertThat(db.relations()).as("pg_class after a failure at %s", failAt).isEqualTo(before);
      // at LOCKED the rows had been moved out of DEFAULT: the rollback put them back
      assertThat(db.count("SELECT count(*) FROM ONLY ${s}.events_default")).isEqualTo(5);
      assertThat(db.count("SELECT count(*) FROM partwright.provisioning_log WHERE partition_name = '${s}.events_p1'"))
          .isZero();
    }
    assertThat(db.provisioner().provision(dayCommand(1)).rowsMovedFromDefault()).isEqualTo(5);
  }

  @Test
  void aVerificationFailureRollsTheTransactionBackAndIsAnsweredFailedNeverAnnounced() throws Exception {
    db.exec("CREATE TABLE ${s}.verified (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts)",
        "CREATE INDEX verified_ts ON ${s}.verified (ts)");
    ProvisionPartitions first = provision("*/" + db.q("verified"), spec(db.q("verified"), db.name, "verified_p1", day(1)));
    db.provisioner().provision(first);
    String broken = db.q("verified_p2");
    PartitionProvisioner provisioner = db.provisioner(TestSchema.fastLimits(), (step, partition, c) -> {
      if (step == PartitionProvisioner.Step.ATTACHED && partition.toString().equals(broken)) {
        try (Statement s = c.createStatement()) {
          // inside the attaching transaction, before verification: what a failed index build looks like
          s.execute("UPDATE pg_index SET indisvalid = false WHERE indrelid = '" + broken + "'::regclass");
        }
      }
    });
    try (WorkerFixture kafka = new WorkerFixture("orphans")) {
      kafka.start(kafka.config(TestSchema.fastLimits()), provisioner, new SimpleMeterRegistry());
      var outcomes = kafka.outcomes(Object.class);
      var changes = kafka.boundaryChanges();

      kafka.send("*/" + db.q("verified"),
          provision("*/" + db.q("verified"), spec(db.q("verified"), db.name, "verified_p2", day(2))));
      kafka.send("*/" + db.q("verified"), first);

      Failed failed = (Failed) outcomes.first(o -> o instanceof Failed, Duration.ofSeconds(60));
      assertThat(failed.getRetryable()).isFalse();
      assertThat(failed.getCreated()).isEmpty();
      assertThat(failed.getReason()).contains(broken, "verified_ts");
      outcomes.first(o -> o instanceof Provisioned, Duration.ofSeconds(60));
      // the second command's announcement is committed after the first command's transaction
      changes.first(c -> partition(c).equals(db.q("verified_p1")), Duration.ofSeconds(60));
      assertThat(changes.poll()).extracting(NoOrphansTest::partition).doesNotContain(broken);
    }
    assertThat(db.tree("verified")).extracting(line -> line.split(" ")[0]).containsExactly("verified_p1");
    assertThat(db.count("SELECT count(*) FROM pg_class WHERE relname = 'verified_p2'"
        + " AND relnamespace = '${s}'::regnamespace")).isZero();
    // the audit row was written in the transaction that rolled back
    assertThat(db.rows("SELECT action FROM partwright.provisioning_log WHERE partition_name = '" + broken + "'"))
        .isEmpty();
  }

  @Test
  void theStartUpSweepDropsUnattachedTablesWithPartwrightsMarkerAndNothingElse() throws Exception {
    // a table created by a worker that died before attaching it (a version without one transaction)
    db.exec("CREATE TABLE ${s}.events_p9 (LIKE ${s}.events INCLUDING INDEXES)",
        "COMMENT ON TABLE ${s}.events_p9 IS 'partwright:created key=lost-key aggregate=*%2F${s}.events parent=${s}.events'");
    // a user's table that only looks like one of ours
    db.exec("CREATE TABLE ${s}.events_p8 (LIKE ${s}.events)");

    try (WorkerFixture kafka = new WorkerFixture("sweep")) {
      ProvisioningWorker worker = kafka.start(kafka.config(TestSchema.fastLimits()), db.provisioner(),
          new SimpleMeterRegistry());
      RolledBack rolledBack = kafka.outcomes(RolledBack.class)
          .first(r -> r.getIdempotencyKey().equals("lost-key"), Duration.ofSeconds(60));

      assertThat(rolledBack.getDropped()).containsExactly(db.q("events_p9"));
      assertThat(worker.recovery().dropped()).extracting(PartitionProvisioner.Orphan::table)
          .containsExactly(db.q("events_p9"));
    }
    assertThat(db.rows("SELECT relname FROM pg_class WHERE relnamespace = '${s}'::regnamespace AND relkind IN ('r', 'p')"
        + " AND relname LIKE 'events_p%' ORDER BY 1")).doesNotContain("events_p9").contains("events_p8", "events_p0");
    assertThat(db.rows("SELECT action || ' ' || idempotency_key FROM partwright.provisioning_log"
        + " WHERE partition_name = '${s}.events_p9'")).containsExactly("rolled_back lost-key");
  }

  private static String partition(BoundaryChange c) {
    return c.getChange() instanceof PartitionAdded a ? a.getPartition() : "";
  }
}
