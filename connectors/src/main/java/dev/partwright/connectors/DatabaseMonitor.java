package dev.partwright.connectors;

import dev.partwright.connectors.postgres.PostgresCatalog;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.ToLongFunction;
import javax.sql.DataSource;

/**
 * The seed's monitoring queries as gauges, per managed tree (tag {@code table}: its root):
 * {@code partwright.db.indexes.unaligned} (partitions missing a template index),
 * {@code partwright.db.indexes.unused} (partition indexes never scanned),
 * {@code partwright.db.locks.waiting} (lock requests waiting on the tree),
 * {@code partwright.db.locks.access_exclusive} (ACCESS EXCLUSIVE locks held on it) and
 * {@code partwright.db.replication.lag} (seconds, largest {@code replay_lag} of any standby).
 * Values are those of the last {@link #refresh()}; the worker refreshes on an interval.
 */
public final class DatabaseMonitor {

  private final DataSource dataSource;
  private final MultiGauge unaligned;
  private final MultiGauge unused;
  private final MultiGauge waiting;
  private final MultiGauge exclusive;
  private final AtomicReference<Double> lagSeconds = new AtomicReference<>(0.0);

  public DatabaseMonitor(DataSource dataSource, MeterRegistry meters) {
    this.dataSource = dataSource;
    this.unaligned = MultiGauge.builder("partwright.db.indexes.unaligned")
        .description("Partitions lacking a valid, ready, attached index of their parent's template").register(meters);
    this.unused = MultiGauge.builder("partwright.db.indexes.unused")
        .description("Indexes on partitions that were never scanned").register(meters);
    this.waiting = MultiGauge.builder("partwright.db.locks.waiting")
        .description("Lock requests waiting on a table of the managed tree").register(meters);
    this.exclusive = MultiGauge.builder("partwright.db.locks.access_exclusive")
        .description("ACCESS EXCLUSIVE locks held on a table of the managed tree").register(meters);
    Gauge.builder("partwright.db.replication.lag", lagSeconds, AtomicReference::get)
        .description("Largest replay_lag of any streaming standby, seconds").baseUnit("seconds").register(meters);
  }

  /** Runs the monitoring queries and publishes their results. */
  public void refresh() throws SQLException {
    List<PostgresCatalog.TreeStats> trees;
    try (Connection c = dataSource.getConnection()) {
      trees = PostgresCatalog.managedTrees(c);
      lagSeconds.set(PostgresCatalog.replicationLag(c).toNanos() / 1e9);
    }
    publish(unaligned, trees, PostgresCatalog.TreeStats::unalignedPartitions);
    publish(unused, trees, PostgresCatalog.TreeStats::unusedIndexes);
    publish(waiting, trees, PostgresCatalog.TreeStats::waitingLocks);
    publish(exclusive, trees, PostgresCatalog.TreeStats::accessExclusiveLocks);
  }

  private static void publish(MultiGauge gauge, List<PostgresCatalog.TreeStats> trees,
      ToLongFunction<PostgresCatalog.TreeStats> value) {
    gauge.register(trees.stream()
        .map(t -> MultiGauge.Row.of(Tags.of("table", t.rootTable()), value.applyAsLong(t)))
        .toList(), true);
  }
}
