package dev.partwright.connectors.policy;

import com.zaxxer.hikari.HikariDataSource;
import dev.partwright.connectors.WorkerDataSource;
import dev.partwright.embedded.PostgresEndpoint;
import dev.partwright.embedded.Servers;
import java.sql.Connection;
import java.sql.Statement;
import java.util.UUID;

/** A database of its own on the shared PostgreSQL server, dropped on close: the policy schema starts absent. */
final class FreshDatabase implements AutoCloseable {

  final String name = "policy_" + UUID.randomUUID().toString().replace("-", "").substring(0, 12);
  final HikariDataSource dataSource;
  private final PostgresEndpoint server = Servers.postgres();

  FreshDatabase() throws Exception {
    try (Connection c = server.dataSource().getConnection(); Statement s = c.createStatement()) {
      s.execute("CREATE DATABASE " + name);
    }
    dataSource = WorkerDataSource.create(url(), server.user(), server.password(), 4);
  }

  String url() {
    return server.jdbcUrl().replaceFirst("/[^/?]+(\\?|$)", "/" + name + "$1");
  }

  void sql(String... statements) throws Exception {
    try (Connection c = dataSource.getConnection(); Statement s = c.createStatement()) {
      for (String statement : statements) {
        s.execute(statement);
      }
    }
  }

  @Override
  public void close() throws Exception {
    dataSource.close();
    try (Connection c = server.dataSource().getConnection(); Statement s = c.createStatement()) {
      s.execute("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
    }
  }
}
