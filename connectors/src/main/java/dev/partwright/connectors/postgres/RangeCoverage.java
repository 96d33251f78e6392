package dev.partwright.connectors.postgres;

import dev.partwright.schemas.Bounds;
import dev.partwright.schemas.PartitionKey;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.RangeBound;
import dev.partwright.schemas.Strategy;
import dev.partwright.schemas.Unbounded;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
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
   * The attached partitions' bounds as {@link #plan} last had them printed, per parent, so that a
   * command prints only the bounds of partitions it has not seen: printing every bound made the
   * coverage plan grow with the table. An entry is a child's two printed values keyed by its oid and
   * the {@code xmin} of its {@code pg_class} row: a bound is only ever set or changed by a new version
   * of that row (CREATE … PARTITION OF, ATTACH, DETACH each write one; VACUUM's in-place updates
   * touch no bound), so a child detached and attached again elsewhere, or dropped and its oid reused,
   * has another xmin and is printed again; the comparison is made by the server in the plan's own
   * snapshot, so nothing is trusted that the catalog does not still say. The entries are valid only
   * for the settings that shape a printed literal, which the server compares too. Entries of children
   * no longer attached are dropped at each plan; commands running at once may replace each other's
   * entries, every one of which is a fact about a row version.
   */
  static final class PrintedBounds {
    /**
     * One child's printed bound at one row version, with its member of {@link Known#json()}
     * ({@code "xmin", "lo", "hi"} as a JSON array) escaped once, when the bound is printed: every
     * later command sends it again as it is, and escaping every known bound character by character
     * at every command was the worker's largest Java cost on a table of a few hundred partitions.
     */
    private record Entry(String xmin, String lo, String hi, String jsonArray) {
      Entry(String xmin, String lo, String hi) {
        this(xmin, lo, hi, quote(quote(quote(new StringBuilder("["), xmin).append(','), lo).append(','), hi)
            .append(']').toString());
      }
    }

    private record Known(String settings, Map<String, Entry> byOid) {
      /**
       * The entries as one JSON object, {@code {"oid": ["xmin", "lo", "hi"], …}}: looked up by key
       * on the server (a binary search per child, whatever the plan; a join with an array's rows
       * became a nested loop, the product of the two sizes, in a generic plan).
       */
      String json() {
        StringBuilder out = new StringBuilder(2 + byOid.size() * 64).append('{');
        for (Map.Entry<String, Entry> e : byOid.entrySet()) {
          out.append(out.length() > 1 ? "," : "");
          quote(out, e.getKey()).append(':').append(e.getValue().jsonArray());
        }
        return out.append('}').toString();
      }
    }

    /** {@code s} as a JSON string: the whole of it when nothing needs escaping (a printed literal rarely does). */
    private static StringBuilder quote(StringBuilder out, String s) {
      out.append('"');
      int plain = 0;
      while (plain < s.length() && s.charAt(plain) >= 0x20 && s.charAt(plain) != '"' && s.charAt(plain) != '\\') {
        plain++;
      }
      out.append(s, 0, plain);
      for (int i = plain; i < s.length(); i++) {
        char ch = s.charAt(i);
        if (ch == '"' || ch == '\\') {
          out.append('\\').append(ch);
        } else if (ch < 0x20) {
          out.append(String.format("\\u%04x", (int) ch));
        } else {
          out.append(ch);
        }
      }
      return out.append('"');
    }

    private static final Known NONE = new Known("", Map.of());

    private final Map<QualifiedName, Known> parents = new ConcurrentHashMap<>();

    private Known of(QualifiedName parent) {
      return parents.getOrDefault(parent, NONE);
    }
  }

  /**
   * Orders the parent's attached partitions together with {@code planned} (this command's
   * partitions of that parent) and reports, for each planned one, its neighbours and any gap or
   * overlap it has with them. One query, all of it on the server: the attached partitions' bounds
   * are printed once ({@code pg_get_expr(relpartbound, 0)}: the form that opens no relation, so no
   * lock per partition), split at {@code ") TO ("} — the regular expression only where that split is
   * not two well-formed values (a text value holding that very string) — and cast to the key's type.
   * Each step is {@code MATERIALIZED}: inlined, the printing would be repeated for every reference.
   * A bound {@code known} holds for the child's oid and row version is taken from there instead of
   * printed (see {@link PrintedBounds}); the bounds printed are added to it.
   */
  static RoundTrip.Result<Plan> plan(RoundTrip trip, QualifiedName parent, PartitionKey key, List<PartitionSpec> planned,
      PrintedBounds known) {
    List<String> schemas = new ArrayList<>();
    List<String> tables = new ArrayList<>();
    List<String> lows = new ArrayList<>();
    List<String> highs = new ArrayList<>();
    for (PartitionSpec spec : planned) {
      if (spec.getBound() instanceof RangeBound r && r.getFrom().size() == 1 && r.getTo().size() == 1) {
        schemas.add(spec.getSchemaName());
        tables.add(spec.getName());
        lows.add(text(r.getFrom().get(0)));
        highs.add(text(r.getTo().get(0)));
      }
    }
    String[] names = tables.toArray(String[]::new);
    String[] spaces = schemas.toArray(String[]::new);
    PrintedBounds.Known before = known.of(parent);
    List<Object> params = List.of(before.settings(), before.json(),
        parent.schema().name(), parent.table().name(), BOUND_PATTERN, spaces, names, spaces,
        names, lows.toArray(String[]::new), highs.toArray(String[]::new));
    return trip.query(planQuery(key.getTypes().get(0)), params, rs -> {
      Map<String, Neighbours> neighbours = new HashMap<>();
      List<PostgresCatalog.CoverageProblem> problems = new ArrayList<>();
      Map<String, PrintedBounds.Entry> after = new HashMap<>();
      String settings = null;
      while (rs.next()) {
        String kind = rs.getString(11);
        if (kind.equals("printed")) {
          after.put(rs.getString(12), new PrintedBounds.Entry(rs.getString(13), rs.getString(14), rs.getString(15)));
          continue;
        }
        if (kind.equals("kept")) {
          settings = rs.getString(13);
          if (rs.getString(12) != null && settings.equals(before.settings())) {
            for (String oid : rs.getString(12).split(",")) {
              after.put(oid, before.byOid().get(oid));
            }
          }
          continue;
        }
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
      known.parents.put(parent, new PrintedBounds.Known(settings, Map.copyOf(after)));
      return new Plan(neighbours, problems);
    });
  }

  /** SQL: whether a printed value is MINVALUE, MAXVALUE or one whole quoted literal (every quote inside it doubled). */
  private static String wellFormed(String value) {
    return ("(%1$s IN ('MINVALUE', 'MAXVALUE') OR (length(%1$s) >= 2 AND left(%1$s, 1) = '''' AND right(%1$s, 1) = ''''"
        + " AND strpos(replace(substr(%1$s, 2, length(%1$s) - 2), '''''', ''), '''') = 0))").formatted(value);
  }

  /** SQL: a printed value in text input form, a quoted literal unquoted, MINVALUE / MAXVALUE as NULL. */
  private static String unquoted(String value) {
    return ("CASE WHEN %1$s IN ('MINVALUE', 'MAXVALUE') THEN NULL"
        + " ELSE replace(substr(%1$s, 2, length(%1$s) - 2), '''''', '''') END").formatted(value);
  }

  /**
   * SQL: the settings a printed literal depends on (date, time and interval styles, time zone, float
   * digits, money's locale); bounds printed under other ones are printed again.
   */
  private static final String SETTINGS = "concat_ws(' ', current_setting('DateStyle'), current_setting('IntervalStyle'),"
      + " current_setting('TimeZone'), current_setting('extra_float_digits'), current_setting('lc_monetary'))";

  /** {@link #plan}'s query for a key of {@code type} (from PostgreSQL's own format_type(), never from a user). */
  private static String planQuery(String type) {
    return PLAN_QUERIES.computeIfAbsent(type, RangeCoverage::newPlanQuery);
  }

  /** {@link #planQuery} by key type: the text is the same for every command on such a key. */
  private static final Map<String, String> PLAN_QUERIES = new ConcurrentHashMap<>();

  private static String newPlanQuery(String type) {
    // (a single-column range cannot start at MAXVALUE: PostgreSQL refuses the empty range)
    return """
        WITH settings AS MATERIALIZED (
          SELECT %6$s AS now),
        known AS MATERIALIZED (
          SELECT CASE WHEN settings.now = ? THEN CAST(? AS jsonb) ELSE '{}' END AS j FROM settings),
        attached AS MATERIALIZED (
          SELECT c.schema, c.tbl, c.oid, c.xmin,
                 CASE WHEN c.k ->> 0 = c.xmin THEN c.k ->> 1 END AS known_lo,
                 CASE WHEN c.k ->> 0 = c.xmin THEN c.k ->> 2 END AS known_hi,
                 CASE WHEN c.k ->> 0 IS DISTINCT FROM c.xmin THEN pg_get_expr(c.relpartbound, 0) END AS bound
            FROM (SELECT n.nspname AS schema, ch.relname AS tbl, ch.oid::text AS oid, ch.xmin::text AS xmin,
                         ch.relpartbound, known.j -> ch.oid::text AS k
                    FROM pg_class p JOIN pg_namespace pn ON pn.oid = p.relnamespace
                    JOIN pg_inherits i ON i.inhparent = p.oid
                    JOIN pg_class ch ON ch.oid = i.inhrelid JOIN pg_namespace n ON n.oid = ch.relnamespace
                    CROSS JOIN known
                   WHERE pn.nspname = ? AND p.relname = ? AND NOT i.inhdetachpending) c),
        split AS MATERIALIZED (
          SELECT a.schema, a.tbl, a.oid, a.xmin, a.bound,
                 substr(a.bound, 18, x.at - 18) AS lo, substr(a.bound, x.at + 6, length(a.bound) - x.at - 6) AS hi
            FROM attached a CROSS JOIN LATERAL (SELECT strpos(a.bound, ') TO (') AS at) x
           WHERE a.bound LIKE 'FOR VALUES FROM (%%)' AND x.at > 0),
        printed AS MATERIALIZED (
          SELECT s.schema, s.tbl, s.oid, s.xmin, false AS known,
                 CASE WHEN %2$s AND %3$s THEN ARRAY[s.lo, s.hi] ELSE regexp_match(s.bound, ?) END AS v
            FROM split s
          UNION ALL
          SELECT a.schema, a.tbl, a.oid, a.xmin, true, ARRAY[a.known_lo, a.known_hi]
            FROM attached a WHERE a.known_lo IS NOT NULL),
        listed AS (
          SELECT p.schema, p.tbl, false AS planned, %4$s AS lo, %5$s AS hi
            FROM printed p
           WHERE p.v IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM unnest(?::text[], ?::text[]) AS q(schema, tbl)
                              WHERE q.schema = p.schema AND q.tbl = p.tbl)
          UNION ALL
          SELECT q.schema, q.tbl, true, q.lo, q.hi
            FROM unnest(?::text[], ?::text[], ?::text[], ?::text[]) AS q(schema, tbl, lo, hi)),
        ranges AS (
          SELECT l.schema, l.tbl, l.planned, CAST(l.lo AS %1$s) AS lo, CAST(l.hi AS %1$s) AS hi, l.hi IS NULL AS hi_max
            FROM listed l),
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
                    WHEN prev_hi < lo THEN 'gap' END AS problem,
               'plan' AS kind, NULL AS oid, NULL AS xmin, NULL AS lo, NULL AS hi
          FROM ordered
         WHERE planned OR prev_planned OR next_planned
        UNION ALL
        SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'printed', p.oid, p.xmin, p.v[1], p.v[2]
          FROM printed p WHERE NOT p.known AND p.v IS NOT NULL
        UNION ALL
        SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'kept',
               (SELECT string_agg(p.oid, ',') FROM printed p WHERE p.known), (SELECT now FROM settings), NULL, NULL"""
        .formatted(type, wellFormed("s.lo"), wellFormed("s.hi"), unquoted("p.v[1]"), unquoted("p.v[2]"), SETTINGS);
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
