package dev.partwright.router;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.sql.DataSource;

/**
 * Inserts rows straight into their leaf partitions, so applications never name a partition and
 * PostgreSQL skips tuple routing: rows are grouped by the partition the router resolves and sent as
 * JDBC batches, one {@code INSERT} per partition. A row the router has no answer for (no partition, a
 * key column missing from the inserted columns) goes through the parent, and so does a whole group
 * PostgreSQL refuses because the router was stale: a partition constraint violation (the row belongs
 * elsewhere, {@code 23514}) or a partition dropped meanwhile ({@code 42P01}). PostgreSQL checks the
 * partition constraint on every direct insert, so a stale router can cost a retry, never a misplaced row.
 *
 * <p>Names are the router's {@code schema.table} (split at the first dot and quoted); columns are
 * quoted as given. Values bind with {@code setObject}; {@link Instant} and {@link ZonedDateTime} are
 * sent as {@code OffsetDateTime}, which the PostgreSQL driver accepts.
 */
public final class PartitionedInserter {

  /** How many rows went where: by partition (or the parent), in first-seen order. */
  public record Report(Map<String, Integer> rowsByTable, int rowsThroughParent) {

    public int rows() {
      return rowsByTable.values().stream().mapToInt(Integer::intValue).sum();
    }
  }

  private static final String CHECK_VIOLATION = "23514";
  private static final String UNDEFINED_TABLE = "42P01";

  private final DataSource dataSource;
  private final PartitionRouter router;
  private final String table;
  private final List<String> columns;
  private final Map<String, Integer> index = new HashMap<>();
  private final int batchSize;

  /** Inserts into {@code table} (the router's {@code schema.table}) the {@code columns} of each row, 1,000 rows per batch. */
  public PartitionedInserter(DataSource dataSource, PartitionRouter router, String table, List<String> columns) {
    this(dataSource, router, table, columns, 1_000);
  }

  public PartitionedInserter(DataSource dataSource, PartitionRouter router, String table, List<String> columns, int batchSize) {
    if (columns.isEmpty() || batchSize < 1) {
      throw new IllegalArgumentException("need at least one column and a batch size of at least 1");
    }
    this.dataSource = dataSource;
    this.router = router;
    this.table = table;
    this.columns = List.copyOf(columns);
    this.batchSize = batchSize;
    for (int i = 0; i < columns.size(); i++) {
      index.put(columns.get(i), i);
    }
  }

  /** Inserts {@code rows} (values in column order) in one transaction of its own, committed on success. */
  public Report insert(Collection<Object[]> rows) throws SQLException {
    try (Connection c = dataSource.getConnection()) {
      boolean autoCommit = c.getAutoCommit();
      c.setAutoCommit(false);
      try {
        Report report = insert(c, rows);
        c.commit();
        return report;
      } catch (SQLException | RuntimeException e) {
        c.rollback();
        throw e;
      } finally {
        c.setAutoCommit(autoCommit);
      }
    }
  }

  /**
   * Inserts {@code rows} on the caller's connection, in the caller's transaction (not committed here).
   * With auto-commit off, each partition's batch runs under a savepoint so a stale group can be retried
   * through the parent; with auto-commit on, a refused batch throws.
   */
  public Report insert(Connection c, Collection<Object[]> rows) throws SQLException {
    Map<String, List<Object[]>> groups = new LinkedHashMap<>();
    for (Object[] row : rows) {
      if (row.length != columns.size()) {
        throw new IllegalArgumentException("a row has " + row.length + " values for " + columns.size() + " columns " + columns);
      }
      groups.computeIfAbsent(target(row), t -> new ArrayList<>()).add(row);
    }
    Map<String, Integer> counts = new LinkedHashMap<>();
    int throughParent = 0;
    boolean savepoints = !c.getAutoCommit();
    for (Map.Entry<String, List<Object[]>> group : groups.entrySet()) {
      String target = group.getKey();
      List<Object[]> batch = group.getValue();
      if (!target.equals(table)) {
        Savepoint savepoint = savepoints ? c.setSavepoint() : null;
        try {
          send(c, target, batch);
          if (savepoint != null) {
            c.releaseSavepoint(savepoint);
          }
          counts.merge(target, batch.size(), Integer::sum);
          continue;
        } catch (SQLException e) {
          if (savepoint == null || !(CHECK_VIOLATION.equals(state(e)) || UNDEFINED_TABLE.equals(state(e)))) {
            throw e;
          }
          c.rollback(savepoint); // the router was stale for this partition: let PostgreSQL route the group
        }
      }
      send(c, table, batch);
      counts.merge(table, batch.size(), Integer::sum);
      throughParent += batch.size();
    }
    return new Report(counts, throughParent);
  }

  private String target(Object[] row) {
    try {
      return router.resolve(table, (level, column) -> {
        Integer i = index.get(column);
        if (i == null) {
          throw new IllegalArgumentException("key column " + column + " of " + level.table + " is not inserted");
        }
        return row[i];
      });
    } catch (PartitionNotFoundException | IllegalArgumentException e) {
      return table;
    }
  }

  private void send(Connection c, String target, List<Object[]> rows) throws SQLException {
    StringBuilder sql = new StringBuilder("INSERT INTO ").append(quoteTable(target)).append(" (");
    StringBuilder params = new StringBuilder();
    for (int i = 0; i < columns.size(); i++) {
      sql.append(i == 0 ? "" : ", ").append(quote(columns.get(i)));
      params.append(i == 0 ? "?" : ", ?");
    }
    sql.append(") VALUES (").append(params).append(")");
    try (PreparedStatement ps = c.prepareStatement(sql.toString())) {
      int pending = 0;
      for (Object[] row : rows) {
        for (int i = 0; i < row.length; i++) {
          ps.setObject(i + 1, bindable(row[i]));
        }
        ps.addBatch();
        if (++pending == batchSize) {
          ps.executeBatch();
          pending = 0;
        }
      }
      if (pending > 0) {
        ps.executeBatch();
      }
    }
  }

  private static Object bindable(Object v) {
    if (v instanceof Instant t) {
      return t.atOffset(ZoneOffset.UTC);
    }
    if (v instanceof ZonedDateTime t) {
      return t.toOffsetDateTime();
    }
    return v;
  }

  /** The SQL state of an exception or of the batch failure behind it. */
  private static String state(SQLException e) {
    for (SQLException x = e; x != null; x = x.getNextException()) {
      if (x.getSQLState() != null && !x.getSQLState().startsWith("0")) {
        return x.getSQLState();
      }
      if (x.getCause() instanceof SQLException cause && cause.getSQLState() != null) {
        return cause.getSQLState();
      }
    }
    return e.getSQLState();
  }

  static String quoteTable(String qualified) {
    int dot = qualified.indexOf('.');
    return dot < 0 ? quote(qualified) : quote(qualified.substring(0, dot)) + "." + quote(qualified.substring(dot + 1));
  }

  static String quote(String identifier) {
    return "\"" + identifier.replace("\"", "\"\"") + "\"";
  }
}
