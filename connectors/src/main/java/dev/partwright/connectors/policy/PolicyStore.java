package dev.partwright.connectors.policy;

import dev.partwright.connectors.postgres.Identifier;
import dev.partwright.connectors.postgres.PostgresCatalog;
import dev.partwright.connectors.postgres.QualifiedName;
import dev.partwright.schemas.PartitionKey;
import dev.partwright.schemas.Strategy;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import javax.sql.DataSource;

/**
 * The policies of managed tables, in {@code partwright.managed_tables} of the target database:
 * one row per partitioned parent, readable with plain SQL (pg_partman's {@code part_config}, for
 * Partwright). Registering checks the table against the catalog first: an existing partitioned
 * parent whose key matches the policy is adopted as it is; anything else is refused with what to do.
 */
public final class PolicyStore {

  /** The type a range key column must have: the planner's bounds are timestamptz instants. */
  public static final String TIME_TYPE = "timestamp with time zone";

  private final DataSource dataSource;

  public PolicyStore(DataSource dataSource) {
    this.dataSource = dataSource;
  }

  /** Creates the {@code partwright} schema and {@code managed_tables} if missing (safe under concurrency). */
  public void ensureSchema() throws SQLException {
    try (Connection c = dataSource.getConnection()) {
      boolean auto = c.getAutoCommit();
      c.setAutoCommit(false);
      try (Statement s = c.createStatement()) {
        s.execute("SELECT pg_advisory_xact_lock(hashtext('partwright.policy-schema'))");
        s.execute("CREATE SCHEMA IF NOT EXISTS partwright");
        s.execute("""
            CREATE TABLE IF NOT EXISTS partwright.managed_tables (
              parent             text PRIMARY KEY,
              strategy           text NOT NULL CHECK (strategy IN ('range')),
              column_name        text NOT NULL,
              partition_interval text NOT NULL CHECK (partition_interval IN ('hour', 'day', 'week', 'month')),
              zone               text NOT NULL DEFAULT 'UTC',
              tenant_column      text,
              buffer_days        integer CHECK (buffer_days BETWEEN 1 AND 366),
              retention_days     integer CHECK (retention_days >= 1),
              max_partitions     integer CHECK (max_partitions >= 1),
              max_bytes          bigint CHECK (max_bytes >= 1),
              registered_at      timestamptz NOT NULL DEFAULT now(),
              registered_by      text NOT NULL)""");
        s.execute("COMMENT ON TABLE partwright.managed_tables IS 'One row per partitioned table Partwright keeps "
            + "provisioned: strategy, interval, buffer, retention, quota. Written by partwright manage.'");
        c.commit();
      } catch (SQLException e) {
        c.rollback();
        throw e;
      } finally {
        c.setAutoCommit(auto);
      }
    }
  }

  /**
   * Checks the table against the policy and stores the policy (replacing an earlier one).
   *
   * @throws UnmanageableTableException when the table does not exist, is not partitioned, or is
   *     partitioned on another key than the policy says
   */
  public ManagedTable register(ManagedTable policy, String registeredBy)
      throws SQLException, UnmanageableTableException {
    try (Connection c = dataSource.getConnection()) {
      check(c, policy);
    }
    ensureSchema();
    try (Connection c = dataSource.getConnection();
         PreparedStatement ps = c.prepareStatement("""
             INSERT INTO partwright.managed_tables AS m (parent, strategy, column_name, partition_interval, zone,
               tenant_column, buffer_days, retention_days, max_partitions, max_bytes, registered_at, registered_by)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (parent) DO UPDATE SET strategy = excluded.strategy, column_name = excluded.column_name,
               partition_interval = excluded.partition_interval, zone = excluded.zone,
               tenant_column = excluded.tenant_column, buffer_days = excluded.buffer_days,
               retention_days = excluded.retention_days, max_partitions = excluded.max_partitions,
               max_bytes = excluded.max_bytes, registered_at = excluded.registered_at,
               registered_by = excluded.registered_by""")) {
      ps.setString(1, policy.table().toString());
      ps.setString(2, policy.strategy());
      ps.setString(3, policy.column().name());
      ps.setString(4, policy.interval());
      ps.setString(5, policy.zone());
      ps.setString(6, policy.tenantColumn() == null ? null : policy.tenantColumn().name());
      setInt(ps, 7, policy.bufferDays());
      setInt(ps, 8, policy.retentionDays());
      setInt(ps, 9, policy.maxPartitions());
      if (policy.maxBytes() == null) {
        ps.setNull(10, Types.BIGINT);
      } else {
        ps.setLong(10, policy.maxBytes());
      }
      ps.setTimestamp(11, Timestamp.from(policy.registeredAt()));
      ps.setString(12, registeredBy);
      ps.executeUpdate();
    }
    return policy;
  }

  /** Every stored policy, by table name; empty (and nothing created) when none was ever stored. */
  public List<ManagedTable> list() throws SQLException {
    return select(null);
  }

  /** One table's policy (one indexed row read: the worker asks this once per command). */
  public Optional<ManagedTable> get(QualifiedName table) throws SQLException {
    return select(table).stream().findFirst();
  }

  private List<ManagedTable> select(QualifiedName only) throws SQLException {
    try (Connection c = dataSource.getConnection()) {
      if (!exists(c)) {
        return List.of();
      }
      List<ManagedTable> out = new ArrayList<>();
      String sql = """
          SELECT parent, strategy, column_name, partition_interval, zone, tenant_column, buffer_days,
                 retention_days, max_partitions, max_bytes, registered_at
            FROM partwright.managed_tables""" + (only == null ? "" : " WHERE parent = ?") + " ORDER BY parent";
      try (PreparedStatement ps = c.prepareStatement(sql)) {
        if (only != null) {
          ps.setString(1, only.toString());
        }
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            out.add(new ManagedTable(
                QualifiedName.parse(rs.getString(1)), rs.getString(2), new Identifier(rs.getString(3)), rs.getString(4),
                rs.getString(5), rs.getString(6) == null ? null : new Identifier(rs.getString(6)),
                (Integer) rs.getObject(7), (Integer) rs.getObject(8), (Integer) rs.getObject(9), (Long) rs.getObject(10),
                rs.getTimestamp(11).toInstant()));
          }
        }
      }
      return out;
    }
  }

  /** Removes a table's policy; true when there was one. Its partitions stay as they are. */
  public boolean remove(QualifiedName table) throws SQLException {
    try (Connection c = dataSource.getConnection()) {
      if (!exists(c)) {
        return false;
      }
      try (PreparedStatement ps = c.prepareStatement("DELETE FROM partwright.managed_tables WHERE parent = ?")) {
        ps.setString(1, table.toString());
        return ps.executeUpdate() > 0;
      }
    }
  }

  private static boolean exists(Connection c) throws SQLException {
    try (Statement s = c.createStatement();
         ResultSet rs = s.executeQuery("SELECT to_regclass('partwright.managed_tables') IS NOT NULL")) {
      rs.next();
      return rs.getBoolean(1);
    }
  }

  /** The table must be a partitioned parent keyed as the policy says. */
  static void check(Connection c, ManagedTable policy) throws SQLException, UnmanageableTableException {
    QualifiedName table = policy.table();
    String kind = relkind(c, table);
    if (kind == null) {
      throw new UnmanageableTableException(table, UnmanageableTableException.Problem.NOT_FOUND,
          "table " + table + " does not exist; create it partitioned, e.g. CREATE TABLE " + table.sql() + " (...) "
              + "PARTITION BY RANGE (" + policy.column().sql() + ")");
    }
    if (!kind.equals("p")) {
      throw new UnmanageableTableException(table, UnmanageableTableException.Problem.NOT_PARTITIONED,
          notPartitioned(table, kind, policy));
    }
    PartitionKey key = PostgresCatalog.partitionKey(c, table).orElseThrow();
    Identifier expected = policy.tenantColumn() == null ? policy.column() : policy.tenantColumn();
    Strategy strategy = policy.tenantColumn() == null ? Strategy.RANGE : Strategy.LIST;
    if (key.getStrategy() != strategy || !key.getColumns().equals(List.of(expected.name()))) {
      throw new UnmanageableTableException(table, UnmanageableTableException.Problem.KEY_MISMATCH,
          "table " + table + " is partitioned by " + key.getStrategy() + " (" + String.join(", ", key.getColumns())
              + "), but the policy needs " + strategy + " (" + expected + ")"
              + (policy.tenantColumn() == null ? "" : " with each tenant's partition ranged on " + policy.column()));
    }
    String type = columnType(c, table, policy.column());
    if (type == null) {
      throw new UnmanageableTableException(table, UnmanageableTableException.Problem.KEY_MISMATCH,
          "table " + table + " has no column " + policy.column());
    }
    if (!type.equals(TIME_TYPE)) {
      throw new UnmanageableTableException(table, UnmanageableTableException.Problem.COLUMN_TYPE,
          "column " + table + "." + policy.column() + " is " + type + "; time-range partitioning needs "
              + TIME_TYPE + " (boundaries are instants computed in the policy's zone)");
    }
  }

  private static String notPartitioned(QualifiedName table, String kind, ManagedTable policy) {
    if (!kind.equals("r")) {
      return "relation " + table + " is not a table (relkind '" + kind + "'); only partitioned tables can be managed";
    }
    String old = table.table().name().length() > 59 ? table.table().name().substring(0, 59) + "_old"
        : table.table().name() + "_old";
    String key = policy.tenantColumn() == null ? "RANGE (" + policy.column().sql() + ")"
        : "LIST (" + policy.tenantColumn().sql() + ")";
    return "table " + table + " is a plain table, not partitioned; Partwright manages partitioned tables only. "
        + "Convert it (brief ACCESS EXCLUSIVE locks; the old rows stay readable in the DEFAULT partition):\n"
        + "  BEGIN;\n"
        + "  ALTER TABLE " + table.sql() + " RENAME TO " + new Identifier(old).sql() + ";\n"
        + "  CREATE TABLE " + table.sql() + " (LIKE " + table.schema().sql() + "." + new Identifier(old).sql()
        + " INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY " + key + ";\n"
        + "  ALTER TABLE " + table.sql() + " ATTACH PARTITION " + table.schema().sql() + "." + new Identifier(old).sql()
        + " DEFAULT;\n"
        + "  COMMIT;\n"
        + "then run partwright manage again (and move old rows out of DEFAULT into their partitions over time).";
  }

  private static String relkind(Connection c, QualifiedName table) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement("""
        SELECT cl.relkind::text FROM pg_class cl JOIN pg_namespace n ON n.oid = cl.relnamespace
         WHERE n.nspname = ? AND cl.relname = ?""")) {
      ps.setString(1, table.schema().name());
      ps.setString(2, table.table().name());
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() ? rs.getString(1) : null;
      }
    }
  }

  private static String columnType(Connection c, QualifiedName table, Identifier column) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement("""
        SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
          JOIN pg_class cl ON cl.oid = a.attrelid JOIN pg_namespace n ON n.oid = cl.relnamespace
         WHERE n.nspname = ? AND cl.relname = ? AND a.attname = ? AND a.attnum > 0 AND NOT a.attisdropped""")) {
      ps.setString(1, table.schema().name());
      ps.setString(2, table.table().name());
      ps.setString(3, column.name());
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() ? rs.getString(1) : null;
      }
    }
  }

  private static void setInt(PreparedStatement ps, int index, Integer value) throws SQLException {
    if (value == null) {
      ps.setNull(index, Types.INTEGER);
    } else {
      ps.setInt(index, value);
    }
  }
}
