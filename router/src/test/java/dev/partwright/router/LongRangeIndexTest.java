package dev.partwright.router;

import static dev.partwright.router.Changes.BY_ID;
import static dev.partwright.router.Changes.added;
import static dev.partwright.router.Changes.byDefault;
import static dev.partwright.router.Changes.ids;
import static org.assertj.core.api.Assertions.assertThat;

import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.Unbounded;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.RepetitionInfo;
import org.junit.jupiter.api.Test;

/**
 * The bucket index of {@link LongRangeLevel} against the definition (a scan of {@code [lower, upper)})
 * on layouts built to break it: uneven widths, gaps, bounds near the ends of {@code long}, MINVALUE
 * first, MAXVALUE last, a DEFAULT partition, few and many partitions. Probes are every bound, its
 * neighbours, and random keys. PostgreSQL itself is the reference in {@code RouterEqualsPostgresTest}.
 */
class LongRangeIndexTest {

  static final String T = "public.ids";

  /** One partition as the reference sees it; lower null is MINVALUE, upper null MAXVALUE. */
  record Range(String name, Long lower, Long upper) {
    boolean covers(long key) {
      return (lower == null || key >= lower) && (upper == null || key < upper);
    }
  }

  @RepeatedTest(60)
  void the_index_answers_what_a_scan_answers(RepetitionInfo info) {
    SplittableRandom random = new SplittableRandom(info.getCurrentRepetition());
    int n = switch (info.getCurrentRepetition() % 4) {
      case 0 -> 1 + random.nextInt(20); // around the threshold where the index starts
      case 1 -> 100 + random.nextInt(400);
      case 2 -> 1_000 + random.nextInt(1_500);
      default -> 20 + random.nextInt(80);
    };
    boolean minFirst = random.nextBoolean();
    boolean maxLast = random.nextBoolean();
    boolean withDefault = random.nextBoolean();
    // widths: even (a schedule), wildly uneven, or spanning most of the long range
    int shape = random.nextInt(3);
    long step = shape == 2 ? Long.MAX_VALUE / (n + 1) * 2 - 1 : 1 + random.nextInt(1_000_000);
    long cursor = shape == 2 ? Long.MIN_VALUE + 1 + random.nextInt(1_000) : random.nextLong(-1_000_000_000_000L, 1_000_000_000_000L);
    List<Range> ranges = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      long width = shape == 1 ? 1 + (random.nextInt(10) == 0 ? random.nextLong(1L << 40) : random.nextInt(100)) : step;
      long gap = random.nextInt(5) == 0 ? (shape == 2 ? 0 : random.nextLong(1, 1L << 30)) : 0;
      long lower = cursor + gap;
      long upper = lower + Math.max(1, shape == 2 ? width - gap : width);
      if (upper <= lower) { // would overflow: stop here
        break;
      }
      ranges.add(new Range("public.ids_" + i, lower, upper));
      cursor = upper;
    }
    if (minFirst) {
      Range first = ranges.get(0);
      ranges.set(0, new Range(first.name(), null, first.upper()));
    }
    if (maxLast) {
      Range last = ranges.get(ranges.size() - 1);
      ranges.set(ranges.size() - 1, new Range(last.name(), last.lower(), null));
    }
    List<BoundaryChange> changes = new ArrayList<>();
    // delivered in random order: the level sorts them
    List<Range> shuffled = new ArrayList<>(ranges);
    java.util.Collections.shuffle(shuffled, new java.util.Random(random.nextLong()));
    for (Range r : shuffled) {
      changes.add(added(1, T, BY_ID, r.name(), ids(r.lower() == null ? Unbounded.MINVALUE : r.lower(),
          r.upper() == null ? Unbounded.MAXVALUE : r.upper())));
    }
    if (withDefault) {
      changes.add(added(1, T, BY_ID, "public.ids_default", byDefault()));
    }
    PartitionRouter router = new PartitionRouter();
    router.applyAll(changes);
    // the follower's path: one change at a time, each merged into the published arrays
    PartitionRouter incremental = new PartitionRouter();
    changes.forEach(incremental::apply);
    assertThat(incremental.partitions(T)).isEqualTo(router.partitions(T));

    List<Long> probes = new ArrayList<>(List.of(Long.MIN_VALUE, Long.MIN_VALUE + 1, Long.MAX_VALUE, Long.MAX_VALUE - 1, 0L));
    for (Range r : ranges) {
      for (Long edge : new Long[] {r.lower(), r.upper()}) {
        if (edge != null) {
          probes.add(edge);
          probes.add(edge - 1);
          probes.add(edge + 1);
        }
      }
    }
    long lo = probes.stream().skip(5).mapToLong(Long::longValue).min().orElse(-1_000);
    long hi = probes.stream().skip(5).mapToLong(Long::longValue).max().orElse(1_000);
    for (int i = 0; i < 2_000; i++) {
      probes.add(hi - lo > 0 ? random.nextLong(lo, hi) : random.nextLong()); // within the bounds' span
      probes.add(random.nextLong());
    }
    for (long key : probes) {
      String expected = withDefault ? "public.ids_default" : null;
      for (Range r : ranges) {
        if (r.covers(key)) {
          expected = r.name();
          break;
        }
      }
      for (PartitionRouter r : new PartitionRouter[] {router, incremental}) {
        String actual = resolveOrNull(r, key);
        if (!java.util.Objects.equals(actual, expected)) { // AssertJ per probe would dominate the run time
          assertThat(actual).as("key %d over %d ranges (shape %d, min %s, max %s, %s)", key, ranges.size(), shape, minFirst,
              maxLast, r == router ? "built at once" : "merged one by one").isEqualTo(expected);
        }
      }
    }
  }

  private static String resolveOrNull(PartitionRouter router, long key) {
    try {
      return router.resolve(T, key);
    } catch (PartitionNotFoundException e) {
      return null;
    }
  }

  @Test
  void merged_additions_then_a_retirement_a_default_and_a_sub_partitioned_partition() {
    PartitionRouter router = new PartitionRouter(PartitionRouter.WhenUncovered.THROW);
    for (int i = 99; i >= 0; i -= 2) { // out of order, with gaps
      router.apply(added(i, T, BY_ID, "public.ids_" + i, ids((long) i * 10, (long) i * 10 + 10)));
    }
    assertThat(router.resolve(T, 995L)).isEqualTo("public.ids_99");
    assertThat(resolveOrNull(router, 985L)).isNull();
    router.apply(added(200, T, BY_ID, "public.ids_98", ids(980L, 990L)));
    assertThat(router.resolve(T, 985L)).isEqualTo("public.ids_98");
    router.apply(dev.partwright.router.Changes.retired(201, T, "public.ids_99"));
    assertThat(resolveOrNull(router, 995L)).isNull();
    router.apply(added(202, T, BY_ID, "public.ids_99", ids(990L, 1000L)));
    assertThat(router.resolve(T, 995L)).isEqualTo("public.ids_99");
    router.apply(added(203, T, BY_ID, "public.ids_50", ids(500L, 510L), BY_ID)); // itself partitioned
    router.apply(added(204, "public.ids_50", BY_ID, "public.ids_50_a", ids(500L, 510L)));
    assertThat(router.resolve(T, 505L)).isEqualTo("public.ids_50_a");
    router.apply(added(205, T, BY_ID, "public.ids_52", ids(520L, 530L)));
    assertThat(router.resolve(T, 505L)).isEqualTo("public.ids_50_a");
    assertThat(router.resolve(T, 525L)).isEqualTo("public.ids_52");
    assertThat(router.partitions(T)).hasSize(53).startsWith("public.ids_1", "public.ids_3");
  }

  @Test
  void a_partition_that_is_itself_partitioned_is_descended_into_not_returned() {
    PartitionRouter router = new PartitionRouter();
    List<BoundaryChange> changes = new ArrayList<>();
    for (int i = 0; i < 100; i++) {
      changes.add(added(1, T, BY_ID, "public.ids_" + i, ids((long) i * 10, (long) i * 10 + 10), i == 42 ? BY_ID : null));
    }
    changes.add(added(1, "public.ids_42", BY_ID, "public.ids_42_low", ids(420L, 425L)));
    changes.add(added(1, "public.ids_42", BY_ID, "public.ids_42_high", ids(425L, 430L)));
    router.applyAll(changes);
    assertThat(router.resolve(T, 421L)).isEqualTo("public.ids_42_low");
    assertThat(router.resolve(T, 429L)).isEqualTo("public.ids_42_high");
    assertThat(router.resolve(T, 419L)).isEqualTo("public.ids_41");
  }
}
