package dev.partwright.router;

import java.util.Arrays;

/**
 * One table's range partitions on a single key that compares as a signed 64-bit number
 * (timestamptz in microseconds, date in days, bigint, integer, smallint): sorted, non-overlapping
 * {@code [lower, upper)} intervals in plain arrays. Immutable: a change builds a new one, readers
 * never lock. Lookup is a binary search.
 */
final class RangeTable {

  static final RangeTable EMPTY = new RangeTable(new long[0], new long[0], new String[0], null);

  private final long[] lowers;
  private final long[] uppers;
  private final String[] names;
  private final String defaultPartition;

  private RangeTable(long[] lowers, long[] uppers, String[] names, String defaultPartition) {
    this.lowers = lowers;
    this.uppers = uppers;
    this.names = names;
    this.defaultPartition = defaultPartition;
  }

  int size() {
    return names.length;
  }

  String defaultPartition() {
    return defaultPartition;
  }

  /** The partition holding {@code key}, or null. */
  String find(long key) {
    int lo = 0;
    int hi = lowers.length - 1;
    while (lo <= hi) {
      int mid = (lo + hi) >>> 1;
      if (lowers[mid] <= key) {
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    // hi: last partition whose lower bound <= key
    if (hi >= 0 && key < uppers[hi]) {
      return names[hi];
    }
    return defaultPartition;
  }

  /** Index of the covered range nearest to {@code key}, or -1 when there is none. */
  int nearest(long key) {
    if (names.length == 0) {
      return -1;
    }
    int i = Arrays.binarySearch(lowers, key);
    int idx = i >= 0 ? i : Math.max(0, -i - 2);
    if (idx + 1 < names.length && Math.abs(lowers[idx + 1] - key) < Math.abs(key - uppers[idx])) {
      return idx + 1;
    }
    return idx;
  }

  long lower(int i) {
    return lowers[i];
  }

  long upper(int i) {
    return uppers[i];
  }

  String name(int i) {
    return names[i];
  }

  /** A copy with {@code [lower, upper)} named {@code name}; an entry of the same name is replaced. */
  RangeTable with(String name, long lower, long upper) {
    RangeTable base = without(name);
    int at = Arrays.binarySearch(base.lowers, lower);
    int pos = at >= 0 ? at : -at - 1;
    int n = base.names.length;
    long[] l = new long[n + 1];
    long[] u = new long[n + 1];
    String[] s = new String[n + 1];
    System.arraycopy(base.lowers, 0, l, 0, pos);
    System.arraycopy(base.uppers, 0, u, 0, pos);
    System.arraycopy(base.names, 0, s, 0, pos);
    l[pos] = lower;
    u[pos] = upper;
    s[pos] = name;
    System.arraycopy(base.lowers, pos, l, pos + 1, n - pos);
    System.arraycopy(base.uppers, pos, u, pos + 1, n - pos);
    System.arraycopy(base.names, pos, s, pos + 1, n - pos);
    return new RangeTable(l, u, s, base.defaultPartition);
  }

  RangeTable withDefault(String name) {
    return new RangeTable(lowers, uppers, names, name);
  }

  RangeTable without(String name) {
    if (name.equals(defaultPartition)) {
      return new RangeTable(lowers, uppers, names, null);
    }
    int idx = -1;
    for (int i = 0; i < names.length; i++) {
      if (names[i].equals(name)) {
        idx = i;
        break;
      }
    }
    if (idx < 0) {
      return this;
    }
    int n = names.length;
    long[] l = new long[n - 1];
    long[] u = new long[n - 1];
    String[] s = new String[n - 1];
    System.arraycopy(lowers, 0, l, 0, idx);
    System.arraycopy(uppers, 0, u, 0, idx);
    System.arraycopy(names, 0, s, 0, idx);
    System.arraycopy(lowers, idx + 1, l, idx, n - idx - 1);
    System.arraycopy(uppers, idx + 1, u, idx, n - idx - 1);
    System.arraycopy(names, idx + 1, s, idx, n - idx - 1);
    return new RangeTable(l, u, s, defaultPartition);
  }
}
