package dev.partwright.connectors.policy;

import dev.partwright.connectors.postgres.QualifiedName;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The partitions a parent has now, read from {@code pg_inherits} and {@code pg_get_expr(relpartbound)}:
 * what {@code partwright rotate} compares the policy with. PostgreSQL itself turns the bound text
 * back into timestamptz values, in the same session, so no date format is parsed here.
 */
public final class PartitionInventory {

  private PartitionInventory() {}

  /**
   * A range partition of a timestamptz key.
   *
   * @param from lower bound, null for MINVALUE
   * @param to upper bound, null for MAXVALUE
   * @param bytes {@code pg_total_relation_size}: table, indexes and TOAST
   */
  public record RangePartition(QualifiedName name, Instant from, Instant to, long bytes) {}

  /** A list partition: its listed values; {@code partitioned} when it has partitions of its own. */
  public record ListPartition(QualifiedName name, List<String> values, boolean partitioned) {}

  /** What hangs off one parent. */
  public record Children(List<RangePartition> ranges, List<ListPartition> lists, QualifiedName defaultPartition) {}

  private static final Pattern LITERAL = Pattern.compile("'((?:[^']|'')*)'");

  public static Children of(Connection c, QualifiedName parent) throws SQLException {
    List<RangePartition> ranges = new ArrayList<>();
    List<ListPartition> lists = new ArrayList<>();
    QualifiedName defaultPartition = null;
    try (PreparedStatement ps = c.prepareStatement("""
        SELECT n.nspname, cl.relname, b.expr,
               CASE WHEN b.expr LIKE 'FOR VALUES FROM%' THEN (regexp_match(b.expr, 'FROM \\(''([^'']*)''\\)'))[1]::timestamptz END,
               CASE WHEN b.expr LIKE 'FOR VALUES FROM%' THEN (regexp_match(b.expr, ' TO \\(''([^'']*)''\\)'))[1]::timestamptz END,
               pg_total_relation_size(cl.oid), cl.relkind = 'p'
          FROM pg_inherits i
          JOIN pg_class cl ON cl.oid = i.inhrelid
          JOIN pg_namespace n ON n.oid = cl.relnamespace
          CROSS JOIN LATERAL (SELECT pg_get_expr(cl.relpartbound, cl.oid) AS expr) b
         WHERE i.inhparent = (SELECT p.oid FROM pg_class p JOIN pg_namespace pn ON pn.oid = p.relnamespace
                               WHERE pn.nspname = ? AND p.relname = ?)
         ORDER BY 4 NULLS FIRST, 2""")) {
      ps.setString(1, parent.schema().name());
      ps.setString(2, parent.table().name());
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          QualifiedName name = QualifiedName.of(rs.getString(1), rs.getString(2));
          String expr = rs.getString(3);
          if (expr.equals("DEFAULT")) {
            defaultPartition = name;
          } else if (expr.startsWith("FOR VALUES FROM")) {
            ranges.add(new RangePartition(name, instant(rs.getObject(4, OffsetDateTime.class)),
                instant(rs.getObject(5, OffsetDateTime.class)), rs.getLong(6)));
          } else if (expr.startsWith("FOR VALUES IN")) {
            List<String> values = new ArrayList<>();
            Matcher m = LITERAL.matcher(expr);
            while (m.find()) {
              values.add(m.group(1).replace("''", "'"));
            }
            lists.add(new ListPartition(name, values, rs.getBoolean(7)));
          }
        }
      }
    }
    return new Children(ranges, lists, defaultPartition);
  }

  private static Instant instant(OffsetDateTime t) {
    return t == null ? null : t.toInstant();
  }
}
