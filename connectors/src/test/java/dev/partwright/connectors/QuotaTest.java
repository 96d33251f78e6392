package dev.partwright.connectors;

import static dev.partwright.connectors.Commands.provision;
import static dev.partwright.connectors.Commands.spec;
import static dev.partwright.connectors.Commands.time;
import static org.assertj.core.api.Assertions.assertThat;

import dev.partwright.connectors.policy.ManagedTable;
import dev.partwright.connectors.policy.PolicyStore;
import dev.partwright.connectors.postgres.Identifier;
import dev.partwright.connectors.postgres.QualifiedName;
import dev.partwright.schemas.CapacityAlert;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.Provisioned;
import dev.partwright.schemas.Rejected;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The quota gate runs before any DDL: a command that would take a managed table over its partition
 * count, or that adds partitions to a table already at its byte quota, is rejected with the facts,
 * a capacity alert goes to the alerts topic in the same transaction, and the rejection is counted.
 * A redelivered command that creates nothing is never rejected.
 */
class QuotaTest {

  private static final Instant DAY0 = Instant.parse("2027-01-01T00:00:00Z");
  private static TestSchema db;
  private static WorkerFixture kafka;
  private static SimpleMeterRegistry meters;

  @BeforeAll
  static void setUp() throws Exception {
    db = TestSchema.create("quota");
    db.exec("CREATE TABLE ${s}.capped (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts)",
        "CREATE TABLE ${s}.heavy (ts timestamptz NOT NULL, payload text) PARTITION BY RANGE (ts)");
    db.provisioner().provision(provision("*/" + db.q("capped"), days("capped", 0, 3)));
    db.provisioner().provision(provision("*/" + db.q("heavy"), days("heavy", 0, 1)));
    db.exec("INSERT INTO ${s}.heavy SELECT '2027-01-01T01:00:00Z', repeat('x', 1000) FROM generate_series(1, 500)");
    long heavyBytes = db.count("SELECT pg_total_relation_size('${s}.heavy_d0')");
    meters = new SimpleMeterRegistry();
    kafka = new WorkerFixture("quota");
    Quotas quotas = new Quotas(Quota.UNLIMITED, Map.of(
        db.q("capped"), new Quota(4, Long.MAX_VALUE),
        db.q("heavy"), new Quota(1_000, heavyBytes)));
    kafka.start(kafka.config(TestSchema.fastLimits()).withQuotas(quotas), db.provisioner(), meters);
  }

  @AfterAll
  static void tearDown() throws Exception {
    kafka.close();
    db.close();
  }

  private static List<PartitionSpec> days(String table, int from, int to) {
    List<PartitionSpec> specs = new ArrayList<>();
    for (int d = from; d < to; d++) {
      Instant start = DAY0.plus(Duration.ofDays(d));
      specs.add(spec(db.q(table), db.name, table + "_d" + d, time(start, start.plus(Duration.ofDays(1)))));
    }
    return specs;
  }

  @Test
  void overThePartitionCountIsRejectedWithAnAlertAndNoDdlWhileWhatFitsIsProvisioned() throws Exception {
    var outcomes = kafka.outcomes(Object.class);
    var alerts = kafka.alertMessages();
    ProvisionPartitions tooMany = provision("*/" + db.q("capped"), days("capped", 3, 5));
    ProvisionPartitions fits = provision("*/" + db.q("capped"), days("capped", 3, 4));
    ProvisionPartitions again = provision("*/" + db.q("capped"), days("capped", 0, 4));

    kafka.send("*/" + db.q("capped"), tooMany);
    kafka.send("*/" + db.q("capped"), fits);
    kafka.send("*/" + db.q("capped"), again);

    Rejected rejected = (Rejected) outcomes.first(o -> o instanceof Rejected r
        && r.getIdempotencyKey().equals(tooMany.getHeader().getIdempotencyKey()), Duration.ofSeconds(60));
    assertThat(rejected.getCode()).isEqualTo("QUOTA_PARTITIONS");
    assertThat(rejected.getReason()).contains("has 3 partitions", "adds 2", "quota 4");
    Provisioned provisioned = (Provisioned) outcomes.first(o -> o instanceof Provisioned p
        && p.getIdempotencyKey().equals(fits.getHeader().getIdempotencyKey()), Duration.ofSeconds(60));
    assertThat(provisioned.getCreated()).hasSize(1);
    // at the quota now, but a command that creates nothing is answered, not rejected
    Provisioned redelivered = (Provisioned) outcomes.first(o -> o instanceof Provisioned p
        && p.getIdempotencyKey().equals(again.getHeader().getIdempotencyKey()), Duration.ofSeconds(60));
    assertThat(redelivered.getAlreadyPresent()).hasSize(4);
    assertThat(db.tree("capped")).hasSize(4);
    CapacityAlert alert = alerts.first(a -> tooMany.getHeader().getIdempotencyKey().equals(a.getIdempotencyKey()),
        Duration.ofSeconds(30));
    assertThat(alert.getCode()).isEqualTo("QUOTA_PARTITIONS");
    assertThat(alert.getAggregateId()).isEqualTo("*/" + db.q("capped"));
    assertThat(alert.getLimit()).isEqualTo(4);
    assertThat(alert.getProjected()).as("3 partitions + 2 requested").isEqualTo(5);
    assertThat(alert.getReason()).contains(db.q("capped") + " has 3 partitions, the command adds 2, quota 4");
    assertThat(meters.counter("partwright.worker.quota.rejections", "table", db.q("capped"), "code", "QUOTA_PARTITIONS")
        .count()).isEqualTo(1.0);
  }

  @Test
  void aTableAtItsByteQuotaGetsNoNewPartition() throws Exception {
    var outcomes = kafka.outcomes(Rejected.class);
    var alerts = kafka.alertMessages();
    ProvisionPartitions next = provision("*/" + db.q("heavy"), days("heavy", 1, 2));

    kafka.send("*/" + db.q("heavy"), next);

    Rejected rejected = outcomes.first(r -> r.getIdempotencyKey().equals(next.getHeader().getIdempotencyKey()),
        Duration.ofSeconds(60));
    assertThat(rejected.getCode()).isEqualTo("QUOTA_BYTES");
    assertThat(alerts.first(a -> next.getHeader().getIdempotencyKey().equals(a.getIdempotencyKey()), Duration.ofSeconds(30))
        .getCode()).isEqualTo("QUOTA_BYTES");
    assertThat(db.tree("heavy")).hasSize(1);
  }

  @Test
  void theQuotaRegisteredWithTheTablesPolicyHoldsForEveryCommandTheWorkerExecutes() throws Exception {
    // what partwright manage --max-partitions writes; no configured quota names this table
    db.exec("CREATE TABLE ${s}.managed (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts)");
    PolicyStore policies = new PolicyStore(db.provisioner().dataSource());
    policies.ensureSchema();
    policies.register(new ManagedTable(QualifiedName.parse(db.q("managed")), "range", new Identifier("ts"), "day", "UTC",
        null, null, null, 2, null, Instant.now()), "QuotaTest");
    var outcomes = kafka.outcomes(Object.class);
    ProvisionPartitions tooMany = provision("*/" + db.q("managed"), days("managed", 0, 3));
    ProvisionPartitions fits = provision("*/" + db.q("managed"), days("managed", 0, 2));

    kafka.send("*/" + db.q("managed"), tooMany);
    kafka.send("*/" + db.q("managed"), fits);

    Rejected rejected = (Rejected) outcomes.first(o -> o instanceof Rejected r
        && r.getIdempotencyKey().equals(tooMany.getHeader().getIdempotencyKey()), Duration.ofSeconds(60));
    assertThat(rejected.getCode()).isEqualTo("QUOTA_PARTITIONS");
    assertThat(rejected.getReason()).contains("quota 2");
    outcomes.first(o -> o instanceof Provisioned p
        && p.getIdempotencyKey().equals(fits.getHeader().getIdempotencyKey()), Duration.ofSeconds(60));
    assertThat(db.tree("managed")).hasSize(2);
  }
}
