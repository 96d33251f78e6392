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
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.StringJoiner;

/** What PostgreSQL's catalog says, read with parameterized queries only. */
public final class PostgresCatalog {

  /** Prefix of the comment the worker puts on every table it creates, in the creating transaction. */
  public static final String CREATED_MARKER = "partwright:created";
  /** Comment of a retired partition moved to an archive schema: no longer a candidate for the orphan sweep. */
  public static final String ARCHIVED_MARKER = "partwright:archived";

  private PostgresCatalog() {}

  /**
   * A relation with a given name as it exists now.
   *
   * @param attachedTo {@code schema.table} of its parent, null when it is not a partition
   * @param boundExpression {@code pg_get_expr(relpartbound)}, null when not a partition
   * @param detachPending a {@code DETACH ... CONCURRENTLY} was interrupted and awaits {@code FINALIZE}
   * @param relkind {@code r} table, {@code p} partitioned table, anything else is not a table
   * @param comment the table's comment (the worker's marker), or null
   */
  public record ExistingTable(String attachedTo, String boundExpression, boolean detachPending, String relkind,
      String comment) {
    public boolean attached() {
      return attachedTo != null;
    }

    public boolean createdByPartwright() {
      return comment != null && comment.startsWith(CREATED_MARKER);
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
      s.execute("CREATE INDEX IF NOT EXISTS provisioning_log_partition_idx"
          + " ON partwright.provisioning_log (partition_name, applied_at)");
      s.execute("COMMENT ON TABLE partwright.provisioning_log IS "
          + "'Every partition Partwright created, detached, retired, archived or rolled back: which command, which worker, when.'");
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

  /**
   * The relation if it exists: to what it is attached, with which bound (session TimeZone UTC), and
   * its marker. (Comments are read from pg_description directly: {@code obj_description} is an SQL
   * function planned on every call, a millisecond each.)
   */
  public static Optional<ExistingTable> existing(Connection c, QualifiedName table) throws SQLException {
    return existing(c, List.of(table)).get(0);
  }

  /** The top of the partition tree {@code table} belongs to ({@code pg_partition_root}); itself for a root. */
  public static String rootOf(Connection c, QualifiedName table) throws SQLException {
    String sql = """
        SELECT rn.nspname || '.' || r.relname
          FROM pg_class cl JOIN pg_namespace n ON n.oid = cl.relnamespace
          JOIN pg_class r ON r.oid = pg_partition_root(cl.oid)
          JOIN pg_namespace rn ON rn.oid = r.relnamespace
         WHERE n.nspname = ? AND cl.relname = ?""";
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      ps.setString(1, table.schema().name());
      ps.setString(2, table.table().name());
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() ? rs.getString(1) : table.toString();
      }
    }
  }

  /** The DEFAULT partition of {@code parent}, if it has one. */
  public static Optional<CatalogTable> defaultPartition(Connection c, QualifiedName parent) throws SQLException {
    String sql = """
        SELECT dn.nspname || '.' || d.relname, quote_ident(dn.nspname) || '.' || quote_ident(d.relname)
          FROM pg_partitioned_table pt
          JOIN pg_class cl ON cl.oid = pt.partrelid
          JOIN pg_namespace n ON n.oid = cl.relnamespace
          JOIN pg_class d ON d.oid = pt.partdefid
          JOIN pg_namespace dn ON dn.oid = d.relnamespace
         WHERE n.nspname = ? AND cl.relname = ?""";
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      ps.setString(1, parent.schema().name());
      ps.setString(2, parent.table().name());
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() ? Optional.of(new CatalogTable(rs.getString(1), rs.getString(2))) : Optional.empty();
      }
    }
  }

  /** The columns a row copy writes (no dropped, no generated ones), each quoted by {@code quote_ident}, comma-separated. */
  public static String insertableColumns(Connection c, QualifiedName table) throws SQLException {
    String sql = """
        SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
          FROM pg_attribute a
          JOIN pg_class cl ON cl.oid = a.attrelid
          JOIN pg_namespace n ON n.oid = cl.relnamespace
         WHERE n.nspname = ? AND cl.relname = ? AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''""";
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      ps.setString(1, table.schema().name());
      ps.setString(2, table.table().name());
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getString(1);
      }
    }
  }

  /** Two range partitions that should meet and do not. */
  public record CoverageProblem(String lower, String upper, String kind) {
    @Override
    public String toString() {
      return kind + " between " + lower + " and " + upper;
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

  /** Each value cast to its key column's type and quoted by PostgreSQL, in one query. */
  private static String rendered(Connection c, List<Object> values, PartitionKey key) throws SQLException {
    StringBuilder select = new StringBuilder("SELECT ");
    List<String> params = new ArrayList<>();
    for (int i = 0; i < values.size(); i++) {
      if (i > 0) {
        select.append(", ");
      }
      Object v = values.get(i);
      if (v instanceof Unbounded u) {
        select.append("'").append(u.name()).append("'");
        continue;
      }
      // the type name comes from PostgreSQL's own format_type(), never from a user
      String type = key.getTypes().get(Math.min(i, key.getTypes().size() - 1));
      select.append("quote_literal(CAST(? AS ").append(type).append("))");
      params.add(Bounds.valueText(v));
    }
    if (values.isEmpty()) {
      return "";
    }
    try (PreparedStatement ps = c.prepareStatement(select.toString())) {
      for (int i = 0; i < params.size(); i++) {
        ps.setString(i + 1, params.get(i));
      }
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        StringBuilder out = new StringBuilder();
        for (int i = 1; i <= values.size(); i++) {
          out.append(i > 1 ? ", " : "").append(rs.getString(i));
        }
        return out.toString();
      }
    }
  }

  /** A partitioned table the worker creates partitions of: its key, the root of its tree, its DEFAULT partition. */
  public record Parent(PartitionKey key, String rootTable, Optional<CatalogTable> defaultPartition) {}

  /**
   * {@link Parent} of {@code table} in one round trip; empty when it does not exist or is not
   * partitioned. Read once per command: every statement right after DDL re-plans, and this is the
   * widest query the worker sends.
   */
  static RoundTrip.Result<Optional<Parent>> parent(RoundTrip r, QualifiedName table) {
    String sql = """
        SELECT pt.partstrat, k.cols, k.types,
               (SELECT rn.nspname || '.' || r.relname FROM pg_class r JOIN pg_namespace rn ON rn.oid = r.relnamespace
                 WHERE r.oid = pg_partition_root(cl.oid)),
               dn.nspname || '.' || d.relname, quote_ident(dn.nspname) || '.' || quote_ident(d.relname)
          FROM pg_class cl JOIN pg_namespace n ON n.oid = cl.relnamespace
          JOIN pg_partitioned_table pt ON pt.partrelid = cl.oid
          CROSS JOIN LATERAL (
            SELECT array_agg(COALESCE(a.attname::text, '') ORDER BY u.ord) AS cols,
                   array_agg(COALESCE(format_type(a.atttypid, a.atttypmod), '') ORDER BY u.ord) AS types
              FROM unnest(pt.partattrs::int2[]) WITH ORDINALITY AS u(attnum, ord)
              LEFT JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = u.attnum) k
          LEFT JOIN pg_class d ON d.oid = pt.partdefid
          LEFT JOIN pg_namespace dn ON dn.oid = d.relnamespace
         WHERE n.nspname = ? AND cl.relname = ?""";
    return r.query(sql, List.of(table.schema().name(), table.table().name()), rs -> {
        if (!rs.next()) {
          return Optional.empty();
        }
        Strategy strategy = switch (rs.getString(1)) {
          case "r" -> Strategy.RANGE;
          case "h" -> Strategy.HASH;
          case "l" -> Strategy.LIST;
          default -> throw new SQLException("unknown partition strategy " + rs.getString(1));
        };
        List<String> columns = List.of((String[]) rs.getArray(2).getArray());
        List<String> types = List.of((String[]) rs.getArray(3).getArray());
        if (columns.contains("")) {
          throw new SQLException("table " + table + " is partitioned by an expression; Partwright manages column keys only");
        }
        String root = rs.getString(4) == null ? table.toString() : rs.getString(4);
        Optional<CatalogTable> deflt = rs.getString(5) == null
            ? Optional.empty()
            : Optional.of(new CatalogTable(rs.getString(5), rs.getString(6)));
        return Optional.of(new Parent(new PartitionKey(strategy, columns, types), root, deflt));
    });
  }

  /**
   * What verification reads about a new partition: where it is attached, its bound, the parent's
   * indexes that have no valid, ready counterpart attached on it, and the bounds of the partitions
   * expected next to it (null where there is none, or it is not a partition).
   */
  public record Attached(String attachedTo, String boundExpression, List<String> unalignedIndexes, String lowerBound,
      String upperBound) {}

  /**
   * {@link #existing} for many relations in one round trip: one entry per name, in order, empty
   * where no relation of that name exists.
   */
  public static List<Optional<ExistingTable>> existing(Connection c, List<QualifiedName> tables) throws SQLException {
    RoundTrip r = new RoundTrip(c);
    RoundTrip.Result<List<Optional<ExistingTable>>> out = existing(r, tables);
    r.run();
    return out.get();
  }

  /** {@link #existing(Connection, List)} as part of a round trip. */
  static RoundTrip.Result<List<Optional<ExistingTable>>> existing(RoundTrip r, List<QualifiedName> tables) {
    String sql = """
        SELECT cl.oid IS NOT NULL,
               (SELECT pn.nspname || '.' || p.relname
                  FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
                  JOIN pg_namespace pn ON pn.oid = p.relnamespace
                 WHERE i.inhrelid = cl.oid),
               pg_get_expr(cl.relpartbound, 0),
               COALESCE((SELECT i.inhdetachpending FROM pg_inherits i WHERE i.inhrelid = cl.oid), false),
               cl.relkind::text,
               (SELECT d.description FROM pg_description d
                 WHERE d.objoid = cl.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0)
          FROM unnest(?::text[], ?::text[]) WITH ORDINALITY AS t(schema, tbl, ord)
          LEFT JOIN pg_namespace n ON n.nspname = t.schema
          LEFT JOIN pg_class cl ON cl.relnamespace = n.oid AND cl.relname = t.tbl
         ORDER BY t.ord""";
    if (tables.isEmpty()) {
      return RoundTrip.Result.of(List.of());
    }
    return r.query(sql, List.of(tables.stream().map(t -> t.schema().name()).toArray(String[]::new),
        tables.stream().map(t -> t.table().name()).toArray(String[]::new)), rs -> {
          List<Optional<ExistingTable>> out = new ArrayList<>();
          while (rs.next()) {
            out.add(rs.getBoolean(1)
                ? Optional.of(new ExistingTable(rs.getString(2), rs.getString(3), rs.getBoolean(4), rs.getString(5),
                    rs.getString(6)))
                : Optional.empty());
          }
          return out;
        });
  }

  /**
   * {@link #expectedBoundExpression} for many bounds, each with its parent's key, in one round trip
   * (one query whatever the number of values; before any DDL, while the catalog is quiet).
   */
  static RoundTrip.Result<List<String>> expectedBoundExpressions(RoundTrip r, List<Object> bounds,
      List<PartitionKey> keys) {
    StringJoiner columns = new StringJoiner(", ", "SELECT ", "");
    List<String> params = new ArrayList<>();
    int count = 0;
    for (int b = 0; b < bounds.size(); b++) {
      for (List<Object> values : boundValues(bounds.get(b))) {
        for (int i = 0; i < values.size(); i++) {
          count++;
          Object v = values.get(i);
          if (v instanceof Unbounded u) {
            columns.add("'" + u.name() + "'");
            continue;
          }
          // the type name comes from PostgreSQL's own format_type(), never from a user
          List<String> types = keys.get(b).getTypes();
          columns.add("quote_literal(CAST(? AS " + types.get(Math.min(i, types.size() - 1)) + "))");
          params.add(Bounds.valueText(v));
        }
      }
    }
    if (count == 0) {
      return RoundTrip.Result.of(expressions(bounds, List.of()));
    }
    RoundTrip.Result<List<String>> printed = r.query(columns.toString(), params, rs -> {
      rs.next();
      List<String> values = new ArrayList<>();
      for (int i = 1; i <= rs.getMetaData().getColumnCount(); i++) {
        values.add(rs.getString(i));
      }
      return expressions(bounds, values);
    });
    return printed;
  }

  /** The bound expressions of {@code bounds}, their values printed by PostgreSQL as {@code printed}, in order. */
  private static List<String> expressions(List<Object> bounds, List<String> printed) {
    List<String> out = new ArrayList<>();
    int next = 0;
    for (Object bound : bounds) {
      List<String> parts = new ArrayList<>();
      for (List<Object> values : boundValues(bound)) {
        parts.add(String.join(", ", printed.subList(next, next + values.size())));
        next += values.size();
      }
      if (bound instanceof HashBound h) {
        out.add("FOR VALUES WITH (modulus " + h.getModulus() + ", remainder " + h.getRemainder() + ")");
      } else if (bound instanceof RangeBound) {
        out.add("FOR VALUES FROM (" + parts.get(0) + ") TO (" + parts.get(1) + ")");
      } else if (bound instanceof ListBound l) {
        String rendered = parts.get(0);
        if (l.getIncludesNull()) {
          rendered = rendered.isEmpty() ? "NULL" : rendered + ", NULL";
        }
        out.add("FOR VALUES IN (" + rendered + ")");
      } else {
        out.add("DEFAULT");
      }
    }
    return out;
  }

  /** The value lists of a bound that PostgreSQL renders: from and to of a range, the values of a list. */
  private static List<List<Object>> boundValues(Object bound) {
    if (bound instanceof RangeBound r) {
      return List.of(r.getFrom(), r.getTo());
    }
    if (bound instanceof ListBound l) {
      return List.of(l.getValues());
    }
    return List.of();
  }

  /**
   * One new partition to verify: it, its parent, and the schema and table of the partitions
   * expected next to it (nulls: none).
   */
  public record AttachedQuery(QualifiedName child, QualifiedName parent, String lowerSchema, String lowerTable,
      String upperSchema, String upperTable) {}

  /**
   * {@link #attached} for many partitions in one round trip: one entry per query, in order, empty
   * where the partition does not exist.
   */
  static RoundTrip.Result<List<Optional<Attached>>> attached(RoundTrip r, List<AttachedQuery> queries) {
    String sql = """
        WITH t AS (
          SELECT * FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[])
                   WITH ORDINALITY AS t(cs, ct, ps, pt, ls, lt, us, ut, ord)),
        ch AS (
          SELECT t.*, cl.oid, cl.relpartbound,
                 (SELECT p.oid FROM pg_class p JOIN pg_namespace pn ON pn.oid = p.relnamespace
                   WHERE pn.nspname = t.ps AND p.relname = t.pt) AS poid
            FROM t JOIN pg_namespace n ON n.nspname = t.cs JOIN pg_class cl ON cl.relnamespace = n.oid AND cl.relname = t.ct)
        SELECT ch.ord,
               (SELECT pn.nspname || '.' || pc.relname FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhparent
                  JOIN pg_namespace pn ON pn.oid = pc.relnamespace WHERE i.inhrelid = ch.oid),
               pg_get_expr(ch.relpartbound, 0),
               -- from the child's few indexes up to their parents, not from each parent index down
               -- through all its partitions' indexes: the cost must not grow with the table
               ARRAY(SELECT pi.indexrelid::regclass::text FROM pg_index pi
                      WHERE pi.indrelid = ch.poid
                        AND pi.indexrelid NOT IN (
                              SELECT ih.inhparent FROM pg_index ci JOIN pg_inherits ih ON ih.inhrelid = ci.indexrelid
                               WHERE ci.indrelid = ch.oid AND ci.indisvalid AND ci.indisready)
                      ORDER BY 1),
               (SELECT pg_get_expr(x.relpartbound, 0) FROM pg_class x JOIN pg_namespace xn ON xn.oid = x.relnamespace
                 WHERE xn.nspname = ch.ls AND x.relname = ch.lt AND x.relispartition),
               (SELECT pg_get_expr(x.relpartbound, 0) FROM pg_class x JOIN pg_namespace xn ON xn.oid = x.relnamespace
                 WHERE xn.nspname = ch.us AND x.relname = ch.ut AND x.relispartition)
          FROM ch ORDER BY ch.ord""";
    if (queries.isEmpty()) {
      return RoundTrip.Result.of(List.of());
    }
    String[][] columns = new String[8][queries.size()];
    for (int i = 0; i < queries.size(); i++) {
      AttachedQuery q = queries.get(i);
      columns[0][i] = q.child().schema().name();
      columns[1][i] = q.child().table().name();
      columns[2][i] = q.parent().schema().name();
      columns[3][i] = q.parent().table().name();
      columns[4][i] = q.lowerSchema();
      columns[5][i] = q.lowerTable();
      columns[6][i] = q.upperSchema();
      columns[7][i] = q.upperTable();
    }
    return r.query(sql, List.of((Object[]) columns), rs -> {
      List<Optional<Attached>> out = new ArrayList<>();
      for (int i = 0; i < queries.size(); i++) {
        out.add(Optional.empty());
      }
      while (rs.next()) {
        out.set(rs.getInt(1) - 1, Optional.of(new Attached(rs.getString(2), rs.getString(3),
            List.of((String[]) rs.getArray(4).getArray()), rs.getString(5), rs.getString(6))));
      }
      return out;
    });
  }

  /** One row of the audit table, for {@link #audit(RoundTrip, String, String, String, String, List)}. */
  public record AuditRow(String partition, String parent, String bound) {}

  /**
   * Records the same action of one command on many partitions in one statement, in the caller's
   * transaction; like the single-row form, applying it again only moves the time.
   */
  static void audit(RoundTrip r, String idempotencyKey, String aggregateId, String action, String worker,
      List<AuditRow> rows) {
    if (rows.isEmpty()) {
      return;
    }
    r.statement("""
        INSERT INTO partwright.provisioning_log
          (idempotency_key, aggregate_id, partition_name, parent, bound, action, worker, applied_at)
        SELECT ?, ?, t.partition_name, t.parent, t.bound, ?, ?, clock_timestamp()
          FROM unnest(?::text[], ?::text[], ?::text[]) WITH ORDINALITY AS t(partition_name, parent, bound, ord)
         ORDER BY t.ord
        ON CONFLICT (idempotency_key, partition_name, action)
        DO UPDATE SET applied_at = EXCLUDED.applied_at, worker = EXCLUDED.worker""", List.of(idempotencyKey,
        aggregateId, action, worker, rows.stream().map(AuditRow::partition).toArray(String[]::new),
        rows.stream().map(AuditRow::parent).toArray(String[]::new),
        rows.stream().map(AuditRow::bound).toArray(String[]::new)));
  }

  /** How much of its quota a partition tree uses. */
  public record Usage(String rootTable, int partitions, long bytes) {}

  /**
   * Partitions below {@code root} (every level) and bytes of its leaves with their indexes and
   * TOAST ({@code pg_total_relation_size}). Empty when {@code root} does not exist.
   */
  public static Optional<Usage> usage(Connection c, QualifiedName root) throws SQLException {
    String sql = """
        WITH RECURSIVE tree(relid, level) AS (
          SELECT cl.oid, 0 FROM pg_class cl JOIN pg_namespace n ON n.oid = cl.relnamespace
           WHERE n.nspname = ? AND cl.relname = ?
          UNION ALL
          SELECT i.inhrelid, t.level + 1 FROM pg_inherits i JOIN tree t ON i.inhparent = t.relid)
        SELECT count(*) FILTER (WHERE t.level > 0),
               COALESCE(sum(pg_total_relation_size(t.relid)) FILTER (WHERE c.relkind = 'r'), 0)
          FROM tree t JOIN pg_class c ON c.oid = t.relid
        HAVING count(*) > 0""";
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      ps.setString(1, root.schema().name());
      ps.setString(2, root.table().name());
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() ? Optional.of(new Usage(root.toString(), rs.getInt(1), rs.getLong(2))) : Optional.empty();
      }
    }
  }

  /**
   * What the circuit breaker watches: the largest {@code replay_lag} over all standbys streaming
   * from this server (zero when none or when idle), and lock requests waiting on any table of the
   * tree {@code parent} belongs to (count, and how long the oldest has waited).
   */
  public record Health(Duration replicationLag, int lockWaiters, Duration longestLockWait) {}

  /**
   * Reads {@link Health}. Takes no lock on any table (the tree is walked in {@code pg_inherits}, not
   * with {@code pg_partition_tree}, which locks every member): it must answer while someone holds
   * ACCESS EXCLUSIVE on the tree, which is exactly when it matters.
   */
  public static Health health(Connection c, QualifiedName parent) throws SQLException {
    String sql = """
        WITH RECURSIVE tree(relid) AS (
          SELECT pg_partition_root(cl.oid) FROM pg_class cl JOIN pg_namespace n ON n.oid = cl.relnamespace
           WHERE n.nspname = ? AND cl.relname = ?
          UNION ALL
          SELECT i.inhrelid FROM pg_inherits i JOIN tree t ON i.inhparent = t.relid),
        waits AS (
          SELECT l.waitstart FROM pg_locks l
           WHERE NOT l.granted AND l.locktype = 'relation' AND l.relation IN (SELECT relid FROM tree))
        SELECT (SELECT COALESCE(max(extract(epoch FROM r.replay_lag)), 0) FROM pg_stat_replication r),
               (SELECT count(*) FROM waits),
               (SELECT COALESCE(max(extract(epoch FROM clock_timestamp() - w.waitstart)), 0) FROM waits w)""";
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      ps.setString(1, parent.schema().name());
      ps.setString(2, parent.table().name());
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        return new Health(seconds(rs.getDouble(1)), rs.getInt(2), seconds(rs.getDouble(3)));
      }
    }
  }

  private static Duration seconds(double s) {
    return Duration.ofNanos((long) (s * 1e9));
  }

  /** A table the worker created that is attached nowhere and not live in the audit log. */
  public record OrphanTable(String schema, String table, String comment) {
    public String qualified() {
      return schema + "." + table;
    }
  }

  /**
   * Tables carrying the worker's creation marker that are not partitions of anything, and whose
   * latest audit action is neither {@code created} nor {@code detached} (a detached one is a
   * retirement in progress, finished when its command is redelivered). Only the marker proves
   * Partwright made a table, so a user's own look-alike is never a candidate.
   */
  public static List<OrphanTable> orphans(Connection c) throws SQLException {
    String sql = """
        SELECT n.nspname, cl.relname, d.description
          FROM pg_class cl JOIN pg_namespace n ON n.oid = cl.relnamespace
          JOIN pg_description d ON d.objoid = cl.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
         WHERE cl.relkind IN ('r', 'p')
           AND NOT cl.relispartition
           AND d.description LIKE 'partwright:created%'
           AND COALESCE((SELECT l.action FROM partwright.provisioning_log l
                          WHERE l.partition_name = n.nspname || '.' || cl.relname
                          ORDER BY l.applied_at DESC LIMIT 1), 'none') NOT IN ('created', 'detached')
         ORDER BY 1, 2""";
    try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
      List<OrphanTable> out = new ArrayList<>();
      while (rs.next()) {
        out.add(new OrphanTable(rs.getString(1), rs.getString(2), rs.getString(3)));
      }
      return out;
    }
  }

  /** A partition left half-detached by an interrupted {@code DETACH ... CONCURRENTLY}. */
  public record PendingDetach(String parentSchema, String parent, String schema, String partition) {}

  /** Pending detaches of tables the worker created. */
  public static List<PendingDetach> pendingDetaches(Connection c) throws SQLException {
    String sql = """
        SELECT pn.nspname, p.relname, n.nspname, ch.relname
          FROM pg_inherits i
          JOIN pg_class ch ON ch.oid = i.inhrelid JOIN pg_namespace n ON n.oid = ch.relnamespace
          JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = p.relnamespace
          JOIN pg_description d ON d.objoid = ch.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
         WHERE i.inhdetachpending AND d.description LIKE 'partwright:created%'
         ORDER BY 1, 2, 3, 4""";
    try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
      List<PendingDetach> out = new ArrayList<>();
      while (rs.next()) {
        out.add(new PendingDetach(rs.getString(1), rs.getString(2), rs.getString(3), rs.getString(4)));
      }
      return out;
    }
  }

  /** The latest audit action recorded for a partition, if any. */
  public static Optional<String> latestAction(Connection c, String partition) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement("""
        SELECT action FROM partwright.provisioning_log WHERE partition_name = ? ORDER BY applied_at DESC LIMIT 1""")) {
      ps.setString(1, partition);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() ? Optional.of(rs.getString(1)) : Optional.empty();
      }
    }
  }

  /** Whether {@code table} (with its partitions, if it has any) holds a row. */
  public static boolean anyRow(Connection c, SqlName table) throws SQLException {
    try (Statement s = c.createStatement();
         ResultSet rs = s.executeQuery("SELECT EXISTS (SELECT 1 FROM " + table.sql() + ")")) {
      rs.next();
      return rs.getBoolean(1);
    }
  }

  /**
   * Records one action on a partition in the audit table, in the caller's transaction. Applying the
   * same action of the same command again only moves its time, so "latest action" stays true.
   */
  public static void audit(Connection c, String idempotencyKey, String aggregateId, String partition,
      String parent, String bound, String action, String worker) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement("""
        INSERT INTO partwright.provisioning_log
          (idempotency_key, aggregate_id, partition_name, parent, bound, action, worker, applied_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, clock_timestamp())
        ON CONFLICT (idempotency_key, partition_name, action)
        DO UPDATE SET applied_at = EXCLUDED.applied_at, worker = EXCLUDED.worker""")) {
      ps.setString(1, idempotencyKey);
      ps.setString(2, aggregateId);
      ps.setString(3, partition);
      ps.setString(4, parent);
      ps.setString(5, bound);
      ps.setString(6, action);
      ps.setString(7, worker);
      ps.executeUpdate();
    }
  }

  /** {@link #audit(Connection, String, String, String, String, String, String, String)} for a validated name. */
  public static void audit(Connection c, String idempotencyKey, String aggregateId, QualifiedName partition,
      QualifiedName parent, String bound, String action, String worker) throws SQLException {
    audit(c, idempotencyKey, aggregateId, partition.toString(), parent.toString(), bound, action, worker);
  }

  /**
   * The monitoring view of one managed tree (a root table the audit log knows).
   *
   * @param unalignedPartitions partitions lacking a valid, ready, attached counterpart of one of their parent's indexes
   * @param unusedIndexes indexes on partitions never scanned since statistics were reset
   * @param waitingLocks lock requests waiting on a table of the tree
   * @param accessExclusiveLocks ACCESS EXCLUSIVE locks held on a table of the tree (DDL that blocks everything)
   */
  public record TreeStats(String rootTable, long unalignedPartitions, long unusedIndexes, long waitingLocks,
      long accessExclusiveLocks) {}

  /** {@link TreeStats} of every managed tree, in one query that locks no table (trees walked in pg_inherits). */
  public static List<TreeStats> managedTrees(Connection c) throws SQLException {
    String sql = """
        WITH RECURSIVE managed AS (
          SELECT DISTINCT pg_partition_root(to_regclass(l.parent)) AS root
            FROM partwright.provisioning_log l WHERE l.parent <> ''),
        tree(root, relid, parentrelid, level) AS (
          SELECT m.root, m.root, NULL::oid, 0 FROM managed m WHERE m.root IS NOT NULL
          UNION ALL
          SELECT t.root, i.inhrelid, i.inhparent, t.level + 1 FROM pg_inherits i JOIN tree t ON i.inhparent = t.relid)
        SELECT rn.nspname || '.' || r.relname,
               (SELECT count(*) FROM tree t WHERE t.root = m.root AND t.level > 0 AND EXISTS (
                  SELECT 1 FROM pg_index pi WHERE pi.indrelid = t.parentrelid AND NOT EXISTS (
                    SELECT 1 FROM pg_inherits ih JOIN pg_index ci ON ci.indexrelid = ih.inhrelid
                     WHERE ih.inhparent = pi.indexrelid AND ci.indrelid = t.relid AND ci.indisvalid AND ci.indisready))),
               (SELECT count(*) FROM tree t JOIN pg_stat_user_indexes s ON s.relid = t.relid
                 WHERE t.root = m.root AND t.level > 0 AND s.idx_scan = 0),
               (SELECT count(*) FROM tree t JOIN pg_locks l ON l.relation = t.relid
                 WHERE t.root = m.root AND l.locktype = 'relation' AND NOT l.granted),
               (SELECT count(*) FROM tree t JOIN pg_locks l ON l.relation = t.relid
                 WHERE t.root = m.root AND l.locktype = 'relation' AND l.granted AND l.mode = 'AccessExclusiveLock')
          FROM (SELECT DISTINCT root FROM managed WHERE root IS NOT NULL) m
          JOIN pg_class r ON r.oid = m.root JOIN pg_namespace rn ON rn.oid = r.relnamespace
         ORDER BY 1""";
    try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
      List<TreeStats> out = new ArrayList<>();
      while (rs.next()) {
        out.add(new TreeStats(rs.getString(1), rs.getLong(2), rs.getLong(3), rs.getLong(4), rs.getLong(5)));
      }
      return out;
    }
  }

  /** The largest {@code replay_lag} over the standbys streaming from this server; zero when none (or idle). */
  public static Duration replicationLag(Connection c) throws SQLException {
    try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(
        "SELECT COALESCE(max(extract(epoch FROM replay_lag)), 0) FROM pg_stat_replication")) {
      rs.next();
      return seconds(rs.getDouble(1));
    }
  }
}
