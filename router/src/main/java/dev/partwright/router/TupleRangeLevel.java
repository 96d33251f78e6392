package dev.partwright.router;

import dev.partwright.schemas.RangeBound;
import dev.partwright.schemas.Unbounded;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Range partitions on several columns, or on one text or uuid column. Bounds compare as PostgreSQL's
 * {@code partition_rbound_datum_cmp} does: column by column, a MINVALUE in a bound is below every value
 * and a MAXVALUE above it, and decides the comparison there (PostgreSQL requires the columns after
 * one to be MINVALUE/MAXVALUE too). Partitions are sorted by lower bound and found by binary search.
 */
final class TupleRangeLevel extends Level {

  private static final byte MIN = -1;
  private static final byte VALUE = 0;
  private static final byte MAX = 1;

  /** A bound: normalized values, and per column whether it is MINVALUE, a value or MAXVALUE. */
  private record Bound(Object[] values, byte[] kinds) {}

  private record Entry(String name, Bound lower, Bound upper) {}

  private final Bound[] lowers;
  private final Bound[] uppers;

  private TupleRangeLevel(String table, KeyColumn[] columns, String[] children, Set<String> partitioned, int defaultIndex,
      Bound[] lowers, Bound[] uppers) {
    super(table, columns, children, partitioned, defaultIndex);
    this.lowers = lowers;
    this.uppers = uppers;
  }

  static TupleRangeLevel build(String table, KeyColumn[] columns, Map<String, Object> bounds, Set<String> partitioned) {
    List<Entry> entries = new ArrayList<>();
    for (Map.Entry<String, Object> e : bounds.entrySet()) {
      if (e.getValue() instanceof RangeBound r) {
        entries.add(new Entry(e.getKey(), bound(table, e.getKey(), columns, r.getFrom()), bound(table, e.getKey(), columns, r.getTo())));
      }
    }
    entries.sort((a, b) -> compareBounds(columns, a.lower(), b.lower()));
    int n = entries.size();
    String def = defaultName(bounds);
    String[] children = new String[n + (def == null ? 0 : 1)];
    Bound[] lowers = new Bound[n];
    Bound[] uppers = new Bound[n];
    for (int i = 0; i < n; i++) {
      children[i] = entries.get(i).name();
      lowers[i] = entries.get(i).lower();
      uppers[i] = entries.get(i).upper();
    }
    if (def != null) {
      children[n] = def;
    }
    return new TupleRangeLevel(table, columns, children, partitioned, def == null ? -1 : n, lowers, uppers);
  }

  private static Bound bound(String table, String partition, KeyColumn[] columns, List<Object> values) {
    if (values.size() != columns.length) {
      throw new IllegalArgumentException("partition " + partition + " of " + table + " has a " + values.size()
          + "-column bound for a " + columns.length + "-column key");
    }
    Object[] v = new Object[columns.length];
    byte[] k = new byte[columns.length];
    for (int i = 0; i < columns.length; i++) {
      Object x = values.get(i);
      if (x == Unbounded.MINVALUE) {
        k[i] = MIN;
      } else if (x == Unbounded.MAXVALUE) {
        k[i] = MAX;
      } else {
        k[i] = VALUE;
        v[i] = columns[i].fromBound(x);
      }
    }
    return new Bound(v, k);
  }

  private static int compareBounds(KeyColumn[] columns, Bound a, Bound b) {
    for (int i = 0; i < columns.length; i++) {
      if (a.kinds()[i] != b.kinds()[i]) {
        return Byte.compare(a.kinds()[i], b.kinds()[i]);
      }
      if (a.kinds()[i] != VALUE) {
        return 0;
      }
      int c = columns[i].compare(a.values()[i], b.values()[i]);
      if (c != 0) {
        return c;
      }
    }
    return 0;
  }

  /** Sign of (row - bound), PostgreSQL's rule: the first MINVALUE/MAXVALUE column decides. */
  private int compareRow(Object[] row, Bound bound) {
    for (int i = 0; i < columns.length; i++) {
      byte kind = bound.kinds()[i];
      if (kind == MIN) {
        return 1;
      }
      if (kind == MAX) {
        return -1;
      }
      int c = columns[i].compare(row[i], bound.values()[i]);
      if (c != 0) {
        return c;
      }
    }
    return 0;
  }

  /** Normalized row values, or null when one is NULL (range partitions never take NULL). */
  private Object[] normalized(Object[] raw) {
    Object[] row = new Object[columns.length];
    for (int i = 0; i < columns.length; i++) {
      if (raw[i] == null) {
        return null;
      }
      row[i] = columns[i].normalize(raw[i]);
    }
    return row;
  }

  /** Index of the last partition whose lower bound is at most {@code row}, or -1. */
  private int last(Object[] row) {
    int lo = 0;
    int hi = lowers.length - 1;
    while (lo <= hi) {
      int mid = (lo + hi) >>> 1;
      if (compareRow(row, lowers[mid]) >= 0) {
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return hi;
  }

  @Override
  int route(Object[] raw) {
    Object[] row = normalized(raw);
    if (row == null) {
      return defaultIndex;
    }
    int i = last(row);
    if (i >= 0 && compareRow(row, uppers[i]) < 0) {
      return i;
    }
    return defaultIndex;
  }

  @Override
  String nearest(Object[] raw) {
    if (lowers.length == 0) {
      return null;
    }
    Object[] row = normalized(raw);
    if (row == null) {
      return "range partitions never take NULL";
    }
    int i = Math.max(0, last(row));
    return children[i] + " FROM (" + describe(lowers[i]) + ") TO (" + describe(uppers[i]) + ")";
  }

  private String describe(Bound b) {
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < columns.length; i++) {
      if (i > 0) {
        out.append(", ");
      }
      out.append(b.kinds()[i] == MIN ? "MINVALUE" : b.kinds()[i] == MAX ? "MAXVALUE" : columns[i].format(b.values()[i]));
    }
    return out.toString();
  }
}
