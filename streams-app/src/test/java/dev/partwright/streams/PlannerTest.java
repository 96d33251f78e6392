package dev.partwright.streams;

import static org.assertj.core.api.Assertions.assertThat;

import dev.partwright.schemas.AggregateId;
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

  @Test
  void heldPartitionsStartAtTheRetentionEdge() {
    TablePolicy kept = new TablePolicy("s", "t", Interval.DAY, ZoneId.of("UTC"), false, null, null, 7, Quota.UNLIMITED);
    Coverage c = new Coverage(Instant.parse("2026-10-01T00:00:00Z"), Instant.parse("2026-12-01T00:00:00Z"));
    assertThat(Planner.heldFrom(c, kept, NOW)).isEqualTo(Instant.parse("2026-11-18T00:00:00Z"));
    assertThat(Planner.countPartitions(kept, Planner.heldFrom(c, kept, NOW), c.to())).isEqualTo(13);
    assertThat(Planner.heldFrom(c, TablePolicy.dailyShared("s", "t"), NOW)).isEqualTo(c.from());
  }
}
