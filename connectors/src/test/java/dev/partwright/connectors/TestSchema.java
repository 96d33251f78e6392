package dev.partwright.connectors;

import com.zaxxer.hikari.HikariDataSource;
import dev.partwright.connectors.postgres.PartitionProvisioner;
import dev.partwright.embedded.PostgresEndpoint;
import dev.partwright.embedded.Servers;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/**
 * One test class's own schema on the JVM's shared PostgreSQL, a worker-style pool (UTC sessions)
 * and the catalog queries tests assert with. Closing drops the schema and its audit rows.
 */
final class TestSchema implements AutoCloseable {

  final String name;
  final PostgresEndpoint postgres;
  final HikariDataSource pool;

  private TestSchema(String name, PostgresEndpoint postgres, HikariDataSource pool) {
    this.name = name;
    this.postgres = postgres;
    this.pool = pool;
  }

  static TestSchema create(String prefix) throws SQLException {
    PostgresEndpoint pg = Servers.postgres();
    String name = prefix + "_" + UUID.randomUUID().toString().substring(0, 8);
    HikariDataSource pool = WorkerDataSource.create(pg.jdbcUrl(), pg.user(), pg.password(), 4);
    TestSchema s = new TestSchema(name, pg, pool);
    s.exec("CREATE SCHEMA " + name);
    return s;
  }

  /** Limits for tests: short lock timeout and backoff, so retries are quick. */
  static PartitionProvisioner.Limits fastLimits() {
    return new PartitionProvisioner.Limits(Duration.ofMillis(500), Duration.ofSeconds(30), 5, Duration.ofMillis(50));
  }

  PartitionProvisioner provisioner() throws SQLException {
    return provisioner(fastLimits(), PartitionProvisioner.Checkpoint.NONE);
  }

  PartitionProvisioner provisioner(PartitionProvisioner.Limits limits, PartitionProvisioner.Checkpoint checkpoint)
      throws SQLException {
    PartitionProvisioner p = new PartitionProvisioner(pool, limits, "test-" + name, checkpoint);
    p.prepare();
    return p;
  }

  /** {@code schema.table} in this schema. */
  String q(String table) {
    return name + "." + table;
  }

  void exec(String... sql) throws SQLException {
    try (Connection c = pool.getConnection(); Statement s = c.createStatement()) {
      for (String q : sql) {
        s.execute(q.replace("${s}", name));
      }
    }
  }

  long count(String sql) throws SQLException {
    try (Connection c = pool.getConnection(); Statement s = c.createStatement();
         ResultSet rs = s.executeQuery(sql.replace("${s}", name))) {
      rs.next();
      return rs.getLong(1);
    }
  }

  List<String> rows(String sql) throws SQLException {
    List<String> out = new ArrayList<>();
    try (Connection c = pool.getConnection(); Statement s = c.createStatement();
         ResultSet rs = s.executeQuery(sql.replace("${s}", name))) {
      int n = rs.getMetaData().getColumnCount();
      while (rs.next()) {
        StringBuilder line = new StringBuilder();
        for (int i = 1; i <= n; i++) {
          line.append(i > 1 ? " " : "").append(rs.getString(i));
        }
        out.add(line.toString());
      }
    }
    return out;
  }

  /**
   * The partition tree below {@code table} as {@code pg_inherits} has it, one line per partition:
   * {@code name <parent> kind bound}, by level then name (kind r: table, p: partitioned).
   */
  List<String> tree(String table) throws SQLException {
    return rows("""
        SELECT c.relname, '<' || p.relname || '>', c.relkind, pg_get_expr(c.relpartbound, c.oid)
          FROM pg_partition_tree('%s') t
          JOIN pg_class c ON c.oid = t.relid
          JOIN pg_inherits i ON i.inhrelid = t.relid
          JOIN pg_class p ON p.oid = i.inhparent
         WHERE t.level > 0
         ORDER BY t.level, c.relname""".formatted(q(table)));
  }

  /** Every relation of this schema (pg_class), for before/after comparisons. */
  List<String> relations() throws SQLException {
    return rows("SELECT c.relname || ' ' || c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        + " WHERE n.nspname = '${s}' ORDER BY 1");
  }

  @Override
  public void close() throws SQLException {
    try (Connection c = pool.getConnection(); Statement s = c.createStatement()) {
      s.execute("DROP SCHEMA IF EXISTS " + name + " CASCADE");
      s.execute("DELETE FROM partwright.provisioning_log WHERE partition_name LIKE '" + name + ".%'");
    } finally {
      pool.close();
    }
  }
}
