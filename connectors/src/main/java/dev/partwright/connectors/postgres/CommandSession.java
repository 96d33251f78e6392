package dev.partwright.connectors.postgres;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import javax.sql.DataSource;

/**
 * One connection kept for all the partitions of a command, replaced after it broke, and always in a
 * transaction whose statements all run under {@code lock_timeout} and {@code statement_timeout}:
 * {@code SET LOCAL} once per transaction — sent in the transaction's first round trip, so it costs
 * none of its own — instead of setting the session's timeouts and resetting them for the pool.
 */
final class CommandSession implements AutoCloseable {

  private final DataSource dataSource;
  private final List<String> timeouts;
  private Connection connection;
  /** Whether the current transaction has had its SET LOCALs. */
  private boolean timed;

  CommandSession(DataSource dataSource, Duration lockTimeout, Duration statementTimeout) {
    this.dataSource = dataSource;
    this.timeouts = List.of(Ddl.setLocal("lock_timeout", lockTimeout.toMillis()),
        Ddl.setLocal("statement_timeout", statementTimeout.toMillis()));
  }

  /** The connection, in a transaction that has its timeouts: sent now, alone, if it has not had them yet. */
  Connection get() throws SQLException {
    Connection c = connection();
    if (!timed) {
      try (Statement s = c.createStatement()) {
        s.execute(String.join("; ", timeouts));
      }
      timed = true;
    }
    return c;
  }

  /** A round trip on the connection, led by the transaction's SET LOCALs if it has not had them yet. */
  RoundTrip roundTrip() throws SQLException {
    RoundTrip r = new RoundTrip(connection());
    if (!timed) {
      timeouts.forEach(r::statement);
      timed = true;
    }
    return r;
  }

  void commit() throws SQLException {
    timed = false;
    connection.commit();
  }

  private Connection connection() throws SQLException {
    if (connection == null || connection.isClosed()) {
      timed = false;
      connection = dataSource.getConnection();
      connection.setAutoCommit(false);
    }
    return connection;
  }

  /**
   * After a failure ({@code e}, null when not the database's): the transaction is rolled back; a
   * connection error (SQLSTATE class 08) means the connection is gone, another is opened next time.
   */
  void abort(SQLException e) {
    timed = false;
    if (e != null && e.getSQLState() != null && e.getSQLState().startsWith("08")) {
      close();
      return;
    }
    try {
      if (connection != null && !connection.isClosed()) {
        connection.rollback();
      }
    } catch (SQLException broken) {
      close();
    }
  }

  @Override
  public void close() {
    if (connection != null) {
      try {
        if (!connection.isClosed()) {
          connection.rollback();
          connection.setAutoCommit(true);
        }
      } catch (SQLException ignored) {
        // broken: the pool discards it
      }
      try {
        connection.close();
      } catch (SQLException ignored) {
        // broken already: the pool discards it
      }
      connection = null;
      timed = false;
    }
  }
}
