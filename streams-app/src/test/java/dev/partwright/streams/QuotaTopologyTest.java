package dev.partwright.streams;

import static dev.partwright.streams.Harness.NOW;
import static org.assertj.core.api.Assertions.assertThat;

import dev.partwright.schemas.CapacityAlert;
import dev.partwright.schemas.CommandLogEntry;
import dev.partwright.schemas.Rejected;
import java.time.Duration;
import java.time.ZoneId;
import java.util.List;
import java.util.Map;
import org.apache.kafka.streams.test.TestRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Plans over a table's or a tenant's quota are recorded as Rejected, alerted, counted, and not commanded. */
class QuotaTopologyTest {

  private Harness h;

  @AfterEach
  void stop() {
    h.close();
  }

  @Test
  void aPlanOverTheTablesPartitionQuotaIsRejectedWithAnAlertInsteadOfCommanded() {
    TablePolicy capped = TablePolicy.dailyShared("public", "events").withQuota(new Quota(20, Long.MAX_VALUE));
    h = new Harness(PlannerConfig.defaults(Map.of(capped.qualifiedName(), capped)));

    h.send("acme", "events", NOW);

    List<TestRecord<String, CommandLogEntry>> log = h.log.readRecordsToList();
    assertThat(log).hasSize(1);
    assertThat(log.get(0).key()).isEqualTo("*/public.events");
    Rejected rejected = (Rejected) log.get(0).value().getEntry();
    assertThat(rejected.getCode()).isEqualTo(Quota.PARTITIONS);
    assertThat(rejected.getReason()).contains("*/public.events would hold 31 partitions, over the table quota of 20");
    assertThat(rejected.getIdempotencyKey()).hasSize(32);

    TestRecord<String, CapacityAlert> alert = h.alerts.readRecord();
    assertThat(alert.key()).isEqualTo("*/public.events");
    assertThat(alert.value().getCode()).isEqualTo(Quota.PARTITIONS);
    assertThat(alert.value().getLimit()).isEqualTo(20);
    assertThat(alert.value().getProjected()).isEqualTo(31);
    assertThat(alert.value().getIdempotencyKey()).isEqualTo(rejected.getIdempotencyKey());
    assertThat(h.meters.get("partwright.planner.rejected").tag("code", Quota.PARTITIONS).counter().count()).isEqualTo(1);

    h.send("globex", "events", NOW.plus(Duration.ofHours(1)));
    assertThat(h.log.isEmpty()).as("the same plan is not rejected twice").isTrue();
    assertThat(h.alerts.isEmpty()).isTrue();
  }

  @Test
  void aPlanOverATenantsByteQuotaIsRejectedWhileOtherTenantsGoOn() {
    TablePolicy perTenant = new TablePolicy("public", "usage", Interval.DAY, ZoneId.of("UTC"), false)
        .perTenant("recorded_at");
    long tenGigabytes = 10L << 30;
    h = new Harness(PlannerConfig.defaults(Map.of(perTenant.qualifiedName(), perTenant))
        .withTenantQuota("bigco", new Quota(Integer.MAX_VALUE, tenGigabytes)));

    // 3 GB in the last velocity windows: 10 MB/s over 31 days of partitions is ~27 TB
    h.send("bigco", "usage", NOW, NOW, 3L << 30, null);
    h.send("small", "usage", NOW, NOW, 3L << 30, null);

    List<CommandLogEntry> log = h.log.readValuesToList();
    assertThat(log).hasSize(2);
    Rejected rejected = (Rejected) log.get(0).getEntry();
    assertThat(log.get(0).getAggregateId()).isEqualTo("bigco/public.usage");
    assertThat(rejected.getCode()).isEqualTo(Quota.BYTES);
    assertThat(rejected.getReason()).contains("over the tenant quota of " + tenGigabytes + " bytes");
    assertThat(Harness.commands(log)).singleElement()
        .satisfies(c -> assertThat(c.getHeader().getAggregateId()).isEqualTo("small/public.usage"));
    assertThat(h.alerts.readValue().getProjected()).isGreaterThan(tenGigabytes);
  }

  @Test
  void retentionBoundsThePartitionsCountedAgainstTheQuota() {
    TablePolicy kept = new TablePolicy("public", "events", Interval.DAY, ZoneId.of("UTC"), false, null, null, 3,
        new Quota(40, Long.MAX_VALUE));
    h = new Harness(PlannerConfig.defaults(Map.of(kept.qualifiedName(), kept)));
    h.send("acme", "events", NOW.minus(Duration.ofDays(20)));
    h.log.readValuesToList(); // 20 days back + 31 ahead = 51 partitions commanded, 3 + 31 held

    h.advance(Duration.ofDays(5)); // the sweep extends; still 3 + 31 held, under 40
    assertThat(Harness.commands(h.log.readValuesToList())).hasSize(1);
    assertThat(h.alerts.isEmpty()).isTrue();
  }
}
