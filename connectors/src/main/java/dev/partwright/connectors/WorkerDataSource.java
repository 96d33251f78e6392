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
    c.setInitializationFailTimeout(10_000);
    return new HikariDataSource(c);
  }
}
