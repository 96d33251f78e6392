package dev.partwright.connectors.policy;

import dev.partwright.connectors.postgres.QualifiedName;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import javax.sql.DataSource;

/**
 * A session-level advisory lock per managed table, held while one {@code rotate} reads the table's
 * partitions and provisions what is missing: a second, overlapping run waits, then finds nothing
 * missing, instead of racing the first into duplicate-name errors. Keyed on
 * {@code (hashtext('partwright.rotate'), hashtext(table))}, visible in {@code pg_locks}.
 */
public final class RotationLock implements AutoCloseable {

  private final Connection connection;
  private final QualifiedName table;

  private RotationLock(Connection connection, QualifiedName table) {
    this.connection = connection;
    this.table = table;
  }

  /**
   * Waits up to {@code timeout} for the table's lock.
   *
   * @throws SQLException with SQLSTATE 55P03 when another run held it for longer
   */
  public static RotationLock acquire(DataSource dataSource, QualifiedName table, Duration timeout) throws SQLException {
    Connection c = dataSource.getConnection();
    try {
      try (Statement s = c.createStatement()) {
        s.execute("SET lock_timeout = " + Math.max(1, timeout.toMillis()));
      }
      try (PreparedStatement ps = c.prepareStatement(
          "SELECT pg_advisory_lock(hashtext('partwright.rotate'), hashtext(?))")) {
        ps.setString(1, table.toString());
        ps.execute();
      }
      try (Statement s = c.createStatement()) {
        s.execute("RESET lock_timeout");
      }
      return new RotationLock(c, table);
    } catch (SQLException e) {
      c.close();
      throw e;
    }
  }

  @Override
  public void close() throws SQLException {
    try (PreparedStatement ps = connection.prepareStatement(
        "SELECT pg_advisory_unlock(hashtext('partwright.rotate'), hashtext(?))")) {
      ps.setString(1, table.toString());
      ps.execute();
    } finally {
      connection.close();
    }
  }
}
