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
 * timestamp type): sorted {@code [lower, upper)} intervals in plain arrays, found by binary search.
 * MINVALUE is {@code Long.MIN_VALUE}, which as an inclusive lower bound admits every value; MAXVALUE
 * is {@code Long.MAX_VALUE} plus a flag, because PostgreSQL puts even {@code infinity} (which is
 * {@code Long.MAX_VALUE}) below MAXVALUE.
 */
final class LongRangeLevel extends Level {

  private final KeyColumn column;
  private final long[] lowers;
  private final long[] uppers;
  private final boolean[] toMaxValue;

  private LongRangeLevel(String table, KeyColumn column, String[] children, Set<String> partitioned, int defaultIndex,
      long[] lowers, long[] uppers, boolean[] toMaxValue) {
    super(table, new KeyColumn[] {column}, children, partitioned, defaultIndex);
    this.column = column;
    this.lowers = lowers;
    this.uppers = uppers;
    this.toMaxValue = toMaxValue;
  }

  private record Entry(String name, long lower, long upper, boolean toMaxValue) {}

  static LongRangeLevel build(String table, KeyColumn column, Map<String, Object> bounds, Set<String> partitioned) {
    List<Entry> entries = new ArrayList<>();
    for (Map.Entry<String, Object> e : bounds.entrySet()) {
      if (!(e.getValue() instanceof RangeBound r)) {
        continue;
      }
      if (r.getFrom().size() != 1 || r.getTo().size() != 1) {
        throw new IllegalArgumentException("partition " + e.getKey() + " of " + table + " has a " + r.getFrom().size()
            + "-column bound for a 1-column key");
      }
      Object from = r.getFrom().get(0);
      Object to = r.getTo().get(0);
      if (from == Unbounded.MAXVALUE || to == Unbounded.MINVALUE) {
        continue; // an empty range; PostgreSQL refuses to create one
      }
      long lower = from == Unbounded.MINVALUE ? Long.MIN_VALUE : (Long) column.fromBound(from);
      boolean max = to == Unbounded.MAXVALUE;
      long upper = max ? Long.MAX_VALUE : (Long) column.fromBound(to);
      entries.add(new Entry(e.getKey(), lower, upper, max));
    }
    entries.sort(Comparator.comparingLong(Entry::lower));
    int n = entries.size();
    String def = defaultName(bounds);
    String[] children = new String[n + (def == null ? 0 : 1)];
    long[] lowers = new long[n];
    long[] uppers = new long[n];
    boolean[] toMax = new boolean[n];
    for (int i = 0; i < n; i++) {
      Entry en = entries.get(i);
      children[i] = en.name();
      lowers[i] = en.lower();
      uppers[i] = en.upper();
      toMax[i] = en.toMaxValue();
    }
    if (def != null) {
      children[n] = def;
    }
    return new LongRangeLevel(table, column, children, partitioned, def == null ? -1 : n, lowers, uppers, toMax);
  }

  KeyColumn column() {
    return column;
  }

  @Override
  int route(Object[] raw) {
    return raw[0] == null ? defaultIndex : find(column.toLong(raw[0]));
  }

  /** The child index holding {@code key}: O(log n), no allocation. */
  int find(long key) {
    int hi = last(key);
    if (hi >= 0 && (key < uppers[hi] || toMaxValue[hi])) {
      return hi;
    }
    return defaultIndex;
  }

  /**
   * Index of the last partition whose lower bound is at most {@code key}, or -1. Branch-free halving
   * (the JIT turns the select into a conditional move), so random keys cost no mispredicted branches.
   */
  private int last(long key) {
    long[] l = lowers;
    int n = l.length;
    if (n == 0 || key < l[0]) {
      return -1;
    }
    int base = 0;
    while (n > 1) {
      int half = n >>> 1;
      base = l[base + half] <= key ? base + half : base;
      n -= half;
    }
    return base;
  }

  @Override
  String nearest(Object[] raw) {
    if (lowers.length == 0) {
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
    if (below + 1 < lowers.length && gap(lowers[below + 1], key) < gap(key, uppers[below])) {
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
    String from = lowers[i] == Long.MIN_VALUE ? "MINVALUE" : column.format(lowers[i]);
    String to = toMaxValue[i] ? "MAXVALUE" : column.format(uppers[i]);
    return children[i] + " FROM (" + from + ") TO (" + to + ")";
  }
}
