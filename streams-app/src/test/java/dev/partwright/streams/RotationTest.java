package dev.partwright.streams;

import static org.assertj.core.api.Assertions.assertThat;

import dev.partwright.schemas.AggregateId;
import dev.partwright.schemas.PartitionSpec;
import java.time.Instant;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class RotationTest {

  private static final Instant NOW = Instant.parse("2026-11-25T10:15:00Z");
  private static final AggregateId EVENTS = AggregateId.shared("public", "events");
  private static final TablePolicy DAILY = TablePolicy.dailyShared("public", "events");

  private static Rotation.Existing day(String date, long bytes) {
    Instant from = Instant.parse(date + "T00:00:00Z");
    return new Rotation.Existing("public.events_p" + date.replace("-", ""), from, from.plusSeconds(86400), bytes);
  }

  @Test
  void fillsEveryGapFromTodayToTheBufferAndNothingElse() {
    List<Rotation.Existing> existing = List.of(day("2026-11-25", 100), day("2026-11-27", 300));
    Rotation.Plan plan = Rotation.plan(DAILY, EVENTS, "events", existing, 5, Quota.UNLIMITED, NOW);

    assertThat(plan.provision().orElseThrow().getPartitions()).extracting(PartitionSpec::getName)
        .containsExactly("events_p20261126", "events_p20261128", "events_p20261129", "events_p20261130");
    assertThat(plan.coveredUntilBefore()).isEqualTo(Instant.parse("2026-11-26T00:00:00Z"));
    assertThat(plan.coveredUntilAfter()).isEqualTo(Instant.parse("2026-12-01T00:00:00Z"));
    assertThat(plan.partitionsAfter()).isEqualTo(6);
    assertThat(plan.projectedBytes()).isEqualTo(400 + 4 * 200);
    assertThat(plan.violation()).isEmpty();
    assertThat(plan.conflicts()).isEmpty();
  }

  @Test
  void aSecondRunAfterTheFirstFindsNothingToDoAndOverlappingRunsAgreeOnTheCommand() {
    Rotation.Plan first = Rotation.plan(DAILY, EVENTS, "events", List.of(), 3, Quota.UNLIMITED, NOW);
    Rotation.Plan concurrent = Rotation.plan(DAILY, EVENTS, "events", List.of(), 3, Quota.UNLIMITED, NOW.plusSeconds(60));
    assertThat(concurrent.provision().orElseThrow().getHeader().getIdempotencyKey())
        .isEqualTo(first.provision().orElseThrow().getHeader().getIdempotencyKey());

    List<Rotation.Existing> created = new ArrayList<>();
    for (PartitionSpec p : first.provision().orElseThrow().getPartitions()) {
      created.add(new Rotation.Existing(p.getName(), Harness.from(p), Harness.to(p), 0));
    }
    Rotation.Plan second = Rotation.plan(DAILY, EVENTS, "events", created, 3, Quota.UNLIMITED, NOW);
    assertThat(second.provision()).isEmpty();
    assertThat(second.coveredUntilBefore()).isEqualTo(first.coveredUntilAfter());
  }

  @Test
  void wideExistingPartitionsCoverAndPartialOverlapsAreConflicts() {
    Rotation.Existing month = new Rotation.Existing("public.events_nov", Instant.parse("2026-11-01T00:00:00Z"),
        Instant.parse("2026-11-27T12:00:00Z"), 0);
    Rotation.Plan plan = Rotation.plan(DAILY, EVENTS, "events", List.of(month), 4, Quota.UNLIMITED, NOW);
    assertThat(plan.conflicts()).singleElement().asString().contains("2026-11-27T00:00:00Z").contains("events_nov");
    assertThat(plan.provision().orElseThrow().getPartitions()).extracting(PartitionSpec::getName)
        .containsExactly("events_p20261128", "events_p20261129");
    assertThat(plan.coveredUntilAfter()).isEqualTo(Instant.parse("2026-11-27T12:00:00Z"));
  }

  @Test
  void partitionsWhollyPastRetentionAreRetiredOldestFirst() {
    TablePolicy kept = new TablePolicy("public", "events", Interval.DAY, ZoneId.of("UTC"), false, null, null, 2,
        Quota.UNLIMITED);
    List<Rotation.Existing> existing = List.of(day("2026-11-22", 1), day("2026-11-21", 1), day("2026-11-23", 1),
        day("2026-11-24", 1), day("2026-11-25", 1));
    Rotation.Plan plan = Rotation.plan(kept, EVENTS, "events", existing, 1, Quota.UNLIMITED, NOW);
    assertThat(plan.retire().orElseThrow().getPartitions())
        .containsExactly("public.events_p20261121", "public.events_p20261122");
    assertThat(plan.retire().orElseThrow().getHeader().getIssuedBy()).isEqualTo("rotate");
  }

  @Test
  void gapsBetweenTheOldestKeptPartitionAndTodayAreFilledToo() {
    TablePolicy kept = new TablePolicy("public", "events", Interval.DAY, ZoneId.of("UTC"), false, null, null, 5,
        Quota.UNLIMITED);
    Rotation.Plan plan = Rotation.plan(kept, EVENTS, "events", List.of(day("2026-11-10", 1), day("2026-11-21", 1)), 1,
        Quota.UNLIMITED, NOW);
    assertThat(plan.retire().orElseThrow().getPartitions()).containsExactly("public.events_p20261110");
    assertThat(plan.provision().orElseThrow().getPartitions()).extracting(PartitionSpec::getName).containsExactly(
        "events_p20261122", "events_p20261123", "events_p20261124", "events_p20261125", "events_p20261126");
    Rotation.Plan forever = Rotation.plan(DAILY, EVENTS, "events", List.of(day("2026-11-22", 1)), 1, Quota.UNLIMITED, NOW);
    assertThat(forever.provision().orElseThrow().getPartitions()).extracting(PartitionSpec::getName)
        .containsExactly("events_p20261123", "events_p20261124", "events_p20261125", "events_p20261126");
  }

  @Test
  void overQuotaIsAVerdictNotAnError() {
    Rotation.Plan plan = Rotation.plan(DAILY.withQuota(new Quota(10, Long.MAX_VALUE)), EVENTS, "events", List.of(), 30,
        Quota.UNLIMITED, NOW);
    assertThat(plan.violation().orElseThrow().code()).isEqualTo(Quota.PARTITIONS);
    assertThat(plan.provision()).isPresent();
  }
}
