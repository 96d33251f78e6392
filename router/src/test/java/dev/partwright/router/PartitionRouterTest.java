package dev.partwright.router;

import static dev.partwright.router.Changes.BY_ID;
import static dev.partwright.router.Changes.BY_TIME;
import static dev.partwright.router.Changes.added;
import static dev.partwright.router.Changes.byDefault;
import static dev.partwright.router.Changes.hash;
import static dev.partwright.router.Changes.ids;
import static dev.partwright.router.Changes.key;
import static dev.partwright.router.Changes.list;
import static dev.partwright.router.Changes.replaced;
import static dev.partwright.router.Changes.retired;
import static dev.partwright.router.Changes.time;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.PartitionKey;
import dev.partwright.schemas.Strategy;
import dev.partwright.schemas.Unbounded;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** The router's change handling and resolution, from boundary changes alone (no servers). */
class PartitionRouterTest {

  static final String EVENTS = "public.events";
  static final Instant JAN_15 = Instant.parse("2024-01-15T12:00:00Z");

  private static PartitionRouter monthly() {
    PartitionRouter router = new PartitionRouter();
    router.apply(added(1, EVENTS, BY_TIME, "public.events_2024_01", time("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z")));
    router.apply(added(2, EVENTS, BY_TIME, "public.events_2024_02", time("2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z")));
    return router;
  }

  @Test
  void range_bounds_are_inclusive_below_exclusive_above_to_the_microsecond() {
    PartitionRouter router = monthly();
    Instant feb = Instant.parse("2024-02-01T00:00:00Z");
    assertThat(router.resolve(EVENTS, feb)).isEqualTo("public.events_2024_02");
    assertThat(router.resolve(EVENTS, feb.minusNanos(1_000))).isEqualTo("public.events_2024_01");
    assertThat(router.resolve(EVENTS, feb.atOffset(ZoneOffset.ofHours(-5)))).isEqualTo("public.events_2024_02");
    assertThat(router.resolve(EVENTS, OffsetDateTime.parse("2024-01-31T20:00:00-05:00"))).isEqualTo("public.events_2024_02");
    assertThat(router.resolve(EVENTS, "2024-01-31 23:59:59.999999+00")).isEqualTo("public.events_2024_01");
  }

  @Test
  void uncovered_value_names_the_nearest_covered_range() {
    PartitionRouter router = monthly();
    assertThatThrownBy(() -> router.resolve(EVENTS, Instant.parse("2024-03-05T00:00:00Z")))
        .isInstanceOfSatisfying(PartitionNotFoundException.class, e -> {
          assertThat(e.table()).isEqualTo(EVENTS);
          assertThat(e.nearestCoveredRange()).isEqualTo("public.events_2024_02 FROM (2024-02-01T00:00:00Z) TO (2024-03-01T00:00:00Z)");
        });
    assertThatThrownBy(() -> router.resolve("public.unknown", JAN_15))
        .isInstanceOfSatisfying(PartitionNotFoundException.class, e -> assertThat(e.nearestCoveredRange()).isNull());
  }

  @Test
  void default_partition_takes_what_nothing_else_covers_unless_told_to_throw() {
    PartitionRouter router = monthly();
    PartitionRouter strict = new PartitionRouter(PartitionRouter.WhenUncovered.THROW);
    BoundaryChange def = added(3, EVENTS, BY_TIME, "public.events_default", byDefault());
    router.apply(def);
    strict.apply(added(1, EVENTS, BY_TIME, "public.events_2024_01", time("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z")));
    strict.apply(def);
    Instant march = Instant.parse("2024-03-05T00:00:00Z");
    assertThat(router.resolve(EVENTS, march)).isEqualTo("public.events_default");
    assertThat(router.resolve(EVENTS, (Object) null)).isEqualTo("public.events_default");
    assertThat(router.partitionCount(EVENTS)).isEqualTo(3);
    assertThatThrownBy(() -> strict.resolve(EVENTS, march)).isInstanceOf(PartitionNotFoundException.class);
    assertThat(strict.resolve(EVENTS, JAN_15)).isEqualTo("public.events_2024_01");
  }

  @Test
  void stale_changes_are_ignored_and_redelivery_is_idempotent() {
    PartitionRouter router = monthly();
    BoundaryChange retire = retired(5, EVENTS, "public.events_2024_01");
    assertThat(router.apply(retire)).isTrue();
    // the add (version 1) arrives again after the retirement (version 5): stale
    assertThat(router.apply(added(1, EVENTS, BY_TIME, "public.events_2024_01", time("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z")))).isFalse();
    assertThatThrownBy(() -> router.resolve(EVENTS, JAN_15)).isInstanceOf(PartitionNotFoundException.class);
    assertThat(router.apply(retire)).isTrue();
    assertThat(router.partitions(EVENTS)).containsExactly("public.events_2024_02");
  }

  @Test
  void replaced_partition_swaps_bounds() {
    PartitionRouter router = monthly();
    router.apply(replaced(3, EVENTS, BY_TIME, "public.events_2024_02", "public.events_2024_02_wide",
        time("2024-02-01T00:00:00Z", "2024-04-01T00:00:00Z")));
    assertThat(router.resolve(EVENTS, Instant.parse("2024-03-05T00:00:00Z"))).isEqualTo("public.events_2024_02_wide");
    assertThat(router.partitions(EVENTS)).containsExactly("public.events_2024_01", "public.events_2024_02_wide");
  }

  @Test
  void maxvalue_includes_the_largest_value_and_minvalue_the_smallest() {
    PartitionRouter router = new PartitionRouter();
    router.apply(added(1, "s.t", BY_ID, "s.t_lo", ids(Unbounded.MINVALUE, 0L)));
    router.apply(added(1, "s.t", BY_ID, "s.t_hi", ids(0L, Unbounded.MAXVALUE)));
    assertThat(router.resolve("s.t", Long.MIN_VALUE)).isEqualTo("s.t_lo");
    assertThat(router.resolve("s.t", -1)).isEqualTo("s.t_lo");
    assertThat(router.resolve("s.t", 0L)).isEqualTo("s.t_hi");
    assertThat(router.resolve("s.t", Long.MAX_VALUE)).isEqualTo("s.t_hi");
    assertThatThrownBy(() -> router.resolve("s.t", "twelve")).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("id");
  }

  @Test
  void composite_levels_from_events_and_a_retired_parent_takes_its_subtree() {
    PartitionKey byTenant = key(Strategy.LIST, "tenant", "text");
    PartitionKey byDevice = key(Strategy.HASH, "device", "bigint");
    PartitionRouter router = new PartitionRouter();
    router.applyAll(List.of(
        added(1, "s.m", byTenant, "s.m_acme", list(false, "acme"), BY_TIME),
        added(2, "s.m_acme", BY_TIME, "s.m_acme_01", time("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z"), byDevice),
        added(3, "s.m_acme_01", byDevice, "s.m_acme_01_0", hash(2, 0)),
        added(3, "s.m_acme_01", byDevice, "s.m_acme_01_1", hash(2, 1)),
        added(4, "s.m", byTenant, "s.m_rest", byDefault())));
    String leaf = router.resolve("s.m", Map.of("tenant", "acme", "created_at", JAN_15, "device", 42L));
    assertThat(leaf).isIn("s.m_acme_01_0", "s.m_acme_01_1");
    assertThat(router.resolve("s.m", "acme", JAN_15, 42L)).isEqualTo(leaf);
    assertThat(router.resolve("s.m", "other", JAN_15, 42L)).isEqualTo("s.m_rest");
    // a partitioned partition with no partitions of its own takes no rows (PostgreSQL fails the insert too)
    router.apply(added(5, "s.m", byTenant, "s.m_globex", list(false, "globex"), BY_TIME));
    assertThatThrownBy(() -> router.resolve("s.m", "globex", JAN_15))
        .isInstanceOfSatisfying(PartitionNotFoundException.class, e -> assertThat(e.table()).isEqualTo("s.m_globex"));

    router.apply(retired(6, "s.m", "s.m_acme"));
    assertThat(router.resolve("s.m", "acme", JAN_15)).isEqualTo("s.m_rest");
    assertThat(router.partitionCount("s.m_acme_01")).isZero();
    assertThat(router.keyColumns("s.m")).containsExactly("tenant");
  }

  @Test
  void a_partition_added_later_under_a_leaf_makes_it_a_level() {
    PartitionKey byDevice = key(Strategy.HASH, "device", "bigint");
    PartitionRouter router = monthly();
    assertThat(router.resolve(EVENTS, JAN_15)).isEqualTo("public.events_2024_01");
    // no subpartitionBy on the first event: the sub-partition events alone make events_2024_01 a level
    router.apply(added(3, "public.events_2024_01", byDevice, "public.events_2024_01_all", hash(1, 0)));
    assertThat(router.resolve(EVENTS, Map.of("created_at", JAN_15, "device", 1L))).isEqualTo("public.events_2024_01_all");
  }

  @Test
  void malformed_changes_are_rejected_before_anything_changes() {
    PartitionRouter router = monthly();
    assertThatThrownBy(() -> router.apply(added(3, EVENTS, BY_TIME, "public.events_x", ids(1L, 2L))))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> router.apply(added(3, "s.h", key(Strategy.HASH, "k", "numeric"), "s.h_0", hash(1, 0))))
        .isInstanceOfSatisfying(UnsupportedPartitionKeyException.class, e -> assertThat(e.type()).isEqualTo("numeric"));
    PartitionKey byK = key(Strategy.HASH, "k", "bigint");
    router.apply(added(1, "s.h", byK, "s.h_0", hash(4, 0)));
    assertThatThrownBy(() -> router.apply(added(2, "s.h", byK, "s.h_1", hash(3, 1)))).hasMessageContaining("modulus 3");
    assertThat(router.partitions(EVENTS)).hasSize(2);
    assertThat(router.partitions("s.h")).containsExactly("s.h_0");
  }

  @Test
  void listeners_hear_every_applied_change_after_readers_can_see_it() {
    PartitionRouter router = new PartitionRouter();
    List<String> seen = new CopyOnWriteArrayList<>();
    router.addListener(change -> seen.add(router.resolve(EVENTS, JAN_15)));
    router.apply(added(1, EVENTS, BY_TIME, "public.events_2024_01", time("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z")));
    router.apply(added(0, EVENTS, BY_TIME, "public.events_2024_01", time("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z")));
    assertThat(seen).containsExactly("public.events_2024_01");
  }

  @Test
  void a_reader_thread_sees_a_new_partition_without_restart() throws Exception {
    PartitionRouter router = monthly();
    Instant march = Instant.parse("2024-03-10T00:00:00Z");
    AtomicReference<String> lastAnswer = new AtomicReference<>("not started");
    AtomicBoolean running = new AtomicBoolean(true);
    Thread reader = new Thread(() -> {
      while (running.get()) {
        try {
          lastAnswer.set(router.resolve(EVENTS, march));
        } catch (PartitionNotFoundException e) {
          lastAnswer.set(null);
        }
      }
    });
    reader.start();
    try {
      await().atMost(Duration.ofSeconds(5)).until(() -> lastAnswer.get() == null);
      router.apply(added(3, EVENTS, BY_TIME, "public.events_2024_03", time("2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z")));
      await().pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(1)).atMost(Duration.ofMillis(100)).until(() -> "public.events_2024_03".equals(lastAnswer.get()));
    } finally {
      running.set(false);
      reader.join();
    }
  }

  @Test
  void bootstrap_of_ten_thousand_partitions_in_one_batch_is_fast_and_lookups_are_log_n() {
    PartitionRouter router = new PartitionRouter();
    List<BoundaryChange> changes = new ArrayList<>();
    Instant start = Instant.parse("2020-01-01T00:00:00Z");
    for (int i = 0; i < 10_000; i++) {
      Instant from = start.plus(Duration.ofHours(i));
      changes.add(added(i, EVENTS, BY_TIME, "public.events_h" + i, time(from.toString(), from.plus(Duration.ofHours(1)).toString())));
    }
    long t0 = System.nanoTime();
    assertThat(router.applyAll(changes)).isEqualTo(10_000);
    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(5));
    assertThat(router.resolve(EVENTS, start.plus(Duration.ofHours(7_777)).plusSeconds(1))).isEqualTo("public.events_h7777");
  }
}
