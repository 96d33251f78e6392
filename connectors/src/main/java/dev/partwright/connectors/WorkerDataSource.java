package dev.partwright.connectors;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;

/**
 * The worker's connection pool. Every connection runs in UTC with standard-conforming strings, so
 * bound expressions read back from the catalog are comparable as text and literals are quoted
 * one way only, whatever the server's or the client's defaults are.
 */
public final class WorkerDataSource {

  private WorkerDataSource() {}

  public static HikariDataSource create(String jdbcUrl, String user, String password, int maxConnections) {
    HikariConfig c = new HikariConfig();
    c.setJdbcUrl(jdbcUrl);
    if (user != null) {
      c.setUsername(user);
    }
    if (password != null) {
      c.setPassword(password);
    }
    c.setPoolName("partwright-worker");
    c.setMaximumPoolSize(maxConnections);
    c.setMinimumIdle(1);
    c.setConnectionInitSql("SET TimeZone = 'UTC'; SET standard_conforming_strings = on");
    c.addDataSourceProperty("ApplicationName", "partwright-worker");
    // pgjdbc (42.7.14) forgets every server-prepared statement of a connection when it sees a CREATE,
    // ALTER or DROP complete, and the worker's commands are DDL: its catalog queries were parsed and
    // planned again every command. Every statement of the worker that returns rows names its columns
    // from the catalog or from unnest(), so no DDL can change a cached statement's result type (what
    // the flush guards against); PostgreSQL itself still re-plans a statement whose tables changed.
    c.addDataSourceProperty("flushCacheOnDdl", "false");
    c.setInitializationFailTimeout(10_000);
    return new HikariDataSource(c);
  }
}
