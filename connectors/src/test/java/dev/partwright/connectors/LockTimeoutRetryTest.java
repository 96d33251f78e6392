package dev.partwright.connectors;

import static dev.partwright.connectors.Commands.provision;
import static dev.partwright.connectors.Commands.spec;
import static dev.partwright.connectors.Commands.time;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.awaitility.Awaitility.await;

import dev.partwright.connectors.postgres.PartitionProvisioner;
import dev.partwright.connectors.postgres.ProvisioningException;
import dev.partwright.schemas.ProvisionPartitions;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A session holding a conflicting lock makes the worker time out ({@code lock_timeout}), back off
 * and retry — and succeed once the lock is released; held for longer than every attempt, the
 * command fails as retryable, with the attempts made and nothing left behind.
 */
class LockTimeoutRetryTest {

  private static final Instant DAY0 = Instant.parse("2026-05-01T00:00:00Z");
  private static TestSchema db;

  @BeforeAll
  static void setUp() throws Exception {
    db = TestSchema.create("lockretry");
    db.exec("CREATE TABLE ${s}.events (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts)",
        "CREATE INDEX ON ${s}.events (ts)");
  }

  @AfterAll
  static void tearDown() throws Exception {
    db.close();
  }

  private static ProvisionPartitions day(String table, int d) {
    Instant from = DAY0.plus(Duration.ofDays(d));
    return provision("*/" + db.q(table),
        spec(db.q(table), db.name, table + "_p" + d, time(from, from.plus(Duration.ofDays(1)))));
  }

  @Test
  void retriesWithBackoffWhileAnotherSessionHoldsAccessExclusiveAndSucceedsAfterItsRelease() throws Exception {
    AtomicInteger backoffs = new AtomicInteger();
    PartitionProvisioner provisioner = db.provisioner(
        new PartitionProvisioner.Limits(Duration.ofMillis(200), Duration.ofSeconds(30), 50, Duration.ofMillis(20)),
        (step, partition, c) -> {
          if (step == PartitionProvisioner.Step.BACKING_OFF) {
            backoffs.incrementAndGet();
          }
        });
    try (Connection holder = db.postgres.dataSource().getConnection()) {
      holder.setAutoCommit(false);
      try (Statement s = holder.createStatement()) {
        s.execute("LOCK TABLE " + db.q("events") + " IN ACCESS EXCLUSIVE MODE");
      }
      CompletableFuture<PartitionProvisioner.Result> provisioning = CompletableFuture.supplyAsync(() -> {
        try {
          return provisioner.provision(day("events", 0));
        } catch (ProvisioningException e) {
          throw new IllegalStateException(e);
        }
      });
      await().atMost(Duration.ofSeconds(30)).until(() -> backoffs.get() >= 3);
      assertThat(provisioning).isNotDone();
      holder.commit();

      PartitionProvisioner.Result result = provisioning.get();

      assertThat(result.created()).hasSize(1);
      assertThat(result.attempts()).isGreaterThanOrEqualTo(4);
      assertThat(db.tree("events")).containsExactly(
          "events_p0 <events> r FOR VALUES FROM ('2026-05-01 00:00:00+00') TO ('2026-05-02 00:00:00+00')");
    }
  }

  @Test
  void failsRetryableAfterTheLastAttemptAndLeavesNothingBehind() throws Exception {
    PartitionProvisioner provisioner = db.provisioner(
        new PartitionProvisioner.Limits(Duration.ofMillis(100), Duration.ofSeconds(30), 3, Duration.ofMillis(10)),
        PartitionProvisioner.Checkpoint.NONE);
    db.exec("CREATE TABLE ${s}.held (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts)");
    List<String> before = db.relations();
    try (Connection holder = db.postgres.dataSource().getConnection()) {
      holder.setAutoCommit(false);
      try (Statement s = holder.createStatement()) {
        s.execute("LOCK TABLE " + db.q("held") + " IN ACCESS EXCLUSIVE MODE");
      }

      ProvisioningException e = catchThrowableOfType(() -> provisioner.provision(day("held", 7)),
          ProvisioningException.class);

      holder.rollback();
      assertThat(e.kind()).isEqualTo(ProvisioningException.Kind.RETRYABLE);
      assertThat(e.code()).isEqualTo("LOCK_TIMEOUT");
      assertThat(e.sqlState()).isEqualTo("55P03");
      assertThat(e.attempts()).isEqualTo(3);
      assertThat(e.getMessage()).contains(db.q("held_p7"));
    }
    assertThat(db.relations()).isEqualTo(before);
  }
}
