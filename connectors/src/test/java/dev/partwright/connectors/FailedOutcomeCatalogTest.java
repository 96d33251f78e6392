package dev.partwright.connectors;

import static dev.partwright.connectors.Commands.key;
import static dev.partwright.connectors.Commands.list;
import static dev.partwright.connectors.Commands.longs;
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
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.Strategy;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Invariant 3 when a command fails half-way: a command's partitions are committed in transactions
 * of a bounded size (and a composite's middle level before its partitions), so a failure in a later
 * transaction leaves the earlier ones in the database. The {@code Failed} outcome lists them, the
 * boundary topic announces exactly them, and the catalog folded from the command log holds exactly
 * what {@code pg_inherits} holds.
 */
class FailedOutcomeCatalogTest {

  private static final Instant DAY0 = Instant.parse("2026-10-01T00:00:00Z");
  private static TestSchema db;

  @BeforeAll
  static void setUp() throws Exception {
    db = TestSchema.create("failedcat");
    db.exec("CREATE TABLE ${s}.events (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts)",
        "CREATE INDEX ON ${s}.events (ts)");
  }

  @AfterAll
  static void tearDown() throws Exception {
    db.close();
  }

  private static PartitionSpec day(int d) {
    Instant from = DAY0.plus(Duration.ofDays(d));
    return spec(db.q("events"), db.name, "events_p" + d, time(from, from.plus(Duration.ofDays(1))));
  }

  @Test
  void aFailureInTheSecondTransactionIsAnsweredFailedListingWhatTheFirstCommittedAndTheCatalogHoldsIt()
      throws Exception {
    String failing = db.q("events_p3");
    PartitionProvisioner provisioner = db.provisioner(TestSchema.fastLimits().withPartitionsPerTransaction(2),
        (step, partition, c) -> {
          if (step == PartitionProvisioner.Step.CREATED && partition.toString().equals(failing)) {
            throw new SQLException("injected failure creating " + partition);
          }
        });
    String aggregate = "*/" + db.q("events");
    ProvisionPartitions command = provision(aggregate, day(1), day(2), day(3), day(4));
    try (WorkerFixture kafka = new WorkerFixture("failedcat")) {
      kafka.start(kafka.config(TestSchema.fastLimits()), provisioner, new SimpleMeterRegistry());
      var outcomes = kafka.outcomes(Failed.class);
      var changes = kafka.boundaryChanges();

      kafka.send(aggregate, command);

      Failed failed = outcomes.first(f -> f.getIdempotencyKey().equals(command.getHeader().getIdempotencyKey()),
          Duration.ofSeconds(60));
      assertThat(failed.getRetryable()).isFalse();
      assertThat(failed.getReason()).contains("injected failure creating " + failing);
      assertThat(failed.getCreated()).extracting(PartitionSpec::getName).containsExactly("events_p1", "events_p2");
      assertThat(db.tree("events")).extracting(line -> line.split(" ")[0]).containsExactly("events_p1", "events_p2");
      // announced: exactly the partitions that exist
      changes.first(c -> partition(c).equals(db.q("events_p2")), Duration.ofSeconds(60));
      assertThat(changes.poll()).extracting(FailedOutcomeCatalogTest::partition)
          .containsExactlyInAnyOrder(db.q("events_p1"), db.q("events_p2"));
      // the command log folds into what pg_inherits holds (invariant 3)
      assertThat(kafka.catalog().livePartitions().keySet())
          .containsExactly(db.q("events_p1"), db.q("events_p2"));
    }
  }

  @Test
  void aRejectionAfterAMiddleLevelWasCommittedIsAFailureListingIt() throws Exception {
    db.exec("CREATE TABLE ${s}.tenants (tenant_id text NOT NULL, ts timestamptz NOT NULL) PARTITION BY LIST (tenant_id)");
    // the day's bound is not a timestamp: found out only once the tenant level exists and its key is read
    ProvisionPartitions command = provision("acme/" + db.q("tenants"),
        spec(db.q("tenants"), db.name, "tenants_acme", list("acme"), key(Strategy.RANGE, "ts", "timestamp with time zone")),
        spec(db.q("tenants_acme"), db.name, "tenants_acme_p1", longs(1L, 2L)));

    ProvisioningException e = catchThrowableOfType(() -> db.provisioner().provision(command),
        ProvisioningException.class);

    assertThat(e.kind()).isEqualTo(ProvisioningException.Kind.FAILED);
    assertThat(e.code()).isEqualTo("INVALID_BOUND");
    assertThat(e.created()).extracting(PartitionSpec::getName).containsExactly("tenants_acme");
    assertThat(db.tree("tenants")).extracting(line -> line.split(" ")[0]).containsExactly("tenants_acme");
  }

  @Test
  void aPartitionFailingVerificationIsNeverCommittedWhileThoseOfEarlierTransactionsStayListedAsCreated()
      throws Exception {
    db.exec("CREATE TABLE ${s}.orders (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts)",
        "CREATE INDEX orders_ts ON ${s}.orders (ts)");
    String broken = db.q("orders_p2");
    // one partition per transaction: orders_p1 commits before orders_p2's transaction fails
    PartitionProvisioner provisioner = db.provisioner(TestSchema.fastLimits().withPartitionsPerTransaction(1),
        (step, partition, c) -> {
      if (step == PartitionProvisioner.Step.ATTACHED && partition.toString().equals(broken)) {
        try (var s = c.createStatement()) {
          // inside the attaching transaction, before verification: what a failed index build looks like
          s.execute("UPDATE pg_index SET indisvalid = false WHERE indrelid = '" + broken + "'::regclass");
        }
      }
    });
    Instant d1 = DAY0.plus(Duration.ofDays(1));
    Instant d2 = DAY0.plus(Duration.ofDays(2));
    ProvisionPartitions command = provision("*/" + db.q("orders"),
        spec(db.q("orders"), db.name, "orders_p1", time(d1, d2)),
        spec(db.q("orders"), db.name, "orders_p2", time(d2, d2.plus(Duration.ofDays(1)))));

    ProvisioningException e = catchThrowableOfType(() -> provisioner.provision(command), ProvisioningException.class);

    assertThat(e.kind()).isEqualTo(ProvisioningException.Kind.FAILED);
    assertThat(e.code()).isEqualTo("INDEX_UNALIGNED");
    assertThat(e.created()).extracting(PartitionSpec::getName).containsExactly("orders_p1");
    assertThat(e.getMessage()).contains(db.q("orders_ts"));
    assertThat(db.tree("orders")).extracting(line -> line.split(" ")[0]).containsExactly("orders_p1");
  }

  private static String partition(BoundaryChange c) {
    return c.getChange() instanceof PartitionAdded a ? a.getPartition() : "";
  }

}
