package dev.partwright.router;

import dev.partwright.schemas.ListBound;
import dev.partwright.schemas.Unbounded;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * List partitions on one column: a hash map from each listed value (normalized: equal values are equal
 * in PostgreSQL under a deterministic collation) to its partition, plus the partition that lists NULL
 * and the DEFAULT one.
 */
final class ListLevel extends Level {

  private final KeyColumn column;
  private final Map<Object, Integer> byValue;
  private final int nullIndex;

  private ListLevel(String table, KeyColumn column, String[] children, Set<String> partitioned, int defaultIndex,
      Map<Object, Integer> byValue, int nullIndex) {
    super(table, new KeyColumn[] {column}, children, partitioned, defaultIndex);
    this.column = column;
    this.byValue = byValue;
    this.nullIndex = nullIndex;
  }

  static ListLevel build(String table, KeyColumn column, Map<String, Object> bounds, Set<String> partitioned) {
    String[] children = new String[bounds.size()];
    Map<Object, Integer> byValue = new HashMap<>();
    int nullIndex = -1;
    int defaultIndex = -1;
    int i = 0;
    for (Map.Entry<String, Object> e : bounds.entrySet()) {
      children[i] = e.getKey();
      if (e.getValue() instanceof ListBound l) {
        for (Object v : l.getValues()) {
          if (v instanceof Unbounded) {
            throw new IllegalArgumentException("partition " + e.getKey() + " of " + table + " lists " + v);
          }
          byValue.put(column.fromBound(v), i);
        }
        if (l.getIncludesNull()) {
          nullIndex = i;
        }
      } else {
        defaultIndex = i;
      }
      i++;
    }
    return new ListLevel(table, column, children, partitioned, defaultIndex, Map.copyOf(byValue), nullIndex);
  }

  @Override
  int route(Object[] raw) {
    if (raw[0] == null) {
      return nullIndex >= 0 ? nullIndex : defaultIndex;
    }
    Integer i = byValue.get(column.normalize(raw[0]));
    return i != null ? i : defaultIndex;
  }

  @Override
  String nearest(Object[] raw) {
    if (children.length == 0) {
      return null;
    }
    return raw[0] == null ? "no partition lists NULL" : "no partition lists " + column.format(column.normalize(raw[0]));
  }
}
