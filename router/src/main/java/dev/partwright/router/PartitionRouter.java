package dev.partwright.router;

import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.HashBound;
import dev.partwright.schemas.PartitionAdded;
import dev.partwright.schemas.PartitionKey;
import dev.partwright.schemas.PartitionReplaced;
import dev.partwright.schemas.PartitionRetired;
import dev.partwright.schemas.RangeBound;
import java.time.Instant;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Resolves a row to its partition from the boundary changes the workers publish (or that
 * {@link PgCatalogBoundarySource} reads from the catalog): the same answer PostgreSQL's tuple routing
 * gives, for range, list and hash partitioning and through every level of a composite scheme.
 *
 * <p>Reads take no lock: each partitioned table is an immutable {@code Level}, and the map of them is
 * swapped atomically after every change. A single-column integer or time range lookup reads a
 * bucket index over {@code long} bounds (other ranges: a binary search); a hash lookup computes
 * PostgreSQL's partition hash ({@link PgHash}). Changes apply in aggregate-version order per
 * partition; a change older than the one held for its partition is ignored.
 *
 * <p>Table and partition names are qualified, {@code schema.table}, as the boundary changes carry them.
 * Text keys are compared by UTF-8 bytes, which is PostgreSQL's order under the C collation only; a
 * text range key under another collation cannot be routed (the catalog source refuses it).
 */
public final class PartitionRouter {

  /** What to answer when no partition of a table covers a value but the table has a DEFAULT partition. */
  public enum WhenUncovered {
    /** The DEFAULT partition, as PostgreSQL does. */
    USE_DEFAULT_PARTITION,
    /** A {@link PartitionNotFoundException}, for applications that treat rows in DEFAULT as a fault. */
    THROW
  }

  private static final Logger LOG = LoggerFactory.getLogger(PartitionRouter.class);

  /** What the writer knows of one partitioned table. Guarded by {@code this}. */
  private static final class TableDef {
    PartitionKey key;
    final Map<String, Object> bounds = new LinkedHashMap<>();

    TableDef(PartitionKey key) {
      this.key = key;
    }
  }

  private final WhenUncovered whenUncovered;
  // always a HashMap, so the read path's Map.get stays monomorphic
  private volatile Map<String, Level> levels = new HashMap<>();
  private final Map<String, TableDef> defs = new HashMap<>();
  private final Map<String, String> parentOf = new HashMap<>();
  private final Map<String, Long> versions = new HashMap<>();
  private final List<Consumer<BoundaryChange>> listeners = new CopyOnWriteArrayList<>();

  /** A router that answers the DEFAULT partition where nothing else covers a value, like PostgreSQL. */
  public PartitionRouter() {
    this(WhenUncovered.USE_DEFAULT_PARTITION);
  }

  public PartitionRouter(WhenUncovered whenUncovered) {
    this.whenUncovered = whenUncovered;
  }

  /**
   * Registers a listener called after every applied change (on the applying thread, after readers can
   * see it), for cache invalidation. A listener that throws is logged and does not stop the others.
   */
  public void addListener(Consumer<BoundaryChange> listener) {
    listeners.add(listener);
  }

  public void removeListener(Consumer<BoundaryChange> listener) {
    listeners.remove(listener);
  }

  /**
   * Applies one boundary change; returns false when it was stale and ignored.
   *
   * @throws IllegalArgumentException when the change is malformed (a bound that does not fit the key)
   * @throws UnsupportedPartitionKeyException when the key has a type the router cannot reproduce
   */
  public boolean apply(BoundaryChange change) {
    return applyAll(List.of(change)) == 1;
  }

  /**
   * Applies changes in order and makes them visible to readers at once (a snapshot is rebuilt once per
   * table touched, not once per change: how to bootstrap thousands of partitions). Returns how many
   * were applied (not stale). If one is malformed it throws; the changes before it stay applied.
   */
  public synchronized int applyAll(Collection<BoundaryChange> changes) {
    Touched touched = new Touched();
    List<BoundaryChange> applied = new ArrayList<>();
    try {
      for (BoundaryChange change : changes) {
        if (applyOne(change, touched)) {
          applied.add(change);
        }
      }
    } finally {
      publish(touched);
      for (BoundaryChange change : applied) {
        for (Consumer<BoundaryChange> listener : listeners) {
          try {
            listener.accept(change);
          } catch (RuntimeException e) {
            LOG.warn("boundary change listener {} failed on {}", listener, change, e);
          }
        }
      }
    }
    return applied.size();
  }

  private boolean applyOne(BoundaryChange change, Touched touched) {
    Object c = change.getChange();
    long version = change.getAggregateVersion();
    if (c instanceof PartitionAdded a) {
      if (stale(a.getPartition(), version)) {
        return false;
      }
      check(a.getParent(), a.getParentKey(), a.getPartition(), a.getBound());
      if (a.getSubpartitionBy() != null) {
        Level.build(a.getPartition(), a.getSubpartitionBy(), Map.of(), Set.of());
      }
      versions.put(a.getPartition(), version);
      attach(a.getParent(), a.getParentKey(), a.getPartition(), a.getBound(), touched);
      if (a.getSubpartitionBy() != null) {
        define(a.getPartition(), a.getSubpartitionBy(), touched);
      }
    } else if (c instanceof PartitionRetired r) {
      if (stale(r.getPartition(), version)) {
        return false;
      }
      versions.put(r.getPartition(), version);
      detach(r.getParent(), r.getPartition(), touched);
    } else if (c instanceof PartitionReplaced r) {
      if (stale(r.getPartition(), version)) {
        return false;
      }
      check(r.getParent(), r.getParentKey(), r.getPartition(), r.getBound());
      versions.put(r.getPartition(), version);
      versions.merge(r.getReplaced(), version, Math::max);
      if (!r.getReplaced().equals(r.getPartition())) {
        detach(r.getParent(), r.getReplaced(), touched);
      }
      attach(r.getParent(), r.getParentKey(), r.getPartition(), r.getBound(), touched);
    } else {
      throw new IllegalArgumentException("unknown boundary change " + c);
    }
    return true;
  }

  private boolean stale(String partition, long version) {
    Long held = versions.get(partition);
    return held != null && held > version;
  }

  /** Validates a partition's bound against its parent's key before anything is changed. */
  private void check(String parent, PartitionKey key, String partition, Object bound) {
    Level.build(parent, key, Map.of(partition, bound), Set.of());
    TableDef def = defs.get(parent);
    if (bound instanceof HashBound h && def != null && sameKey(def.key, key)) {
      for (Map.Entry<String, Object> e : def.bounds.entrySet()) {
        if (!e.getKey().equals(partition) && e.getValue() instanceof HashBound other) {
          int big = Math.max(h.getModulus(), other.getModulus());
          int small = Math.min(h.getModulus(), other.getModulus());
          if (big % small != 0) {
            throw new IllegalArgumentException("partition " + partition + " of " + parent + " has modulus " + h.getModulus()
                + ", which does not divide or multiply modulus " + other.getModulus() + " of " + e.getKey());
          }
        }
      }
    }
  }

  private void attach(String parent, PartitionKey key, String partition, Object bound, Touched touched) {
    String previousParent = parentOf.get(partition);
    if (previousParent != null && !previousParent.equals(parent)) {
      TableDef old = defs.get(previousParent);
      if (old != null) {
        old.bounds.remove(partition);
        touched.add(previousParent);
      }
    }
    define(parent, key, touched);
    Object before = defs.get(parent).bounds.put(partition, bound);
    parentOf.put(partition, parent);
    if (before == null && previousParent == null && bound instanceof RangeBound) {
      touched.appended(parent, partition, bound);
    } else {
      touched.add(parent);
    }
  }

  /**
   * The tables a batch of changes touched. Most changes only add a new range partition (the worker
   * provisions ahead), and those are merged into the published level's arrays; anything else
   * (a retirement, a replacement, a new or re-keyed table, a DEFAULT) rebuilds the level from its bounds.
   */
  private static final class Touched {
    final Set<String> rebuild = new HashSet<>();
    final Map<String, Map<String, Object>> added = new HashMap<>();

    void add(String table) {
      rebuild.add(table);
      added.remove(table);
    }

    void appended(String table, String partition, Object bound) {
      if (!rebuild.contains(table)) {
        added.computeIfAbsent(table, t -> new LinkedHashMap<>()).put(partition, bound);
      }
    }

    boolean isEmpty() {
      return rebuild.isEmpty() && added.isEmpty();
    }

    Set<String> tables() {
      Set<String> all = new HashSet<>(rebuild);
      all.addAll(added.keySet());
      return all;
    }
  }

  /** Makes sure {@code table} is known as partitioned by {@code key}; a different key means a new table. */
  private void define(String table, PartitionKey key, Touched touched) {
    TableDef def = defs.get(table);
    if (def == null) {
      defs.put(table, new TableDef(key));
      touchDefinition(table, touched);
    } else if (!sameKey(def.key, key)) {
      // PostgreSQL cannot change a partition key: the table was dropped and created again
      for (String child : List.copyOf(def.bounds.keySet())) {
        removeSubtree(child, touched);
        parentOf.remove(child);
      }
      def.bounds.clear();
      def.key = key;
      touched.add(table);
    } else {
      def.key = key;
    }
  }

  private void detach(String parent, String partition, Touched touched) {
    TableDef def = defs.get(parent);
    if (def != null && def.bounds.remove(partition) != null) {
      touched.add(parent);
    }
    if (parent.equals(parentOf.get(partition))) {
      parentOf.remove(partition);
    }
    removeSubtree(partition, touched);
  }

  /** A detached partitioned partition takes its whole subtree out of routing. */
  private void removeSubtree(String table, Touched touched) {
    TableDef def = defs.remove(table);
    if (def == null) {
      return;
    }
    touchDefinition(table, touched);
    for (String child : def.bounds.keySet()) {
      if (table.equals(parentOf.get(child))) {
        parentOf.remove(child);
      }
      removeSubtree(child, touched);
    }
  }

  /** A table became (or stopped being) partitioned: its parent's level must flag it. */
  private void touchDefinition(String table, Touched touched) {
    touched.add(table);
    String parent = parentOf.get(table);
    if (parent != null) {
      touched.add(parent);
    }
  }

  private static boolean sameKey(PartitionKey a, PartitionKey b) {
    if (a.getStrategy() != b.getStrategy() || !a.getColumns().equals(b.getColumns()) || a.getTypes().size() != b.getTypes().size()) {
      return false;
    }
    for (int i = 0; i < a.getTypes().size(); i++) {
      if (!KeyType.column("", "", a.getTypes().get(i)).equals(KeyType.column("", "", b.getTypes().get(i)))) {
        return false;
      }
    }
    return true;
  }

  private void publish(Touched touched) {
    if (touched.isEmpty()) {
      return;
    }
    Map<String, Level> next = new HashMap<>(levels);
    for (String table : touched.tables()) {
      TableDef def = defs.get(table);
      if (def == null) {
        next.remove(table);
        continue;
      }
      Map<String, Object> added = touched.added.get(table);
      Level built = added != null && next.get(table) instanceof LongRangeLevel published
          ? published.plus(added, defs.keySet())
          : Level.build(table, def.key, def.bounds, defs.keySet());
      next.put(table, built);
    }
    levels = next; // never modified after this volatile write: safe publication
  }

  /** Number of partitions directly attached to {@code table} (qualified schema.table), DEFAULT included. */
  public int partitionCount(String table) {
    Level level = levels.get(table);
    return level == null ? 0 : level.children.length;
  }

  /** The partitions directly attached to {@code table}: range partitions in bound order, DEFAULT last. */
  public List<String> partitions(String table) {
    Level level = levels.get(table);
    return level == null ? List.of() : List.of(level.children);
  }

  /** The key columns {@code table} is partitioned by (its own level only), empty when it is unknown. */
  public List<String> keyColumns(String table) {
    Level level = levels.get(table);
    return level == null ? List.of() : Arrays.stream(level.columns).map(KeyColumn::name).toList();
  }

  /**
   * The leaf partition of {@code table} for a row whose key is the single value {@code value}:
   * {@link Instant}, {@link OffsetDateTime}, {@link ZonedDateTime} (timestamptz), {@link java.time.LocalDateTime}
   * (timestamp), {@link LocalDate} (date), {@link Long}, {@link Integer}, {@link Short} (integers),
   * {@link String} (text), {@link java.util.UUID}, or the value as PostgreSQL text; {@code null} for
   * NULL. A composite scheme whose lower levels use other columns needs {@link #resolve(String, Map)}.
   *
   * @throws PartitionNotFoundException when no partition takes the row
   * @throws IllegalArgumentException when the value does not fit the key's type
   */
  public String resolve(String table, Object value) {
    Map<String, Level> snapshot = levels;
    if (value != null && snapshot.get(table) instanceof LongRangeLevel r) {
      // the hot path: a bucket index and one or two compares, no allocation; anything unusual
      // (DEFAULT, a sub-partitioned partition, an uncovered value) takes the general path below
      String leaf = r.leaf(r.column().toLong(value));
      if (leaf != null) {
        return leaf;
      }
    }
    return resolve(snapshot, table, new Positional(new Object[] {value}));
  }

  /**
   * The leaf partition for a row given as its key values in order: the root's key columns, then each
   * lower level's key columns not named before (for {@code list(tenant) → range(created_at)}:
   * {@code resolve(t, tenant, createdAt)}; for a two-column hash key: both values).
   */
  public String resolve(String table, Object... keyValues) {
    return resolve(levels, table, new Positional(keyValues));
  }

  /**
   * The leaf partition for a row given by column name; the map needs every key column of every level
   * the row passes through (other columns are ignored; a null value is SQL NULL).
   */
  public String resolve(String table, Map<String, ?> row) {
    return resolve(levels, table, (level, column) -> {
      Object v = row.get(column);
      if (v == null && !row.containsKey(column)) {
        throw new IllegalArgumentException("the row has no value for key column " + column + " of " + level.table
            + " (row columns: " + row.keySet() + ")");
      }
      return v;
    });
  }

  /** Where a resolution finds the value of a key column; throws IllegalArgumentException when the row has none. */
  interface KeySource {
    Object value(Level level, String column);
  }

  /** Positional key values, matched to key columns in the order the levels first name them. */
  private static final class Positional implements KeySource {
    private final Object[] values;
    private final Map<String, Object> assigned = new HashMap<>(4);
    private int next;

    Positional(Object[] values) {
      this.values = values;
    }

    @Override
    public Object value(Level level, String column) {
      if (assigned.containsKey(column)) {
        return assigned.get(column);
      }
      if (next >= values.length) {
        throw new IllegalArgumentException(level.table + " is partitioned by " + Arrays.stream(level.columns).map(KeyColumn::name).toList()
            + "; " + values.length + " key value(s) given, " + column + " has none");
      }
      Object v = values[next++];
      assigned.put(column, v);
      return v;
    }
  }

  String resolve(String table, KeySource source) {
    return resolve(levels, table, source);
  }

  private String resolve(Map<String, Level> snapshot, String table, KeySource source) {
    Level level = snapshot.get(table);
    if (level == null) {
      throw new PartitionNotFoundException(table, null, null);
    }
    while (true) {
      Object[] raw = new Object[level.columns.length];
      for (int i = 0; i < raw.length; i++) {
        raw[i] = source.value(level, level.columns[i].name());
      }
      int i = level.route(raw);
      if (i < 0 || (i == level.defaultIndex && whenUncovered == WhenUncovered.THROW)) {
        throw new PartitionNotFoundException(level.table, raw.length == 1 ? raw[0] : Arrays.asList(raw), level.nearest(raw));
      }
      String child = level.children[i];
      Level below = level.partitioned[i] ? snapshot.get(child) : null;
      if (below == null) {
        return child;
      }
      level = below;
    }
  }
}
