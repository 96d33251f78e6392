package dev.partwright.router;

import dev.partwright.schemas.DefaultBound;
import dev.partwright.schemas.HashBound;
import dev.partwright.schemas.ListBound;
import dev.partwright.schemas.PartitionKey;
import dev.partwright.schemas.RangeBound;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One partitioned table's routing: its key columns and its partitions, in an immutable structure built
 * once per change and then read without locks. A child index says which partition takes a row; a
 * partition that is itself partitioned is flagged, so the router knows to descend.
 */
abstract sealed class Level permits LongRangeLevel, TupleRangeLevel, HashLevel, ListLevel {

  final String table;
  final KeyColumn[] columns;
  /** Partition names by child index. */
  final String[] children;
  /** Which children are themselves partitioned tables. */
  final boolean[] partitioned;
  /** Child index of the DEFAULT partition, or -1. */
  final int defaultIndex;

  Level(String table, KeyColumn[] columns, String[] children, Set<String> partitionedNames, int defaultIndex) {
    this(table, columns, children, new boolean[children.length], defaultIndex);
    for (int i = 0; i < children.length; i++) {
      partitioned[i] = partitionedNames.contains(children[i]);
    }
  }

  Level(String table, KeyColumn[] columns, String[] children, boolean[] partitioned, int defaultIndex) {
    this.table = table;
    this.columns = columns;
    this.children = children;
    this.partitioned = partitioned;
    this.defaultIndex = defaultIndex;
  }

  /**
   * The child index for a row whose key column values are {@code raw} (application values, in
   * {@link #columns} order, nulls allowed): the covering partition, else the DEFAULT one, else -1.
   *
   * @throws IllegalArgumentException when a value does not fit its column's type
   */
  abstract int route(Object[] raw);

  /** Where the router would have looked for {@code raw}: the nearest covered range, or a fact about the key. */
  abstract String nearest(Object[] raw);

  /** Builds a level from a table's key and its partitions' bounds (name to bound, in any order). */
  static Level build(String table, PartitionKey key, Map<String, Object> bounds, Set<String> partitionedNames) {
    List<String> names = key.getColumns();
    List<String> types = key.getTypes();
    if (names.size() != types.size() || names.isEmpty()) {
      throw new IllegalArgumentException("partition key of " + table + " names columns " + names + " with types " + types);
    }
    KeyColumn[] columns = new KeyColumn[names.size()];
    for (int i = 0; i < columns.length; i++) {
      columns[i] = KeyType.column(table, names.get(i), types.get(i));
    }
    for (Map.Entry<String, Object> e : bounds.entrySet()) {
      Object b = e.getValue();
      boolean fits = switch (key.getStrategy()) {
        case RANGE -> b instanceof RangeBound || b instanceof DefaultBound;
        case LIST -> b instanceof ListBound || b instanceof DefaultBound;
        case HASH -> b instanceof HashBound;
      };
      if (!fits) {
        throw new IllegalArgumentException("partition " + e.getKey() + " of " + key.getStrategy() + "-partitioned "
            + table + " has bound " + b);
      }
    }
    return switch (key.getStrategy()) {
      case RANGE -> columns.length == 1 && columns[0].type().isLong()
          ? LongRangeLevel.build(table, columns[0], bounds, partitionedNames)
          : TupleRangeLevel.build(table, columns, bounds, partitionedNames);
      case HASH -> HashLevel.build(table, columns, bounds, partitionedNames);
      case LIST -> {
        if (columns.length != 1) {
          throw new IllegalArgumentException("list partitioning of " + table + " on more than one column " + names);
        }
        yield ListLevel.build(table, columns[0], bounds, partitionedNames);
      }
    };
  }

  static String defaultName(Map<String, Object> bounds) {
    for (Map.Entry<String, Object> e : bounds.entrySet()) {
      if (e.getValue() instanceof DefaultBound) {
        return e.getKey();
      }
    }
    return null;
  }
}
