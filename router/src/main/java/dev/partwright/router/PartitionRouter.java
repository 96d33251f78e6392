package dev.partwright.router;

import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.DateValue;
import dev.partwright.schemas.DefaultBound;
import dev.partwright.schemas.Int32Value;
import dev.partwright.schemas.Int64Value;
import dev.partwright.schemas.PartitionAdded;
import dev.partwright.schemas.PartitionKey;
import dev.partwright.schemas.PartitionReplaced;
import dev.partwright.schemas.PartitionRetired;
import dev.partwright.schemas.RangeBound;
import dev.partwright.schemas.Strategy;
import dev.partwright.schemas.TimestampTzValue;
import dev.partwright.schemas.Unbounded;
import java.time.Instant;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.ZonedDateTime;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * Resolves a row's partition from the boundary changes the workers publish, the same answer
 * PostgreSQL's tuple routing gives. Reads take no lock: each table's boundaries are an immutable
 * sorted array swapped atomically on change. Changes apply in aggregate-version order per
 * partition; a stale change (older version than the one held) is ignored.
 */
public final class PartitionRouter {

  private record Routes(Strategy strategy, String keyType, RangeTable ranges) {}

  private volatile Map<String, Routes> tables = Map.of();
  private final Map<String, Long> versions = new HashMap<>();
  private final List<Consumer<BoundaryChange>> listeners = new CopyOnWriteArrayList<>();

  /** Registers a listener called after every applied change (on the applying thread). */
  public void addListener(Consumer<BoundaryChange> listener) {
    listeners.add(listener);
  }

  /** Applies one boundary change; returns false when it was stale and ignored. */
  public synchronized boolean apply(BoundaryChange change) {
    Object c = change.getChange();
    String partition;
    if (c instanceof PartitionAdded a) {
      partition = a.getPartition();
    } else if (c instanceof PartitionRetired r) {
      partition = r.getPartition();
    } else if (c instanceof PartitionReplaced r) {
      partition = r.getPartition();
    } else {
      throw new IllegalArgumentException("unknown boundary change " + c);
    }
    Long held = versions.get(partition);
    if (held != null && held > change.getAggregateVersion()) {
      return false;
    }
    versions.put(partition, change.getAggregateVersion());
    Map<String, Routes> next = new HashMap<>(tables);
    if (c instanceof PartitionAdded a) {
      next.put(a.getParent(), added(next.get(a.getParent()), a.getParentKey(), a.getPartition(), a.getBound()));
    } else if (c instanceof PartitionRetired r) {
      Routes routes = next.get(r.getParent());
      if (routes != null) {
        next.put(r.getParent(), new Routes(routes.strategy(), routes.keyType(), routes.ranges().without(r.getPartition())));
      }
    } else if (c instanceof PartitionReplaced r) {
      Routes routes = next.get(r.getParent());
      if (routes != null) {
        routes = new Routes(routes.strategy(), routes.keyType(), routes.ranges().without(r.getReplaced()));
      }
      next.put(r.getParent(), added(routes, r.getParentKey(), r.getPartition(), r.getBound()));
    }
    tables = Map.copyOf(next);
    for (Consumer<BoundaryChange> listener : listeners) {
      listener.accept(change);
    }
    return true;
  }

  private static Routes added(Routes routes, PartitionKey key, String partition, Object bound) {
    if (key.getStrategy() != Strategy.RANGE || key.getColumns().size() != 1) {
      throw new UnsupportedOperationException("router supports single-column range tables; "
          + key.getStrategy() + " on " + key.getColumns() + " is not supported yet");
    }
    RangeTable ranges = routes == null ? RangeTable.EMPTY : routes.ranges();
    if (bound instanceof DefaultBound) {
      ranges = ranges.withDefault(partition);
    } else if (bound instanceof RangeBound r) {
      ranges = ranges.with(partition, lowerKey(r.getFrom().get(0)), upperKey(r.getTo().get(0)));
    } else {
      throw new IllegalArgumentException("range table " + partition + " with a non-range bound " + bound);
    }
    return new Routes(key.getStrategy(), key.getTypes().get(0), ranges);
  }

  private static long lowerKey(Object v) {
    return v instanceof Unbounded ? Long.MIN_VALUE : key(v);
  }

  private static long upperKey(Object v) {
    return v instanceof Unbounded ? Long.MAX_VALUE : key(v);
  }

  private static long key(Object v) {
    if (v instanceof TimestampTzValue t) {
      return micros(t.getMicros());
    } else if (v instanceof DateValue d) {
      return d.getDate().toEpochDay();
    } else if (v instanceof Int64Value i) {
      return i.getValue();
    } else if (v instanceof Int32Value i) {
      return i.getValue();
    }
    throw new UnsupportedOperationException("range key value " + v + " is not supported yet");
  }

  static long micros(Instant t) {
    return Math.addExact(Math.multiplyExact(t.getEpochSecond(), 1_000_000L), t.getNano() / 1_000);
  }

  /** Number of partitions known for {@code table} (qualified schema.table), DEFAULT included. */
  public int partitionCount(String table) {
    Routes r = tables.get(table);
    return r == null ? 0 : r.ranges().size() + (r.ranges().defaultPartition() == null ? 0 : 1);
  }

  /**
   * The qualified name of the partition of {@code table} that holds a row whose partition key is
   * {@code value} ({@link Instant}, {@link OffsetDateTime}, {@link ZonedDateTime}, {@link LocalDate},
   * {@link Long}, {@link Integer} or {@link Short}); the DEFAULT partition when none covers it and the
   * table has one.
   *
   * @throws PartitionNotFoundException when no partition accepts the value
   */
  public String resolve(String table, Object value) {
    Routes routes = tables.get(table);
    if (routes == null) {
      throw new PartitionNotFoundException(table, value, null);
    }
    long key = keyOf(value);
    String found = routes.ranges().find(key);
    if (found != null) {
      return found;
    }
    int near = routes.ranges().nearest(key);
    throw new PartitionNotFoundException(table, value, near < 0 ? null
        : routes.ranges().name(near) + " [" + describe(routes.keyType(), routes.ranges().lower(near)) + ", "
            + describe(routes.keyType(), routes.ranges().upper(near)) + ")");
  }

  private static long keyOf(Object value) {
    if (value instanceof Instant t) {
      return micros(t);
    } else if (value instanceof OffsetDateTime t) {
      return micros(t.toInstant());
    } else if (value instanceof ZonedDateTime t) {
      return micros(t.toInstant());
    } else if (value instanceof LocalDate d) {
      return d.toEpochDay();
    } else if (value instanceof Long l) {
      return l;
    } else if (value instanceof Integer i) {
      return i;
    } else if (value instanceof Short s) {
      return s;
    }
    throw new IllegalArgumentException("unsupported key value type " + (value == null ? "null" : value.getClass().getName()));
  }

  private static String describe(String keyType, long key) {
    if (key == Long.MIN_VALUE) {
      return "MINVALUE";
    }
    if (key == Long.MAX_VALUE) {
      return "MAXVALUE";
    }
    if (keyType.startsWith("timestamp")) {
      return Instant.ofEpochSecond(Math.floorDiv(key, 1_000_000L), Math.floorMod(key, 1_000_000L) * 1_000L).toString();
    }
    if (keyType.equals("date")) {
      return LocalDate.ofEpochDay(key).toString();
    }
    return Long.toString(key);
  }
}
