package dev.partwright.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.partwright.embedded.ExternalPostgres;
import dev.partwright.embedded.ServerStartException;
import dev.partwright.router.BoundarySourceException;
import dev.partwright.router.BoundaryFollower;
import dev.partwright.router.PartitionNotFoundException;
import dev.partwright.router.PartitionRouter;
import dev.partwright.router.PgCatalogBoundarySource;
import dev.partwright.router.UnsupportedPartitionKeyException;
import dev.partwright.schemas.Topics;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import javax.sql.DataSource;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(
    name = "route",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
        "Prints the leaf partition the router resolves for each row, and with --check whether PostgreSQL agrees.",
        "",
        "Boundaries come from PostgreSQL's catalog (any partitioned table: range, list, hash, composite),",
        "or from the boundary topic when --bootstrap-servers is given. Rows are --value col=v (one row)",
        "or --input rows.csv (a header naming the columns, one row per line, answers in input order).",
        "Values are in PostgreSQL's text input format and are cast by the database to the columns' types;",
        "an unquoted empty CSV field (or col= ) is NULL. With --check each row is also inserted through",
        "the parent in a transaction that is rolled back, and tableoid::regclass is compared.",
        "",
        "Exit codes: 0 every row has a partition (and PostgreSQL agrees); 1 a row has no partition or",
        "PostgreSQL disagrees; 2 error (bad arguments, a value PostgreSQL refuses); 3 a server was unavailable."})
final class RouteCommand implements Callable<Integer> {

  @Spec
  CommandSpec spec;

  @Mixin
  ConnectionOptions connection;

  @Option(names = "--table", required = true, paramLabel = "SCHEMA.TABLE", description = "The partitioned table.")
  String table;

  static final class Rows {
    @Option(names = "--value", paramLabel = "COLUMN=VALUE", description = "A key column's value (repeat for each column of one row).")
    List<String> values;

    @Option(names = "--input", paramLabel = "ROWS.CSV", description = "CSV file with a header row naming the columns.")
    Path input;
  }

  @ArgGroup(exclusive = true, multiplicity = "1")
  Rows rows;

  @Option(names = "--check", description = "Also insert each row (rolled back) and compare with tableoid::regclass.")
  boolean check;

  @Option(names = "--output", paramLabel = "FORMAT", defaultValue = "text", description = "text or json (default: ${DEFAULT-VALUE}).")
  String output;

  @Option(names = "--topic", paramLabel = "TOPIC", defaultValue = Topics.BOUNDARIES, description = "Boundary topic (default: ${DEFAULT-VALUE}).")
  String topic;

  @Option(names = "--timeout", paramLabel = "SECONDS", defaultValue = "30", description = "How long to wait for the topic (default: ${DEFAULT-VALUE}).")
  int timeoutSeconds;

  /** One input row and what became of it; serialized as one element of the JSON output. */
  record Answer(int row, Map<String, String> values, String partition, String error, String postgres, Boolean agrees) {}

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    if (!output.equals("text") && !output.equals("json")) {
      err.println("partwright route: --output must be text or json, not '" + output + "'");
      return ExitCodes.ERROR;
    }
    List<Map<String, String>> input;
    try {
      input = rows.input != null ? Csv.read(rows.input) : List.of(values(rows.values));
    } catch (IllegalArgumentException | IOException e) {
      err.println("partwright route: " + e.getMessage());
      return ExitCodes.ERROR;
    }
    ExternalPostgres db;
    try {
      db = ExternalPostgres.connect(connection.requireDbUrl(), connection.dbUser, connection.dbPassword);
    } catch (ServerStartException e) {
      err.println("partwright route: " + e.getMessage());
      return ExitCodes.UNAVAILABLE;
    }
    try (db) {
      DataSource ds = db.dataSource();
      try (Connection c = ds.getConnection()) {
        Table t = Table.lookUp(c, table);
        if (t == null) {
          err.println("partwright route: no table " + table);
          return ExitCodes.ERROR;
        }
        for (Map<String, String> row : input) {
          for (String column : row.keySet()) {
            if (!t.types().containsKey(column)) {
              err.println("partwright route: " + t.name() + " has no column " + column);
              return ExitCodes.ERROR;
            }
          }
        }
        PartitionRouter router = new PartitionRouter();
        if (connection.bootstrapServers != null) {
          dev.partwright.schemas.PartwrightSerdes serdes;
          try {
            serdes = Registry.serdes(connection.schemaRegistryUrl);
          } catch (IllegalArgumentException e) {
            err.println("partwright route: " + e.getMessage());
            return ExitCodes.ERROR;
          }
          try (BoundaryFollower follower = BoundaryFollower.follow(router, connection.bootstrapServers, serdes, topic)) {
            if (!follower.awaitCaughtUp(Duration.ofSeconds(timeoutSeconds))) {
              err.println("partwright route: did not read " + topic + " at " + connection.bootstrapServers + " within " + timeoutSeconds + " s");
              return ExitCodes.UNAVAILABLE;
            }
          } catch (org.apache.kafka.common.KafkaException e) {
            err.println("partwright route: cannot read " + topic + " at " + connection.bootstrapServers + ": " + e.getMessage());
            return ExitCodes.UNAVAILABLE;
          }
        } else {
          try {
            new PgCatalogBoundarySource(ds).bootstrap(router, t.name());
          } catch (BoundarySourceException | UnsupportedPartitionKeyException e) {
            err.println("partwright route: " + e.getMessage());
            return ExitCodes.ERROR;
          }
        }
        List<Answer> answers = answer(c, t, router, input);
        print(out, answers);
        boolean errors = answers.stream().anyMatch(a -> a.error() != null && a.partition() == null && !a.error().startsWith("no partition"));
        boolean disagree = answers.stream().anyMatch(a -> Boolean.FALSE.equals(a.agrees()));
        boolean uncovered = answers.stream().anyMatch(a -> a.partition() == null);
        return errors ? ExitCodes.ERROR : disagree || uncovered ? ExitCodes.INVARIANT_VIOLATED : ExitCodes.OK;
      }
    }
  }

  private static Map<String, String> values(List<String> pairs) {
    Map<String, String> row = new LinkedHashMap<>();
    for (String pair : pairs) {
      int eq = pair.indexOf('=');
      if (eq <= 0) {
        throw new IllegalArgumentException("--value takes COLUMN=VALUE, not '" + pair + "'");
      }
      String value = pair.substring(eq + 1);
      row.put(pair.substring(0, eq), value.isEmpty() ? null : value);
    }
    return row;
  }

  private List<Answer> answer(Connection c, Table t, PartitionRouter router, List<Map<String, String>> input) throws SQLException {
    List<Answer> answers = new ArrayList<>();
    Map<String, String> regclass = new HashMap<>();
    boolean autoCommit = c.getAutoCommit();
    c.setAutoCommit(false);
    try {
      int n = 0;
      for (Map<String, String> row : input) {
        n++;
        String partition = null;
        String error = null;
        try {
          partition = router.resolve(t.name(), typed(c, t, row));
          partition = regclass.computeIfAbsent(partition, p -> Table.regclass(c, p));
        } catch (PartitionNotFoundException e) {
          error = e.getMessage();
        } catch (IllegalArgumentException e) {
          error = e.getMessage();
        } catch (SQLException e) {
          error = "PostgreSQL refuses the values: " + e.getMessage();
          c.rollback();
        }
        String postgres = null;
        Boolean agrees = null;
        if (check && (partition != null || (error != null && error.startsWith("no partition")))) {
          Savepoint sp = c.setSavepoint();
          try {
            postgres = t.insert(c, row);
          } catch (SQLException e) {
            if (!"23514".equals(e.getSQLState()) || !String.valueOf(e.getMessage()).contains("no partition of relation")) {
              postgres = "error: " + e.getMessage();
            }
          } finally {
            c.rollback(sp);
          }
          agrees = partition == null ? postgres == null : partition.equals(postgres);
        }
        answers.add(new Answer(n, row, partition, error, postgres, agrees));
      }
    } finally {
      c.rollback();
      c.setAutoCommit(autoCommit);
    }
    return answers;
  }

  /** The row's values cast by PostgreSQL to the columns' types and printed back (ISO, with offsets): exact for the router. */
  private static Map<String, Object> typed(Connection c, Table t, Map<String, String> row) throws SQLException {
    if (row.isEmpty()) {
      return Map.of();
    }
    StringBuilder sql = new StringBuilder("SELECT ");
    List<String> columns = new ArrayList<>(row.keySet());
    for (int i = 0; i < columns.size(); i++) {
      sql.append(i == 0 ? "" : ", ").append("CAST(CAST(? AS ").append(t.types().get(columns.get(i))).append(") AS text)");
    }
    Map<String, Object> typed = new HashMap<>();
    try (PreparedStatement ps = c.prepareStatement(sql.toString())) {
      for (int i = 0; i < columns.size(); i++) {
        ps.setString(i + 1, row.get(columns.get(i)));
      }
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        for (int i = 0; i < columns.size(); i++) {
          typed.put(columns.get(i), rs.getString(i + 1));
        }
      }
    }
    return typed;
  }

  private void print(PrintWriter out, List<Answer> answers) throws IOException {
    if (output.equals("json")) {
      out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(answers));
    } else {
      for (Answer a : answers) {
        StringBuilder line = new StringBuilder(a.partition() != null ? a.partition() : "(none: " + a.error() + ")");
        if (a.agrees() != null) {
          line.append(a.agrees() ? "\tagrees" : "\tDISAGREES: PostgreSQL puts it in " + (a.postgres() == null ? "no partition" : a.postgres()));
        }
        out.println(line);
      }
    }
    out.flush();
  }

  /** The partitioned table: its catalog name (as the router names it), regclass text, and column types. */
  private record Table(String name, String regclass, Map<String, String> types) {

    static Table lookUp(Connection c, String table) throws SQLException {
      Long oid = null;
      int dot = table.indexOf('.');
      if (dot > 0) {
        try (PreparedStatement ps = c.prepareStatement(
            "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ? AND c.relname = ?")) {
          ps.setString(1, table.substring(0, dot));
          ps.setString(2, table.substring(dot + 1));
          try (ResultSet rs = ps.executeQuery()) {
            oid = rs.next() ? rs.getLong(1) : null;
          }
        }
      }
      if (oid == null) {
        try (PreparedStatement ps = c.prepareStatement("SELECT to_regclass(?)::oid")) {
          ps.setString(1, table);
          try (ResultSet rs = ps.executeQuery()) {
            rs.next();
            long o = rs.getLong(1);
            oid = rs.wasNull() ? null : o;
          }
        }
      }
      if (oid == null) {
        return null;
      }
      String name;
      String regclass;
      try (PreparedStatement ps = c.prepareStatement("""
          SELECT n.nspname || '.' || c.relname, c.oid::regclass::text FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ?""")) {
        ps.setLong(1, oid);
        try (ResultSet rs = ps.executeQuery()) {
          rs.next();
          name = rs.getString(1);
          regclass = rs.getString(2);
        }
      }
      Map<String, String> types = new LinkedHashMap<>();
      try (PreparedStatement ps = c.prepareStatement(
          "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = ? AND attnum > 0 AND NOT attisdropped ORDER BY attnum")) {
        ps.setLong(1, oid);
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            types.put(rs.getString(1), rs.getString(2));
          }
        }
      }
      return new Table(name, regclass, types);
    }

    /** A partition's name as {@code tableoid::regclass} prints it, or the router's name when it no longer exists. */
    static String regclass(Connection c, String partition) {
      int dot = partition.indexOf('.');
      try (PreparedStatement ps = c.prepareStatement("""
          SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = ? AND c.relname = ?""")) {
        ps.setString(1, dot < 0 ? "" : partition.substring(0, dot));
        ps.setString(2, partition.substring(dot + 1));
        try (ResultSet rs = ps.executeQuery()) {
          return rs.next() ? rs.getString(1) : partition;
        }
      } catch (SQLException e) {
        return partition;
      }
    }

    /** Inserts the row through the parent and returns {@code tableoid::regclass}; the caller rolls back. */
    String insert(Connection c, Map<String, String> row) throws SQLException {
      List<String> columns = new ArrayList<>(row.keySet());
      StringBuilder sql = new StringBuilder("INSERT INTO ").append(regclass).append(" (");
      StringBuilder values = new StringBuilder();
      for (int i = 0; i < columns.size(); i++) {
        sql.append(i == 0 ? "" : ", ").append('"').append(columns.get(i).replace("\"", "\"\"")).append('"');
        values.append(i == 0 ? "" : ", ").append("CAST(? AS ").append(types.get(columns.get(i))).append(")");
      }
      sql.append(") VALUES (").append(values).append(") RETURNING tableoid::regclass::text");
      try (PreparedStatement ps = c.prepareStatement(columns.isEmpty() ? "INSERT INTO " + regclass + " DEFAULT VALUES RETURNING tableoid::regclass::text" : sql.toString())) {
        for (int i = 0; i < columns.size(); i++) {
          ps.setString(i + 1, row.get(columns.get(i)));
        }
        try (ResultSet rs = ps.executeQuery()) {
          rs.next();
          return rs.getString(1);
        }
      }
    }
  }

  /** CSV as RFC 4180 writes it, plus COPY's convention that an unquoted empty field is NULL. */
  static final class Csv {

    private Csv() {}

    static List<Map<String, String>> read(Path file) throws IOException {
      List<List<String>> records = parse(Files.readString(file, StandardCharsets.UTF_8));
      if (records.isEmpty()) {
        throw new IllegalArgumentException(file + " is empty; it needs a header row naming the columns");
      }
      List<String> header = records.get(0);
      List<Map<String, String>> rows = new ArrayList<>();
      for (int i = 1; i < records.size(); i++) {
        List<String> r = records.get(i);
        if (r.size() == 1 && r.get(0) == null && header.size() > 1) {
          continue; // blank line
        }
        if (r.size() != header.size()) {
          throw new IllegalArgumentException(file + " line " + (i + 1) + " has " + r.size() + " fields, the header " + header.size());
        }
        Map<String, String> row = new LinkedHashMap<>();
        for (int j = 0; j < header.size(); j++) {
          row.put(header.get(j), r.get(j));
        }
        rows.add(row);
      }
      return rows;
    }

    static List<List<String>> parse(String text) {
      List<List<String>> records = new ArrayList<>();
      List<String> record = new ArrayList<>();
      StringBuilder field = new StringBuilder();
      boolean quoted = false;
      boolean wasQuoted = false;
      int i = 0;
      if (text.startsWith("\uFEFF")) {
        i = 1;
      }
      for (; i < text.length(); i++) {
        char ch = text.charAt(i);
        if (quoted) {
          if (ch == '"') {
            if (i + 1 < text.length() && text.charAt(i + 1) == '"') {
              field.append('"');
              i++;
            } else {
              quoted = false;
            }
          } else {
            field.append(ch);
          }
        } else if (ch == '"') {
          quoted = true;
          wasQuoted = true;
        } else if (ch == ',') {
          record.add(field.length() == 0 && !wasQuoted ? null : field.toString());
          field.setLength(0);
          wasQuoted = false;
        } else if (ch == '\n' || ch == '\r') {
          if (ch == '\r' && i + 1 < text.length() && text.charAt(i + 1) == '\n') {
            i++;
          }
          record.add(field.length() == 0 && !wasQuoted ? null : field.toString());
          records.add(record);
          record = new ArrayList<>();
          field.setLength(0);
          wasQuoted = false;
        } else {
          field.append(ch);
        }
      }
      if (quoted) {
        throw new IllegalArgumentException("unterminated quoted field at the end of the CSV");
      }
      if (field.length() > 0 || wasQuoted || !record.isEmpty()) {
        record.add(field.length() == 0 && !wasQuoted ? null : field.toString());
        records.add(record);
      }
      return records;
    }
  }
}
