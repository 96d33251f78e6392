package dev.partwright.connectors.postgres;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.StringJoiner;

/**
 * Several statements sent to PostgreSQL in one round trip: one JDBC prepared statement holding
 * them all, which the driver sends as one message sequence with one sync; their results are read
 * back in order. On a shared machine each round trip costs two context switches and a wait for the
 * scheduler, more than most of the worker's catalog statements themselves.
 *
 * <p>Parameters are strings, and string arrays (sent as {@code text[]}); a statement that fails
 * fails the whole round trip, and in a transaction aborts it, as it would alone.
 */
final class RoundTrip {

  /** Reads one statement's rows. */
  @FunctionalInterface
  interface Reader<T> {
    T read(ResultSet rs) throws SQLException;
  }

  /** What a query of the round trip returned, once {@link #run()} did. */
  static final class Result<T> {
    private T value;
    private boolean read;

    /** A result known without asking the database. */
    static <T> Result<T> of(T value) {
      Result<T> r = new Result<>();
      r.value = value;
      r.read = true;
      return r;
    }

    T get() {
      if (!read) {
        throw new IllegalStateException("the round trip has not run");
      }
      return value;
    }
  }

  private record Part(Reader<?> reader, Result<?> result) {}

  private final Connection connection;
  private final StringJoiner sql = new StringJoiner(";\n");
  private final List<Object> params = new ArrayList<>();
  private final List<Part> parts = new ArrayList<>();

  RoundTrip(Connection connection) {
    this.connection = connection;
  }

  /** A statement whose result (a command tag, or rows) is not read; no parameters. */
  RoundTrip statement(String statement) {
    return statement(statement, List.of());
  }

  /** A statement with parameters ({@code String} or {@code String[]}) whose result is not read. */
  RoundTrip statement(String statement, List<?> parameters) {
    sql.add(statement);
    params.addAll(parameters);
    parts.add(new Part(null, null));
    return this;
  }

  /** A statement with parameters ({@code String} or {@code String[]}) whose rows {@code reader} reads. */
  <T> Result<T> query(String statement, List<?> parameters, Reader<T> reader) {
    sql.add(statement);
    params.addAll(parameters);
    Result<T> result = new Result<>();
    parts.add(new Part(reader, result));
    return result;
  }

  /** Sends every statement added, in order, and reads their results. */
  void run() throws SQLException {
    if (parts.isEmpty()) {
      return;
    }
    try (PreparedStatement ps = connection.prepareStatement(sql.toString())) {
      for (int i = 0; i < params.size(); i++) {
        Object p = params.get(i);
        if (p instanceof String[] array) {
          ps.setArray(i + 1, connection.createArrayOf("text", array));
        } else {
          ps.setString(i + 1, (String) p);
        }
      }
      boolean isResultSet = ps.execute();
      for (Part part : parts) {
        if (isResultSet) {
          try (ResultSet rs = ps.getResultSet()) {
            if (part.reader() != null) {
              set(part, rs);
            }
          }
        } else if (part.reader() != null) {
          throw new SQLException("statement " + (parts.indexOf(part) + 1) + " of a round trip returned no rows");
        }
        isResultSet = ps.getMoreResults();
      }
    }
  }

  @SuppressWarnings("unchecked")
  private static <T> void set(Part part, ResultSet rs) throws SQLException {
    Result<T> result = (Result<T>) part.result();
    result.value = ((Reader<T>) part.reader()).read(rs);
    result.read = true;
  }
}
