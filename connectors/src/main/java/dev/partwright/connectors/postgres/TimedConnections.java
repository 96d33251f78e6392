package dev.partwright.connectors.postgres;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import javax.sql.DataSource;

/**
 * Connections whose every statement — catalog reads included — runs under {@code lock_timeout}
 * and {@code statement_timeout}. Catalog reads can lock too ({@code pg_get_expr} with a relation,
 * {@code pg_total_relation_size} take ACCESS SHARE), so without a budget one session holding ACCESS
 * EXCLUSIVE would hang the worker before its first DDL. The session settings are reset when the connection goes back to its
 * pool, so nobody else sharing the pool inherits them.
 */
final class TimedConnections {

  private TimedConnections() {}

  static Connection open(DataSource dataSource, Duration lockTimeout, Duration statementTimeout) throws SQLException {
    Connection c = dataSource.getConnection();
    try (Statement s = c.createStatement()) {
      s.execute(Ddl.setSession("lock_timeout", lockTimeout.toMillis()) + "; "
          + Ddl.setSession("statement_timeout", statementTimeout.toMillis()));
    } catch (SQLException e) {
      c.close();
      throw e;
    }
    InvocationHandler handler = (proxy, method, args) -> {
      if (method.getName().equals("close") && method.getParameterCount() == 0) {
        try {
          if (!c.isClosed()) {
            if (!c.getAutoCommit()) {
              c.rollback();
              c.setAutoCommit(true);
            }
            try (Statement s = c.createStatement()) {
              s.execute(Ddl.resetSession("lock_timeout") + "; " + Ddl.resetSession("statement_timeout"));
            }
          }
        } catch (SQLException e) {
          // a broken connection: the pool discards it, settings and all
        } finally {
          c.close();
        }
        return null;
      }
      try {
        return method.invoke(c, args);
      } catch (InvocationTargetException e) {
        throw e.getCause();
      }
    };
    return (Connection) Proxy.newProxyInstance(Connection.class.getClassLoader(), new Class<?>[] {Connection.class},
        handler);
  }
}
