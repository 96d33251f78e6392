package dev.partwright.router;

import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.PartitionAdded;
import dev.partwright.schemas.PartitionKey;
import dev.partwright.schemas.Strategy;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.sql.DataSource;

/**
 * Reads a partitioned table's boundaries from PostgreSQL's own catalog ({@code pg_inherits},
 * {@code pg_partitioned_table}, {@code pg_get_expr(relpartbound)}), recursively through sub-partitions,
 * as the same {@link BoundaryChange}s a worker publishes: so a router also serves tables Partwright does
 * not manage, and can start before the boundary topic is reachable. Read-only; every table is read in
 * one transaction with the session in UTC and ISO DateStyle, so the bound text is unambiguous.
 *
 * <p>Partition names are {@code nspname.relname}, unquoted, as the worker names them. The changes have
 * aggregate version 0 and aggregate id {@code *}/table, so any change a worker publishes later wins.
 *
 * <p>Refuses ({@link UnsupportedPartitionKeyException}) keys it cannot route exactly: expressions,
 * non-default operator classes, types outside {@link KeyType}, text under a nondeterministic collation,
 * text range keys under a collation that does not sort by bytes, text range or hash keys in a database
 * whose encoding is not UTF8.
 */
public final class PgCatalogBoundarySource {

  private static final String TREE = """
      WITH RECURSIVE tree(oid, parent, depth) AS (
        SELECT ?::oid, NULL::oid, 0
        UNION ALL
        SELECT i.inhrelid, i.inhparent, t.depth + 1 FROM pg_inherits i JOIN tree t ON i.inhparent = t.oid
      )
      """;

  private static final String NODES = TREE + """
      SELECT t.oid, n.nspname || '.' || c.relname AS name, c.relkind::text AS kind,
             pn.nspname || '.' || p.relname AS parent, pg_get_expr(c.relpartbound, c.oid) AS bound
        FROM tree t
        JOIN pg_class c ON c.oid = t.oid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_class p ON p.oid = t.parent
        LEFT JOIN pg_namespace pn ON pn.oid = p.relnamespace
       ORDER BY t.depth, c.relname
      """;

  private static final String KEYS = TREE + """
      SELECT pt.partrelid, pt.partstrat::text AS strategy, k.attnum, a.attname, format_type(a.atttypid, a.atttypmod) AS type,
             oc.opcdefault, co.collprovider::text AS provider, co.collcollate, co.collisdeterministic, co.collname,
             pg_get_partkeydef(pt.partrelid) AS keydef
        FROM tree t
        JOIN pg_partitioned_table pt ON pt.partrelid = t.oid
        CROSS JOIN LATERAL unnest(pt.partattrs::int2[], pt.partclass::oid[], pt.partcollation::oid[])
             WITH ORDINALITY AS k(attnum, opclass, coll, ord)
        LEFT JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = k.attnum
        JOIN pg_opclass oc ON oc.oid = k.opclass
        LEFT JOIN pg_collation co ON co.oid = k.coll
       ORDER BY pt.partrelid, k.ord
      """;

  private static final String DATABASE = """
      SELECT datlocprovider::text, datcollate, pg_encoding_to_char(encoding) FROM pg_database WHERE datname = current_database()
      """;

  private final DataSource dataSource;

  public PgCatalogBoundarySource(DataSource dataSource) {
    this.dataSource = dataSource;
  }

  /** Every partitioned table that is not itself a partition, as {@code schema.table}. */
  public List<String> partitionedTables() {
    try (Connection c = dataSource.getConnection();
        Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("""
            SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind = 'p' AND NOT c.relispartition ORDER BY 1""")) {
      List<String> out = new ArrayList<>();
      while (rs.next()) {
        out.add(rs.getString(1));
      }
      return out;
    } catch (SQLException e) {
      throw new BoundarySourceException(describe(), null, e.getMessage(), e);
    }
  }

  /** Applies the boundaries of {@code tables} to {@code router} in one batch; returns the router. */
  public PartitionRouter bootstrap(PartitionRouter router, Collection<String> tables) {
    List<BoundaryChange> all = new ArrayList<>();
    for (String table : tables) {
      all.addAll(load(table));
    }
    router.applyAll(all);
    return router;
  }

  public PartitionRouter bootstrap(PartitionRouter router, String... tables) {
    return bootstrap(router, List.of(tables));
  }

  /**
   * The boundary changes that rebuild {@code table}'s partitions, parents before their sub-partitions.
   * {@code table} is {@code schema.table} as the catalog spells it, or any name {@code to_regclass}
   * accepts.
   *
   * @throws BoundarySourceException when the table does not exist, is not partitioned, or the catalog cannot be read
   * @throws UnsupportedPartitionKeyException when a key cannot be routed exactly
   */
  public List<BoundaryChange> load(String table) {
    try (Connection c = dataSource.getConnection()) {
      boolean autoCommit = c.getAutoCommit();
      c.setAutoCommit(false);
      try {
        try (Statement s = c.createStatement()) {
          s.execute("SET TRANSACTION READ ONLY");
          s.execute("SET LOCAL TimeZone = 'UTC'");
          s.execute("SET LOCAL DateStyle = 'ISO, YMD'");
          s.execute("SET LOCAL standard_conforming_strings = on");
        }
        return load(c, table);
      } finally {
        c.rollback();
        c.setAutoCommit(autoCommit);
      }
    } catch (SQLException e) {
      throw new BoundarySourceException(describe(), table, e.getMessage(), e);
    }
  }

  private record Node(long oid, String name, String kind, String parent, String bound) {}

  private List<BoundaryChange> load(Connection c, String table) throws SQLException {
    long oid = oidOf(c, table);
    List<Node> nodes = new ArrayList<>();
    try (PreparedStatement ps = c.prepareStatement(NODES)) {
      ps.setLong(1, oid);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          nodes.add(new Node(rs.getLong(1), rs.getString(2), rs.getString(3), rs.getString(4), rs.getString(5)));
        }
      }
    }
    String root = nodes.get(0).name();
    if (!nodes.get(0).kind().equals("p")) {
      throw new BoundarySourceException(describe(), table, "not a partitioned table (relkind " + nodes.get(0).kind() + ")", null);
    }
    Map<Long, PartitionKey> keys = keys(c, oid);
    Map<String, Long> oids = new HashMap<>();
    for (Node n : nodes) {
      oids.put(n.name(), n.oid());
    }
    Instant now = Instant.now().truncatedTo(ChronoUnit.MICROS);
    List<BoundaryChange> out = new ArrayList<>();
    for (Node n : nodes.subList(1, nodes.size())) {
      PartitionKey parentKey = keys.get(oids.get(n.parent()));
      KeyColumn[] columns = columns(n.parent(), parentKey);
      out.add(BoundaryChange.newBuilder()
          .setAggregateId("*/" + root)
          .setAggregateVersion(0)
          .setRootTable(root)
          .setChangedAt(now)
          .setChange(PartitionAdded.newBuilder()
              .setPartition(n.name())
              .setParent(n.parent())
              .setParentKey(parentKey)
              .setBound(BoundExpression.parse(n.name(), n.bound(), columns))
              .setSubpartitionBy(n.kind().equals("p") ? keys.get(n.oid()) : null)
              .build())
          .build());
    }
    return out;
  }

  private static KeyColumn[] columns(String table, PartitionKey key) {
    KeyColumn[] columns = new KeyColumn[key.getColumns().size()];
    for (int i = 0; i < columns.length; i++) {
      columns[i] = KeyType.column(table, key.getColumns().get(i), key.getTypes().get(i));
    }
    return columns;
  }

  private long oidOf(Connection c, String table) throws SQLException {
    int dot = table.indexOf('.');
    if (dot > 0) {
      try (PreparedStatement ps = c.prepareStatement(
          "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ? AND c.relname = ?")) {
        ps.setString(1, table.substring(0, dot));
        ps.setString(2, table.substring(dot + 1));
        try (ResultSet rs = ps.executeQuery()) {
          if (rs.next()) {
            return rs.getLong(1);
          }
        }
      }
    }
    try (PreparedStatement ps = c.prepareStatement("SELECT to_regclass(?)::oid")) {
      ps.setString(1, table);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        long oid = rs.getLong(1);
        if (rs.wasNull()) {
          throw new BoundarySourceException(describe(), table, "no such table", null);
        }
        return oid;
      }
    }
  }

  /** Collation facts of one key column, to decide whether its order and hash are the router's. */
  private record Column(String table, String keydef, String strategy, int attnum, String name, String type,
      boolean defaultOpclass, String provider, String collate, boolean deterministic, String collation) {}

  private Map<Long, PartitionKey> keys(Connection c, long root) throws SQLException {
    String dbProvider;
    String dbCollate;
    String encoding;
    try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(DATABASE)) {
      rs.next();
      dbProvider = rs.getString(1);
      dbCollate = rs.getString(2);
      encoding = rs.getString(3);
    }
    Map<Long, List<Column>> byTable = new LinkedHashMap<>();
    try (PreparedStatement ps = c.prepareStatement(KEYS)) {
      ps.setLong(1, root);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          byTable.computeIfAbsent(rs.getLong(1), k -> new ArrayList<>()).add(new Column(
              Long.toString(rs.getLong(1)), rs.getString("keydef"), rs.getString("strategy"), rs.getInt("attnum"),
              rs.getString("attname"), rs.getString("type"), rs.getBoolean("opcdefault"), rs.getString("provider"),
              rs.getString("collcollate"), rs.getBoolean("collisdeterministic"), rs.getString("collname")));
        }
      }
    }
    Map<Long, PartitionKey> keys = new HashMap<>();
    for (Map.Entry<Long, List<Column>> e : byTable.entrySet()) {
      String table = tableName(c, e.getKey());
      List<String> names = new ArrayList<>();
      List<String> types = new ArrayList<>();
      Strategy strategy = switch (e.getValue().get(0).strategy()) {
        case "r" -> Strategy.RANGE;
        case "l" -> Strategy.LIST;
        case "h" -> Strategy.HASH;
        default -> throw new UnsupportedPartitionKeyException(table, e.getValue().get(0).keydef(), "",
            "unknown partition strategy " + e.getValue().get(0).strategy());
      };
      for (Column col : e.getValue()) {
        if (col.attnum() == 0) {
          throw new UnsupportedPartitionKeyException(table, col.keydef(), "expression", "expression keys are not supported");
        }
        KeyColumn key = KeyType.column(table, col.name(), col.type());
        if (!col.defaultOpclass()) {
          throw new UnsupportedPartitionKeyException(table, col.name(), col.type(),
              "the key uses a non-default operator class (" + col.keydef() + ")");
        }
        if (key.type() == KeyType.TEXT) {
          checkText(table, strategy, col, dbProvider, dbCollate, encoding);
        }
        names.add(col.name());
        types.add(col.type());
      }
      keys.put(e.getKey(), new PartitionKey(strategy, names, types));
    }
    return keys;
  }

  private static void checkText(String table, Strategy strategy, Column col, String dbProvider, String dbCollate, String encoding) {
    boolean isDefault = "d".equals(col.provider());
    String provider = isDefault ? dbProvider : col.provider();
    String collate = isDefault ? dbCollate : col.collate();
    boolean deterministic = isDefault || col.deterministic();
    boolean byteOrder = "b".equals(provider) || ("c".equals(provider) && ("C".equals(collate) || "POSIX".equals(collate)));
    if (!deterministic) {
      throw new UnsupportedPartitionKeyException(table, col.name(), col.type(),
          "collation " + col.collation() + " is nondeterministic; equal text may differ in bytes");
    }
    if (strategy != Strategy.LIST && !encoding.equals("UTF8") && !encoding.equals("SQL_ASCII")) {
      throw new UnsupportedPartitionKeyException(table, col.name(), col.type(),
          "the database encoding is " + encoding + "; the router compares and hashes UTF-8 bytes");
    }
    if (strategy == Strategy.RANGE && !byteOrder) {
      throw new UnsupportedPartitionKeyException(table, col.name(), col.type(),
          "collation " + (isDefault ? "default (" + collate + ")" : col.collation()) + " does not sort by bytes;"
              + " the router orders text as the C collation does (declare the column COLLATE \"C\")");
    }
  }

  private static String tableName(Connection c, long oid) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(
        "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ?")) {
      ps.setLong(1, oid);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getString(1);
      }
    }
  }

  private String describe() {
    return "PostgreSQL catalog";
  }
}
