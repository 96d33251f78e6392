package dev.partwright.connectors.postgres;

import dev.partwright.schemas.DateValue;
import dev.partwright.schemas.DefaultBound;
import dev.partwright.schemas.HashBound;
import dev.partwright.schemas.Int32Value;
import dev.partwright.schemas.Int64Value;
import dev.partwright.schemas.ListBound;
import dev.partwright.schemas.PartitionKey;
import dev.partwright.schemas.RangeBound;
import dev.partwright.schemas.TextValue;
import dev.partwright.schemas.TimestampTzValue;
import dev.partwright.schemas.Unbounded;
import dev.partwright.schemas.UuidValue;
import java.util.List;
import java.util.StringJoiner;

/**
 * Every statement the worker sends, built from validated identifiers (always quoted), names read
 * from PostgreSQL's own catalog (quoted the same way) and typed bound values (rendered as literals
 * here, nowhere else). No user string is concatenated raw.
 */
public final class Ddl {

  private Ddl() {}

  /** Lock modes the worker takes explicitly, weakest first. */
  public enum LockMode {
    SHARE_UPDATE_EXCLUSIVE("SHARE UPDATE EXCLUSIVE"),
    ACCESS_EXCLUSIVE("ACCESS EXCLUSIVE");

    private final String sql;

    LockMode(String sql) {
      this.sql = sql;
    }
  }

  /** How a partition leaves its parent. */
  public enum DetachMode { PLAIN, CONCURRENTLY, FINALIZE }

  /** The child as a standalone table shaped like the parent, with its indexes: no lock on the parent beyond ACCESS SHARE. */
  public static String createStandalone(QualifiedName child, QualifiedName parent) {
    return createStandalone(child, parent, null);
  }

  /**
   * Like {@link #createStandalone(QualifiedName, QualifiedName)}; with {@code subpartitionBy} the
   * child is itself a partitioned table (the middle level of a composite scheme), so its indexes
   * become partitioned indexes its own partitions attach to.
   */
  public static String createStandalone(QualifiedName child, QualifiedName parent, PartitionKey subpartitionBy) {
    // not INCLUDING IDENTITY: PostgreSQL 17 refuses to attach a table with its own identity column;
    // once attached, the partition takes the parent's identity
    String sql = "CREATE TABLE " + child.sql() + " (LIKE " + parent.sql()
        + " INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES INCLUDING STORAGE INCLUDING COMMENTS"
        + " INCLUDING GENERATED INCLUDING STATISTICS)";
    if (subpartitionBy == null) {
      return sql;
    }
    StringJoiner columns = new StringJoiner(", ");
    for (String column : subpartitionBy.getColumns()) {
      columns.add(new Identifier(column).sql());
    }
    return sql + " PARTITION BY " + subpartitionBy.getStrategy().name() + " (" + columns + ")";
  }

  /** COMMENT ON TABLE with a text the worker composed (quoted as a literal). */
  public static String comment(QualifiedName table, String text) {
    return "COMMENT ON TABLE " + table.sql() + " IS " + literal(new TextValue(text));
  }

  /**
   * A CHECK constraint that proves the child holds only rows of its bound ({@link #boundPredicate}),
   * so ATTACH PARTITION needs no validation scan of the child.
   */
  public static String addCheck(SqlName table, Identifier constraint, String predicate) {
    return "ALTER TABLE " + table.sql() + " ADD CONSTRAINT " + constraint.sql() + " CHECK (" + predicate + ")";
  }

  /**
   * The rows none of {@code predicates} ({@link #boundPredicate}s) accepts. As a CHECK on a DEFAULT
   * partition it proves the new partitions' ranges absent from it, so each ATTACH skips its scan of
   * DEFAULT (PostgreSQL 17 prints "updated partition constraint for default partition ... is implied
   * by existing constraints" at DEBUG1).
   */
  public static String noneOf(List<String> predicates) {
    StringJoiner any = new StringJoiner(") OR (", "NOT ((", "))");
    predicates.forEach(any::add);
    return any.toString();
  }

  /**
   * The rows a single-column bound accepts, as a predicate on {@code quotedColumn}; null when the
   * bound is not a single-column range or list bound. Range keys never hold NULL (PostgreSQL routes
   * NULL to DEFAULT), list keys only when the bound lists NULL.
   */
  public static String boundPredicate(String quotedColumn, Object bound) {
    if (bound instanceof RangeBound r) {
      if (r.getFrom().size() != 1 || r.getTo().size() != 1) {
        return null;
      }
      StringBuilder p = new StringBuilder(quotedColumn).append(" IS NOT NULL");
      Object from = r.getFrom().get(0);
      Object to = r.getTo().get(0);
      if (!(from instanceof Unbounded)) {
        p.append(" AND ").append(quotedColumn).append(" >= ").append(literal(from));
      }
      if (!(to instanceof Unbounded)) {
        p.append(" AND ").append(quotedColumn).append(" < ").append(literal(to));
      }
      return p.toString();
    }
    if (bound instanceof ListBound l) {
      String in = l.getValues().isEmpty() ? null : quotedColumn + " IN (" + literals(l.getValues()) + ")";
      if (l.getIncludesNull()) {
        return in == null ? quotedColumn + " IS NULL" : "(" + quotedColumn + " IS NULL OR " + in + ")";
      }
      return in == null ? null : quotedColumn + " IS NOT NULL AND " + in;
    }
    return null;
  }

  public static String dropConstraint(SqlName table, Identifier constraint) {
    return "ALTER TABLE " + table.sql() + " DROP CONSTRAINT IF EXISTS " + constraint.sql();
  }

  /** ATTACH takes SHARE UPDATE EXCLUSIVE on the parent: inserts and reads go on. */
  public static String attach(QualifiedName parent, QualifiedName child, Object bound) {
    return "ALTER TABLE " + parent.sql() + " ATTACH PARTITION " + child.sql() + " " + forValues(bound);
  }

  /**
   * DETACH: {@code CONCURRENTLY} takes SHARE UPDATE EXCLUSIVE (two transactions, never in a
   * transaction block); {@code PLAIN} takes ACCESS EXCLUSIVE on the parent; {@code FINALIZE}
   * completes an interrupted concurrent detach.
   */
  public static String detach(QualifiedName parent, QualifiedName child, DetachMode mode) {
    String sql = "ALTER TABLE " + parent.sql() + " DETACH PARTITION " + child.sql();
    return switch (mode) {
      case PLAIN -> sql;
      case CONCURRENTLY -> sql + " CONCURRENTLY";
      case FINALIZE -> sql + " FINALIZE";
    };
  }

  /** {@code LOCK TABLE ONLY}: on a partitioned table, without ONLY, the lock would recurse to every partition. */
  public static String lock(SqlName table, LockMode mode) {
    return "LOCK TABLE ONLY " + table.sql() + " IN " + mode.sql + " MODE";
  }

  /**
   * Moves the rows {@code predicate} selects from {@code source} into {@code target} in one
   * statement: every row deleted is inserted, in the same transaction, or neither happens.
   * {@code quotedColumns} come from the catalog (quote_ident).
   */
  public static String moveRows(SqlName source, SqlName target, String quotedColumns, String predicate) {
    return "WITH moved AS (DELETE FROM ONLY " + source.sql() + " WHERE " + predicate + " RETURNING " + quotedColumns
        + ") INSERT INTO " + target.sql() + " (" + quotedColumns + ") OVERRIDING SYSTEM VALUE SELECT "
        + quotedColumns + " FROM moved";
  }

  /** Re-routes every row of {@code source} through {@code parent}'s tuple routing. */
  public static String reinsertThrough(SqlName source, SqlName parent, String quotedColumns) {
    return "INSERT INTO " + parent.sql() + " (" + quotedColumns + ") OVERRIDING SYSTEM VALUE SELECT " + quotedColumns
        + " FROM " + source.sql();
  }

  public static String drop(QualifiedName table) {
    return "DROP TABLE IF EXISTS " + table.sql();
  }

  public static String createSchema(Identifier schema) {
    return "CREATE SCHEMA IF NOT EXISTS " + schema.sql();
  }

  public static String setSchema(QualifiedName table, Identifier schema) {
    return "ALTER TABLE " + table.sql() + " SET SCHEMA " + schema.sql();
  }

  public static String analyze(QualifiedName table) {
    return "ANALYZE " + table.sql();
  }

  /** {@code SET LOCAL}: the timeout ends with the transaction, so a pooled connection never keeps it. */
  public static String setLocal(String setting, long millis) {
    return "SET LOCAL " + timeoutSetting(setting) + " = " + Math.max(0, millis);
  }

  /** Session-level timeout, for statements that cannot run in a transaction block (DETACH ... CONCURRENTLY). */
  public static String setSession(String setting, long millis) {
    return "SET " + timeoutSetting(setting) + " = " + Math.max(0, millis);
  }

  public static String resetSession(String setting) {
    return "RESET " + timeoutSetting(setting);
  }

  private static String timeoutSetting(String setting) {
    if (!setting.equals("lock_timeout") && !setting.equals("statement_timeout")) {
      throw new IllegalArgumentException("not a timeout setting: " + setting);
    }
    return setting;
  }

  /** The FOR VALUES clause of a bound. */
  public static String forValues(Object bound) {
    if (bound instanceof RangeBound r) {
      return "FOR VALUES FROM (" + literals(r.getFrom()) + ") TO (" + literals(r.getTo()) + ")";
    }
    if (bound instanceof HashBound h) {
      return "FOR VALUES WITH (MODULUS " + h.getModulus() + ", REMAINDER " + h.getRemainder() + ")";
    }
    if (bound instanceof ListBound l) {
      String values = literals(l.getValues());
      if (l.getIncludesNull()) {
        values = values.isEmpty() ? "NULL" : values + ", NULL";
      }
      return "FOR VALUES IN (" + values + ")";
    }
    if (bound instanceof DefaultBound) {
      return "DEFAULT";
    }
    throw new IllegalArgumentException("unknown bound type " + bound);
  }

  private static String literals(List<Object> values) {
    StringJoiner j = new StringJoiner(", ");
    for (Object v : values) {
      j.add(literal(v));
    }
    return j.toString();
  }

  /** A typed bound value as an SQL literal. Text is quoted with doubled single quotes (standard_conforming_strings is on). */
  public static String literal(Object v) {
    if (v instanceof TimestampTzValue t) {
      return "'" + t.getMicros() + "'";
    } else if (v instanceof DateValue d) {
      return "'" + d.getDate() + "'";
    } else if (v instanceof Int64Value i) {
      return Long.toString(i.getValue());
    } else if (v instanceof Int32Value i) {
      return Integer.toString(i.getValue());
    } else if (v instanceof UuidValue u) {
      return "'" + u.getValue() + "'";
    } else if (v instanceof TextValue t) {
      if (t.getValue().indexOf('\0') >= 0) {
        throw new IllegalArgumentException("text bound contains a NUL character");
      }
      return "'" + t.getValue().replace("'", "''") + "'";
    } else if (v instanceof Unbounded u) {
      return u == Unbounded.MINVALUE ? "MINVALUE" : "MAXVALUE";
    }
    throw new IllegalArgumentException("unknown bound value " + v);
  }

  /**
   * A name read from PostgreSQL's catalog (a column of a user's table may be any string), quoted as
   * {@code quote_ident} would, but always: never used for names a command supplies.
   */
  public static String quoteCatalogName(String name) {
    if (name.indexOf('\0') >= 0) {
      throw new IllegalArgumentException("catalog name contains a NUL character");
    }
    return '"' + name.replace("\"", "\"\"") + '"';
  }
}
