package dev.partwright.connectors.postgres;

import dev.partwright.schemas.Bounds;
import dev.partwright.schemas.HashBound;
import dev.partwright.schemas.ListBound;
import dev.partwright.schemas.PartitionKey;
import dev.partwright.schemas.RangeBound;
import dev.partwright.schemas.Strategy;
import dev.partwright.schemas.Unbounded;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** What PostgreSQL's catalog says, read with parameterized queries only. */
public final class PostgresCatalog {

  private PostgresCatalog() {}

  /** A relation of the partition naming scheme as it exists now. */
  public record ExistingTable(String attachedTo, String boundExpression) {
    public boolean attached() {
      return attachedTo != null;
    }
  }

  /** Creates the {@code partwright} schema and its audit table if missing (safe under concurrency). */
  public static void ensureAuditSchema(Connection c) throws SQLException {
    boolean auto = c.getAutoCommit();
    c.setAutoCommit(false);
    try (Statement s = c.createStatement()) {
      s.execute("SELECT pg_advisory_xact_lock(hashtext('partwright.audit-schema'))");
      s.execute("CREATE SCHEMA IF NOT EXISTS partwright");
      s.execute("""
          CREATE TABLE IF NOT EXISTS partwright.provisioning_log (
            idempotency_key text NOT NULL,
            aggregate_id    text NOT NULL,
            partition_name  text NOT NULL,
            parent          text NOT NULL,
            bound           text NOT NULL,
            action          text NOT NULL,
            worker          text NOT NULL,
            applied_at      timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (idempotency_key, partition_name, action))""");
      s.execute("COMMENT ON TABLE partwright.provisioning_log IS "
          + "'Every partition Partwright created, retired or rolled back: which command, which worker, when.'");
      c.commit();
    } catch (SQLException e) {
      c.rollback();
      throw e;
    } finally {
      c.setAutoCommit(auto);
    }
  }

  /** The partition key of {@code table}, or empty when it does not exist or is not partitioned. */
  public static Optional<PartitionKey> partitionKey(Connection c, QualifiedName table) throws SQLException {
    String sql = """
        SELECT pt.partstrat, a.attname, format_type(a.atttypid, a.atttypmod)
          FROM pg_partitioned_table pt
          JOIN pg_class cl ON cl.oid = pt.partrelid
          JOIN pg_namespace n ON n.oid = cl.relnamespace
          CROSS JOIN LATERAL unnest(pt.partattrs::int2[]) WITH ORDINALITY AS k(attnum, ord)
          LEFT JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = k.attnum
         WHERE n.nspname = ? AND cl.relname = ?
         ORDER BY k.ord""";
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      ps.setString(1, table.schema().name());
      ps.setString(2, table.table().name());
      try (ResultSet rs = ps.executeQuery()) {
        List<String> columns = new ArrayList<>();
        List<String> types = new ArrayList<>();
        Strategy strategy = null;
        while (rs.next()) {
          strategy = switch (rs.getString(1)) {
            case "r" -> Strategy.RANGE;
            case "h" -> Strategy.HASH;
            case "l" -> Strategy.LIST;
            default -> throw new SQLException("unknown partition strategy " + rs.getString(1));
          };
          if (rs.getString(2) == null) {
            throw new SQLException("table " + table + " is partitioned by an expression; Partwright manages column keys only");
          }
          columns.add(rs.getString(2));
          types.add(rs.getString(3));
        }
        return strategy == null ? Optional.empty() : Optional.of(new PartitionKey(strategy, columns, types));
      }
    }
  }

  /** The table if it exists: to what it is attached and with which bound (session TimeZone UTC). */
  public static Optional<ExistingTable> existing(Connection c, QualifiedName table) throws SQLException {
    String sql = """
        SELECT (SELECT pn.nspname || '.' || p.relname
                  FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
                  JOIN pg_namespace pn ON pn.oid = p.relnamespace
                 WHERE i.inhrelid = cl.oid),
               pg_get_expr(cl.relpartbound, cl.oid)
          FROM pg_class cl JOIN pg_namespace n ON n.oid = cl.relnamespace
         WHERE n.nspname = ? AND cl.relname = ?""";
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      ps.setString(1, table.schema().name());
      ps.setString(2, table.table().name());
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() ? Optional.of(new ExistingTable(rs.getString(1), rs.getString(2))) : Optional.empty();
      }
    }
  }

  /**
   * The bound exactly as {@code pg_get_expr(relpartbound, oid)} prints it, computed by PostgreSQL
   * from our typed values (each cast to the key column's type), so the two can be compared as text.
   */
  public static String expectedBoundExpression(Connection c, Object bound, PartitionKey key) throws SQLException {
    if (bound instanceof HashBound h) {
      return "FOR VALUES WITH (modulus " + h.getModulus() + ", remainder " + h.getRemainder() + ")";
    }
    if (bound instanceof RangeBound r) {
      return "FOR VALUES FROM (" + rendered(c, r.getFrom(), key) + ") TO (" + rendered(c, r.getTo(), key) + ")";
    }
    if (bound instanceof ListBound l) {
      List<Object> values = l.getValues();
      String rendered = rendered(c, values, key);
      if (l.getIncludesNull()) {
        rendered = rendered.isEmpty() ? "NULL" : rendered + ", NULL";
      }
      return "FOR VALUES IN (" + rendered + ")";
    }
    return "DEFAULT";
  }

  private static String rendered(Connection c, List<Object> values, PartitionKey key) throws SQLException {
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < values.size(); i++) {
      if (i > 0) {
        out.append(", ");
      }
      Object v = values.get(i);
      if (v instanceof Unbounded u) {
        out.append(u.name());
        continue;
      }
      String type = key.getTypes().get(Math.min(i, key.getTypes().size() - 1));
      // the type name comes from PostgreSQL's own format_type(), never from a user
      try (PreparedStatement ps = c.prepareStatement("SELECT quote_literal(CAST(? AS " + type + "))")) {
        ps.setString(1, Bounds.valueText(v));
        try (ResultSet rs = ps.executeQuery()) {
          rs.next();
          out.append(rs.getString(1));
        }
      }
    }
    return out.toString();
  }

  /** Names of the parent's indexes that have no valid, ready, attached counterpart on the child. */
  public static List<String> unalignedIndexes(Connection c, QualifiedName parent, QualifiedName child) throws SQLException {
    String sql = """
        SELECT pi.indexrelid::regclass::text
          FROM pg_index pi
         WHERE pi.indrelid = (SELECT cl.oid FROM pg_class cl JOIN pg_namespace n ON n.oid = cl.relnamespace
                               WHERE n.nspname = ? AND cl.relname = ?)
           AND NOT EXISTS (
                 SELECT 1 FROM pg_inherits ih JOIN pg_index ci ON ci.indexrelid = ih.inhrelid
                  WHERE ih.inhparent = pi.indexrelid
                    AND ci.indrelid = (SELECT cl.oid FROM pg_class cl JOIN pg_namespace n ON n.oid = cl.relnamespace
                                        WHERE n.nspname = ? AND cl.relname = ?)
                    AND ci.indisvalid AND ci.indisready)
         ORDER BY 1""";
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      ps.setString(1, parent.schema().name());
      ps.setString(2, parent.table().name());
      ps.setString(3, child.schema().name());
      ps.setString(4, child.table().name());
      List<String> missing = new ArrayList<>();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          missing.add(rs.getString(1));
        }
      }
      return missing;
    }
  }

  /** Records one applied partition in the audit table, in the caller's transaction. */
  public static void audit(Connection c, String idempotencyKey, String aggregateId, QualifiedName partition,
      QualifiedName parent, String bound, String action, String worker) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement("""
        INSERT INTO partwright.provisioning_log
          (idempotency_key, aggregate_id, partition_name, parent, bound, action, worker)
        VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""")) {
      ps.setString(1, idempotencyKey);
      ps.setString(2, aggregateId);
      ps.setString(3, partition.toString());
      ps.setString(4, parent.toString());
      ps.setString(5, bound);
      ps.setString(6, action);
      ps.setString(7, worker);
      ps.executeUpdate();
    }
  }
}
