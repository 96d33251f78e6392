package dev.partwright.connectors.postgres;

import java.sql.Connection;
import java.sql.SQLException;

/**
 * One timed connection kept for all the partitions of a command (setting and resetting the
 * session's timeouts once, not per partition), replaced after it broke.
 */
final class CommandSession implements AutoCloseable {

  @FunctionalInterface
  interface Opener {
    Connection open() throws SQLException;
  }

  private final Opener opener;
  private Connection connection;

  CommandSession(Opener opener) {
    this.opener = opener;
  }

  Connection get() throws SQLException {
    if (connection == null || connection.isClosed()) {
      connection = opener.open();
    }
    return connection;
  }

  /** After a failure: a connection error (SQLSTATE class 08) means this one is gone, open another next time. */
  void failed(SQLException e) {
    if (e.getSQLState() != null && e.getSQLState().startsWith("08")) {
      close();
    }
  }

  @Override
  public void close() {
    if (connection != null) {
      try {
        connection.close();
      } catch (SQLException ignored) {
        // broken already: the pool discards it
      }
      connection = null;
    }
  }
}
