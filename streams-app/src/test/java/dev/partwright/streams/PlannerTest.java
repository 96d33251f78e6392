package dev.partwright.streams;

import static org.assertj.core.api.Assertions.assertThat;

import dev.partwright.schemas.AggregateId;
import dev.partwright.schemas.Bounds;
import dev.partwright.schemas.ListBound;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.TextValue;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.ZoneId;
import java.util.List;
import org.junit.jupiter.api.Test;

class PlannerTest {

  private static final Instant NOW = Instant.parse("2026-11-25T10:15:00Z");
  private final TablePolicy hourlyPerTenant =
      new TablePolicy("app", "metrics", Interval.HOUR, ZoneId.of("UTC"), false).perTenant("recorded_at");

  @Test
  void aNewTenantGetsItsListPartitionBeforeItsRangePartitions() {
    AggregateId acme = new AggregateId("acme", "app", "metrics");
    Instant from = Interval.HOUR.floor(NOW, ZoneId.of("UTC"));
    Planner.Plan plan = Planner.planRange(null, acme, hourlyPerTenant, from, from.plusSeconds(3 * 3600), "t", "r", NOW);

    List<PartitionSpec> parts = plan.command().orElseThrow().getPartitions();
    assertThat(parts).hasSize(4);
    PartitionSpec tenant = parts.get(0);
    assertThat(tenant.getParent()).isEqualTo("app.metrics");
    assertThat(tenant.getName()).isEqualTo("metrics_acme");
    assertThat(((ListBound) tenant.getBound()).getValues()).containsExactly(new TextValue("acme"));
    assertThat(tenant.getSubpartitionBy().getColumns()).containsExactly("recorded_at");
    assertThat(parts.get(1).getParent()).isEqualTo("app.metrics_acme");
    assertThat(parts.get(1).getName()).isEqualTo("metrics_acme_p20261125_10");

    Planner.Plan next = Planner.planRange(plan.coverage(), acme, hourlyPerTenant, from, from.plusSeconds(4 * 3600),
        "t", "r", NOW);
    assertThat(next.command().orElseThrow().getPartitions()).extracting(PartitionSpec::getName)
        .containsExactly("metrics_acme_p20261125_13");
  }

  @Test
  void tenantNamesAreSafeDistinctAndFit63Bytes() {
    assertThat(Planner.tenantSlug("acme")).isEqualTo("acme");
    assertThat(Planner.tenantSlug("Acme")).startsWith("acme_").hasSize(13);
    assertThat(Planner.tenantSlug("tenant-0")).isNotEqualTo(Planner.tenantSlug("tenant_0"));
    assertThat(Planner.tenantSlug("x'); DROP TABLE t; --")).matches("[a-z0-9_]+");
    TablePolicy longName = new TablePolicy("app", "a".repeat(63), Interval.HOUR, ZoneId.of("UTC"), false)
        .perTenant("ts");
    String tenantTable = Planner.tenantTableName(longName, "some-very-long-tenant-name-" + "z".repeat(80));
    assertThat(tenantTable.getBytes(StandardCharsets.UTF_8).length).isLessThanOrEqualTo(50);
    for (PartitionSpec p : Planner.partitions(longName, new AggregateId("t", "app", "a".repeat(63)),
        Instant.parse("2026-11-25T10:00:00Z"), Instant.parse("2026-11-25T12:00:00Z"))) {
      assertThat(p.getName().getBytes(StandardCharsets.UTF_8).length).isLessThanOrEqualTo(63);
    }
  }

  @Test
  void idempotencyKeyDependsOnlyOnAggregateAndBounds() {
    TablePolicy daily = TablePolicy.dailyShared("public", "events");
    AggregateId shared = AggregateId.shared("public", "events");
    Instant day = Instant.parse("2026-11-25T00:00:00Z");
    List<PartitionSpec> parts = Planner.partitions(daily, day, day.plusSeconds(86400 * 2));
    ProvisionPartitions a = Planner.command(shared, parts, "rotate", "one reason", NOW);
    ProvisionPartitions b = Planner.command(shared, parts, "demand-topology", "another", NOW.plusSeconds(5));
    assertThat(a.getHeader().getIdempotencyKey()).isEqualTo(b.getHeader().getIdempotencyKey()).hasSize(32);
    ProvisionPartitions c = Planner.command(shared, parts.subList(0, 1), "rotate", "r", NOW);
    assertThat(c.getHeader().getIdempotencyKey()).isNotEqualTo(a.getHeader().getIdempotencyKey());
  }

  /**
   * Idempotency keys and names are how a re-planned command dedupes against one already on the log,
   * and how the worker finds partitions it created: they must never change. These were computed by
   * the planner before its per-table caches and its reused digest; any change here is a break.
   */
  @Test
  void idempotencyKeysAndNamesAreThoseOfEarlierVersions() {
    ZoneId berlin = ZoneId.of("Europe/Berlin");
    ZoneId newYork = ZoneId.of("America/New_York");
    // hourly, tenant-scoped (list(tenant) -> range(hour)), a new tenant: its list partition first
    ProvisionPartitions hourly = Planner.planRange(null, new AggregateId("acme", "app", "metrics"), hourlyPerTenant,
        Instant.parse("2026-11-25T10:00:00Z"), Instant.parse("2026-11-25T13:00:00Z"), "t", "r", NOW)
        .command().orElseThrow();
    // daily, tenant-scoped in Berlin across the end of DST (a 25-hour day), a tenant whose name needs a hash
    TablePolicy dailyBerlin = new TablePolicy("app", "events", Interval.DAY, berlin, false).perTenant("ts");
    Instant dstFrom = Interval.DAY.floor(Instant.parse("2026-10-24T12:00:00Z"), berlin);
    ProvisionPartitions daily = Planner.planRange(null, new AggregateId("Acme Corp", "app", "events"), dailyBerlin,
        dstFrom, Interval.DAY.next(Interval.DAY.next(Interval.DAY.next(dstFrom, berlin), berlin), berlin), "t", "r", NOW)
        .command().orElseThrow();
    // weekly, shared, in Berlin across the start of DST
    TablePolicy weekly = new TablePolicy("public", "orders", Interval.WEEK, berlin, false);
    Instant weekFrom = Interval.WEEK.floor(Instant.parse("2026-03-20T00:00:00Z"), berlin);
    List<PartitionSpec> weeks = Planner.partitions(weekly, weekFrom, Interval.WEEK.next(Interval.WEEK.next(weekFrom, berlin), berlin));
    ProvisionPartitions weeklyCommand = Planner.command(AggregateId.shared("public", "orders"), weeks, "rotate", "r", NOW);
    // monthly, shared, in New York, a table name long enough to be cut
    TablePolicy monthly = new TablePolicy("public", "m".repeat(70), Interval.MONTH, newYork, false);
    Instant monthFrom = Interval.MONTH.floor(Instant.parse("2026-11-25T00:00:00Z"), newYork);
    List<PartitionSpec> months = Planner.partitions(monthly, monthFrom, Interval.MONTH.next(Interval.MONTH.next(monthFrom, newYork), newYork));
    ProvisionPartitions monthlyCommand = Planner.command(AggregateId.shared("public", "m".repeat(70)), months, "rotate", "r", NOW);

    assertThat(hourly.getHeader().getIdempotencyKey()).isEqualTo("41578b001fb085b48b451519d59c35ac");
    assertThat(hourly.getPartitions()).extracting(PartitionSpec::getName).containsExactly("metrics_acme",
        "metrics_acme_p20261125_10", "metrics_acme_p20261125_11", "metrics_acme_p20261125_12");
    assertThat(daily.getHeader().getIdempotencyKey()).isEqualTo("6f0f2e11831bcd394ae8be46399e5311");
    assertThat(daily.getPartitions()).extracting(PartitionSpec::getName).containsExactly("events_acme_corp_a73cb456",
        "events_acme_corp_a73cb456_p20261024", "events_acme_corp_a73cb456_p20261025", "events_acme_corp_a73cb456_p20261026");
    assertThat(daily.getPartitions()).extracting(p -> Bounds.describe(p.getBound())).containsExactly("IN (Acme Corp)",
        "FROM (2026-10-23T22:00:00Z) TO (2026-10-24T22:00:00Z)", "FROM (2026-10-24T22:00:00Z) TO (2026-10-25T23:00:00Z)",
        "FROM (2026-10-25T23:00:00Z) TO (2026-10-26T23:00:00Z)");
    assertThat(weeklyCommand.getHeader().getIdempotencyKey()).isEqualTo("8c595cfa036e1f831e225dd39fb3e848");
    assertThat(weeks).extracting(PartitionSpec::getName).containsExactly("orders_p20260316", "orders_p20260323");
    assertThat(weeks).extracting(p -> Bounds.describe(p.getBound())).containsExactly(
        "FROM (2026-03-15T23:00:00Z) TO (2026-03-22T23:00:00Z)", "FROM (2026-03-22T23:00:00Z) TO (2026-03-29T22:00:00Z)");
    assertThat(monthlyCommand.getHeader().getIdempotencyKey()).isEqualTo("4d6f872441df98dedf67e7dc1eca40b3");
    assertThat(months).extracting(PartitionSpec::getName)
        .containsExactly("m".repeat(55) + "_p202611", "m".repeat(55) + "_p202612");
    assertThat(months).extracting(p -> Bounds.describe(p.getBound())).containsExactly(
        "FROM (2026-11-01T04:00:00Z) TO (2026-12-01T05:00:00Z)", "FROM (2026-12-01T05:00:00Z) TO (2027-01-01T05:00:00Z)");
    assertThat(Planner.tenantSlug("Acme Corp")).isEqualTo("acme_corp_a73cb456");
    assertThat(Planner.tenantSlug("tenant-0")).isEqualTo("tenant_0_0e74f59a");
    assertThat(Planner.sha256("abc")).isEqualTo("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  }

  @Test
  void heldPartitionsStartAtTheRetentionEdge() {
    TablePolicy kept = new TablePolicy("s", "t", Interval.DAY, ZoneId.of("UTC"), false, null, null, 7, Quota.UNLIMITED);
    Coverage c = new Coverage(Instant.parse("2026-10-01T00:00:00Z"), Instant.parse("2026-12-01T00:00:00Z"));
    assertThat(Planner.heldFrom(c, kept, NOW)).isEqualTo(Instant.parse("2026-11-18T00:00:00Z"));
    assertThat(Planner.countPartitions(kept, Planner.heldFrom(c, kept, NOW), c.to())).isEqualTo(13);
    assertThat(Planner.heldFrom(c, TablePolicy.dailyShared("s", "t"), NOW)).isEqualTo(c.from());
  }
}
