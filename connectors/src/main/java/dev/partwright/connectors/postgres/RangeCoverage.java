package dev.partwright.connectors.postgres;

import dev.partwright.schemas.Bounds;
import dev.partwright.schemas.PartitionKey;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.RangeBound;
import dev.partwright.schemas.Strategy;
import dev.partwright.schemas.Unbounded;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Invariant 1 at the level of one parent: the range partitions a command creates meet their
 * neighbours exactly — no gap (rows would fall into DEFAULT, or fail without one) and no overlap.
 * Only single-column range keys are checked.
 *
 * <p>Two steps, so the cost per partition does not grow with the table: once per command,
 * {@link #plan} orders the parent's partitions and the command's in the key's own type (in
 * PostgreSQL: timestamps, dates and numbers all compare correctly) and finds every planned
 * partition's neighbours and any gap or overlap; then, inside each partition's transaction, after
 * ATTACH, {@link #meets} checks only that the neighbours found still end and start exactly where the
 * new partition starts and ends — a text comparison of bounds PostgreSQL printed.
 */
final class RangeCoverage {

  /** A single-column range bound as {@code pg_get_expr} prints it: lower and upper value, each MINVALUE, MAXVALUE or a literal. */
  private static final String BOUND_PATTERN =
      "^FOR VALUES FROM \\((MINVALUE|MAXVALUE|'(?:[^']|'')*')\\) TO \\((MINVALUE|MAXVALUE|'(?:[^']|'')*')\\)$";

  private static final Pattern BOUND = Pattern.compile(BOUND_PATTERN);

  private RangeCoverage() {}

  /** Whether {@code key} is a key this check applies to. */
  static boolean applies(PartitionKey key) {
    return key.getStrategy() == Strategy.RANGE && key.getColumns().size() == 1;
  }

  /** A partition next to another: its schema and name, and whether the command is yet to create it. */
  record Neighbour(String schema, String table, boolean planned) {
    String qualified() {
      return schema + "." + table;
    }
  }

  /** The partitions next to one planned partition, null where it has none. */
  record Neighbours(Neighbour lower, Neighbour upper) {
    static final Neighbours NONE = new Neighbours(null, null);
  }

  /** What {@link #plan} found: neighbours of each planned partition (by qualified name) and the problems. */
  record Plan(Map<String, Neighbours> neighbours, List<PostgresCatalog.CoverageProblem> problems) {
    Neighbours of(String qualified) {
      return neighbours.getOrDefault(qualified, Neighbours.NONE);
    }
  }

  /**
   * Orders the parent's attached partitions together with {@code planned} (this command's
   * partitions of that parent) and reports, for each planned one, its neighbours and any gap or
   * overlap it has with them. One query.
   */
  static Plan plan(Connection c, QualifiedName parent, PartitionKey key, List<PartitionSpec> planned) throws SQLException {
    List<String> schemas = new ArrayList<>();
    List<String> tables = new ArrayList<>();
    List<Boolean> isPlanned = new ArrayList<>();
    List<String> lows = new ArrayList<>();
    List<String> highs = new ArrayList<>();
    Set<String> plannedNames = new HashSet<>();
    for (PartitionSpec spec : planned) {
      if (spec.getBound() instanceof RangeBound r && r.getFrom().size() == 1 && r.getTo().size() == 1) {
        schemas.add(spec.getSchemaName());
        tables.add(spec.getName());
        isPlanned.add(true);
        lows.add(text(r.getFrom().get(0)));
        highs.add(text(r.getTo().get(0)));
        plannedNames.add(spec.getSchemaName() + "." + spec.getName());
      }
    }
    // the attached partitions' bounds, parsed here: a regular expression in SQL costs more than the rest
    try (PreparedStatement ps = c.prepareStatement("""
        SELECT n.nspname, ch.relname, pg_get_expr(ch.relpartbound, 0)
          FROM pg_inherits i
          JOIN pg_class ch ON ch.oid = i.inhrelid JOIN pg_namespace n ON n.oid = ch.relnamespace
          JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = p.relnamespace
         WHERE pn.nspname = ? AND p.relname = ? AND NOT i.inhdetachpending""")) {
      ps.setString(1, parent.schema().name());
      ps.setString(2, parent.table().name());
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          String[] bound = parse(rs.getString(3));
          if (bound == null || plannedNames.contains(rs.getString(1) + "." + rs.getString(2))) {
            continue;
          }
          schemas.add(rs.getString(1));
          tables.add(rs.getString(2));
          isPlanned.add(false);
          // (a single-column range cannot start at MAXVALUE: PostgreSQL refuses the empty range)
          lows.add(unquote(bound[0]));
          highs.add(unquote(bound[1]));
        }
      }
    }
    if (schemas.size() < 2) {
      return new Plan(Map.of(), List.of());
    }
    // the type name comes from PostgreSQL's own format_type(), never from a user
    String sql = """
        WITH ranges AS (
          SELECT t.schema, t.tbl, t.planned, CAST(t.lo AS %1$s) AS lo, CAST(t.hi AS %1$s) AS hi, t.hi IS NULL AS hi_max
            FROM unnest(?::text[], ?::text[], ?::boolean[], ?::text[], ?::text[]) AS t(schema, tbl, planned, lo, hi)),
        ordered AS (
          SELECT r.*,
                 lag(schema) OVER w AS prev_schema, lag(tbl) OVER w AS prev_tbl, lag(planned) OVER w AS prev_planned,
                 lag(hi) OVER w AS prev_hi, lag(hi_max) OVER w AS prev_hi_max,
                 lead(schema) OVER w AS next_schema, lead(tbl) OVER w AS next_tbl, lead(planned) OVER w AS next_planned
            FROM ranges r
          WINDOW w AS (ORDER BY lo ASC NULLS FIRST, schema, tbl))
        SELECT schema, tbl, planned, prev_schema, prev_tbl, prev_planned, next_schema, next_tbl, next_planned,
               CASE WHEN prev_tbl IS NULL THEN NULL
                    WHEN prev_hi_max OR lo IS NULL OR prev_hi > lo THEN 'overlap'
                    WHEN prev_hi < lo THEN 'gap' END AS problem
          FROM ordered
         WHERE planned OR prev_planned OR next_planned""".formatted(key.getTypes().get(0));
    Map<String, Neighbours> neighbours = new HashMap<>();
    List<PostgresCatalog.CoverageProblem> problems = new ArrayList<>();
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      ps.setArray(1, c.createArrayOf("text", schemas.toArray()));
      ps.setArray(2, c.createArrayOf("text", tables.toArray()));
      ps.setArray(3, c.createArrayOf("bool", isPlanned.toArray()));
      ps.setArray(4, c.createArrayOf("text", lows.toArray()));
      ps.setArray(5, c.createArrayOf("text", highs.toArray()));
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          Neighbour self = new Neighbour(rs.getString(1), rs.getString(2), rs.getBoolean(3));
          Neighbour prev = rs.getString(5) == null ? null : new Neighbour(rs.getString(4), rs.getString(5), rs.getBoolean(6));
          Neighbour next = rs.getString(8) == null ? null : new Neighbour(rs.getString(7), rs.getString(8), rs.getBoolean(9));
          String problem = rs.getString(10);
          // a problem belongs to the command when one of the two sides is the command's
          if (problem != null && (self.planned() || prev.planned())) {
            problems.add(new PostgresCatalog.CoverageProblem(prev.qualified(), self.qualified(), problem));
          }
          if (self.planned()) {
            neighbours.put(self.qualified(), new Neighbours(prev, next));
          }
        }
      }
    }
    return new Plan(neighbours, problems);
  }

  /** A printed bound value in text input form: a quoted literal unquoted, MINVALUE / MAXVALUE as null. */
  private static String unquote(String printed) {
    if (printed.equals("MINVALUE") || printed.equals("MAXVALUE")) {
      return null;
    }
    return printed.substring(1, printed.length() - 1).replace("''", "'");
  }

  /**
   * Whether the partition whose bound PostgreSQL now prints as {@code bound} meets its neighbours,
   * whose bounds as printed now are {@code lowerBound} and {@code upperBound} (null: not a
   * partition): the lower one ends where it starts, the upper one starts where it ends. A neighbour
   * the command has yet to create is skipped (its own check covers that side); one that was attached
   * and is gone is a problem.
   */
  static List<PostgresCatalog.CoverageProblem> meets(String qualified, String bound, Neighbours around,
      String lowerBound, String upperBound) {
    List<PostgresCatalog.CoverageProblem> problems = new ArrayList<>();
    String[] self = parse(bound);
    if (self == null) {
      return problems;
    }
    if (around.lower() != null) {
      String[] lower = parse(lowerBound);
      if (lower == null ? !around.lower().planned() : !Objects.equals(lower[1], self[0])) {
        problems.add(new PostgresCatalog.CoverageProblem(around.lower().qualified(), qualified, "gap"));
      }
    }
    if (around.upper() != null) {
      String[] upper = parse(upperBound);
      if (upper == null ? !around.upper().planned() : !Objects.equals(self[1], upper[0])) {
        problems.add(new PostgresCatalog.CoverageProblem(qualified, around.upper().qualified(), "gap"));
      }
    }
    return problems;
  }

  private static String text(Object v) {
    return v instanceof Unbounded ? null : Bounds.valueText(v);
  }

  /**
   * {@code FOR VALUES FROM (x) TO (y)} of a single-column range as printed by {@code pg_get_expr}
   * into its two values as printed (quoted literals, MINVALUE or MAXVALUE); null for any other bound.
   */
  static String[] parse(String expression) {
    if (expression == null) {
      return null;
    }
    Matcher m = BOUND.matcher(expression);
    return m.matches() ? new String[] {m.group(1), m.group(2)} : null;
  }
}
