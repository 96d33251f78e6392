package dev.partwright.router;

import dev.partwright.schemas.RangeBound;
import dev.partwright.schemas.Unbounded;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Range partitions on one column whose values normalize to a {@code long} (every integer, date and
 * timestamp type): sorted {@code [lower, upper)} intervals, found through a small bucket index.
 * MINVALUE is {@code Long.MIN_VALUE}, which as an inclusive lower bound admits every value; MAXVALUE
 * is {@code Long.MAX_VALUE} plus a flag, because PostgreSQL puts even {@code infinity} (which is
 * {@code Long.MAX_VALUE}) below MAXVALUE.
 *
 * <p>Why an index and not a plain binary search: partitions are created on a schedule (hourly,
 * daily, monthly), so their lower bounds are close to evenly spaced. Cutting the span of lower bounds
 * into about as many equal buckets as there are partitions (a power of two, so a bucket is one shift)
 * and remembering, per bucket, the last partition starting at or before it, leaves one or two
 * candidates per lookup: a constant number of cache lines instead of ~14 dependent loads for 10,000
 * partitions, most of them misses. Uneven bounds only make a bucket hold more candidates, which are
 * then halved branch-free as before, so the worst case stays O(log n).
 */
final class LongRangeLevel extends Level {

  /** Fewer partitions than this are searched directly: the index would not pay for its cache line. */
  private static final int INDEX_MIN_PARTITIONS = 16;
  private static final int MAX_BUCKET_BITS = 20;

  private final KeyColumn column;
  /** Lower and upper bound of partition i at 2i and 2i + 1: one cache line answers both. */
  private final long[] bounds;
  private final int n;
  private final boolean[] toMaxValue;
  /** Partition names by child index, null where the child is itself partitioned (the hot path's answer). */
  private final String[] leaves;
  /** Bucket b: index of the last partition whose lower bound is at most {@code base + (b << shift)}. */
  private final int[] buckets;
  private final long base;
  private final int shift;

  private LongRangeLevel(String table, KeyColumn column, String[] children, boolean[] partitioned, int defaultIndex,
      long[] bounds, boolean[] toMaxValue) {
    super(table, new KeyColumn[] {column}, children, partitioned, defaultIndex);
    this.column = column;
    this.n = bounds.length / 2;
    this.bounds = bounds;
    this.toMaxValue = toMaxValue;
    this.leaves = new String[children.length];
    for (int i = 0; i < children.length; i++) {
      leaves[i] = this.partitioned[i] ? null : children[i];
    }
    if (n < INDEX_MIN_PARTITIONS) {
      this.buckets = null;
      this.base = 0;
      this.shift = 0;
      return;
    }
    // MINVALUE (or -infinity) as the first lower bound would stretch the span to 2^63: leave it out
    int first = bounds[0] == Long.MIN_VALUE ? 1 : 0;
    this.base = bounds[2 * first];
    long span = bounds[2 * n - 2] - base; // unsigned: lower bounds are sorted, so it cannot wrap past 2^64
    int bits = Math.min(MAX_BUCKET_BITS, 32 - Integer.numberOfLeadingZeros(n - 1));
    this.shift = Math.max(0, 64 - Long.numberOfLeadingZeros(span) - bits);
    int count = (int) (span >>> shift) + 2; // the last bucket starts past every lower bound: a sentinel
    this.buckets = new int[count];
    int j = first;
    for (int b = 0; b < count; b++) {
      long offset = (long) b << shift;
      if (Long.compareUnsigned(offset, span) > 0) {
        buckets[b] = n - 1;
        continue;
      }
      long start = base + offset;
      while (j + 1 < n && bounds[2 * j + 2] <= start) {
        j++;
      }
      buckets[b] = j;
    }
  }

  private record Entry(String name, long lower, long upper, boolean toMaxValue) {}

  static LongRangeLevel build(String table, KeyColumn column, Map<String, Object> bounds, Set<String> partitioned) {
    List<Entry> entries = new ArrayList<>();
    for (Map.Entry<String, Object> e : bounds.entrySet()) {
      if (e.getValue() instanceof RangeBound r) {
        Entry en = entry(table, column, e.getKey(), r);
        if (en != null) {
          entries.add(en);
        }
      }
    }
    entries.sort(Comparator.comparingLong(Entry::lower));
    int n = entries.size();
    String def = defaultName(bounds);
    String[] children = new String[n + (def == null ? 0 : 1)];
    long[] sorted = new long[2 * n];
    boolean[] toMax = new boolean[n];
    for (int i = 0; i < n; i++) {
      Entry en = entries.get(i);
      children[i] = en.name();
      sorted[2 * i] = en.lower();
      sorted[2 * i + 1] = en.upper();
      toMax[i] = en.toMaxValue();
    }
    if (def != null) {
      children[n] = def;
    }
    return new LongRangeLevel(table, column, children, flags(children, partitioned), def == null ? -1 : n, sorted, toMax);
  }

  /** One range partition's bound, normalized; null for an empty range (PostgreSQL refuses to create one). */
  private static Entry entry(String table, KeyColumn column, String name, RangeBound r) {
    if (r.getFrom().size() != 1 || r.getTo().size() != 1) {
      throw new IllegalArgumentException("partition " + name + " of " + table + " has a " + r.getFrom().size()
          + "-column bound for a 1-column key");
    }
    Object from = r.getFrom().get(0);
    Object to = r.getTo().get(0);
    if (from == Unbounded.MAXVALUE || to == Unbounded.MINVALUE) {
      return null;
    }
    long lower = from == Unbounded.MINVALUE ? Long.MIN_VALUE : (Long) column.fromBound(from);
    boolean max = to == Unbounded.MAXVALUE;
    long upper = max ? Long.MAX_VALUE : (Long) column.fromBound(to);
    return new Entry(name, lower, upper, max);
  }

  private static boolean[] flags(String[] children, Set<String> partitionedNames) {
    boolean[] out = new boolean[children.length];
    for (int i = 0; i < children.length; i++) {
      out[i] = partitionedNames.contains(children[i]);
    }
    return out;
  }

  /**
   * This level plus {@code added} range partitions (new names, none already here), merged into copies
   * of the sorted arrays; the DEFAULT partition, if any, stays last. What a follower does for each
   * added partition of a big table: parsing and sorting every bound again (a record per partition)
   * took ~0.5 ms p50 and up to 5 ms p90 per change at 10,000 partitions, the merge 0.2 / 0.4 ms
   * ({@code BoundaryLatencyBenchmark}).
   */
  LongRangeLevel plus(Map<String, Object> added, Set<String> partitionedNames) {
    List<Entry> entries = new ArrayList<>(added.size());
    for (Map.Entry<String, Object> e : added.entrySet()) {
      Entry en = entry(table, column, e.getKey(), (RangeBound) e.getValue());
      if (en != null) {
        entries.add(en);
      }
    }
    entries.sort(Comparator.comparingLong(Entry::lower));
    int k = entries.size();
    int total = n + k;
    boolean hasDefault = defaultIndex >= 0;
    String[] children = new String[total + (hasDefault ? 1 : 0)];
    boolean[] partitioned = new boolean[children.length];
    long[] merged = new long[2 * total];
    boolean[] toMax = new boolean[total];
    int i = 0;
    int j = 0;
    for (int out = 0; out < total; out++) {
      if (j < k && (i >= n || entries.get(j).lower() < bounds[2 * i])) {
        Entry en = entries.get(j++);
        children[out] = en.name();
        partitioned[out] = partitionedNames.contains(en.name());
        merged[2 * out] = en.lower();
        merged[2 * out + 1] = en.upper();
        toMax[out] = en.toMaxValue();
      } else {
        children[out] = this.children[i];
        partitioned[out] = this.partitioned[i];
        merged[2 * out] = bounds[2 * i];
        merged[2 * out + 1] = bounds[2 * i + 1];
        toMax[out] = toMaxValue[i];
        i++;
      }
    }
    if (hasDefault) {
      children[total] = this.children[defaultIndex];
      partitioned[total] = this.partitioned[defaultIndex];
    }
    return new LongRangeLevel(table, column, children, partitioned, hasDefault ? total : -1, merged, toMax);
  }

  KeyColumn column() {
    return column;
  }

  @Override
  int route(Object[] raw) {
    return raw[0] == null ? defaultIndex : find(column.toLong(raw[0]));
  }

  /** The child index holding {@code key} (the DEFAULT partition's when none covers it, else -1); no allocation. */
  int find(long key) {
    int i = last(key);
    if (i >= 0 && (key < bounds[2 * i + 1] || toMaxValue[i])) {
      return i;
    }
    return defaultIndex;
  }

  /**
   * The leaf partition covering {@code key}, or null when none does or the covering one is itself
   * partitioned (the caller then takes the general path, which knows DEFAULT and sub-levels).
   */
  String leaf(long key) {
    int i = last(key);
    if (i >= 0 && (key < bounds[2 * i + 1] || toMaxValue[i])) {
      return leaves[i];
    }
    return null;
  }

  /** Index of the last partition whose lower bound is at most {@code key}, or -1. */
  private int last(long key) {
    long[] b = bounds;
    int n = this.n;
    if (n == 0 || key < b[0]) {
      return -1;
    }
    if (key >= b[2 * n - 2]) {
      return n - 1;
    }
    int lo;
    int len;
    if (buckets == null) {
      lo = 0;
      len = n;
    } else if (key < base) {
      return 0; // between MINVALUE and the first finite lower bound
    } else {
      // key < the last lower bound, so the bucket is below the sentinel and bucket + 1 exists
      int bucket = (int) ((key - base) >>> shift);
      lo = buckets[bucket];
      len = buckets[bucket + 1] - lo + 1;
    }
    // branch-free halving (the JIT turns the select into a conditional move): one or two rounds
    // inside a bucket, log2(n) without the index
    while (len > 1) {
      int half = len >>> 1;
      lo = b[2 * (lo + half)] <= key ? lo + half : lo;
      len -= half;
    }
    return lo;
  }

  @Override
  String nearest(Object[] raw) {
    if (n == 0) {
      return null;
    }
    if (raw[0] == null) {
      return "range partitions never take NULL";
    }
    long key = column.toLong(raw[0]);
    int below = last(key);
    if (below < 0) {
      return describe(0);
    }
    // key is at or past the upper bound of `below`: pick whichever edge is closer
    if (below + 1 < n && gap(bounds[2 * below + 2], key) < gap(key, bounds[2 * below + 1])) {
      return describe(below + 1);
    }
    return describe(below);
  }

  /** {@code a - b} for {@code a >= b}, saturating instead of overflowing. */
  private static long gap(long a, long b) {
    long d = a - b;
    return d < 0 ? Long.MAX_VALUE : d;
  }

  String describe(int i) {
    String from = bounds[2 * i] == Long.MIN_VALUE ? "MINVALUE" : column.format(bounds[2 * i]);
    String to = toMaxValue[i] ? "MAXVALUE" : column.format(bounds[2 * i + 1]);
    return children[i] + " FROM (" + from + ") TO (" + to + ")";
  }
}
