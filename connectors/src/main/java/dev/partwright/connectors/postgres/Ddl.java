package dev.partwright.connectors.postgres;

import dev.partwright.schemas.DateValue;
import dev.partwright.schemas.DefaultBound;
import dev.partwright.schemas.HashBound;
import dev.partwright.schemas.Int32Value;
import dev.partwright.schemas.Int64Value;
import dev.partwright.schemas.ListBound;
import dev.partwright.schemas.RangeBound;
import dev.partwright.schemas.TextValue;
import dev.partwright.schemas.TimestampTzValue;
import dev.partwright.schemas.Unbounded;
import dev.partwright.schemas.UuidValue;
import java.util.List;
import java.util.StringJoiner;

/**
 * Every statement the worker sends, built from validated identifiers (always quoted) and typed
 * bound values (rendered as literals here, nowhere else). No user string is concatenated raw.
 */
public final class Ddl {

  private Ddl() {}

  /** The child as a standalone table shaped like the parent, with its indexes: no lock on the parent beyond ACCESS SHARE. */
  public static String createStandalone(QualifiedName child, QualifiedName parent) {
    return "CREATE TABLE " + child.sql() + " (LIKE " + parent.sql()
        + " INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES INCLUDING STORAGE INCLUDING COMMENTS"
        + " INCLUDING GENERATED INCLUDING IDENTITY INCLUDING STATISTICS)";
  }

  /**
   * A CHECK constraint that proves the child holds only rows of its bound, so ATTACH PARTITION
   * needs no validation scan of the child. Only for single-column range bounds; null otherwise.
   */
  public static String addBoundCheck(QualifiedName child, Identifier constraint, Identifier column, Object bound) {
    if (!(bound instanceof RangeBound r) || r.getFrom().size() != 1) {
      return null;
    }
    StringBuilder check = new StringBuilder(column.sql()).append(" IS NOT NULL");
    Object from = r.getFrom().get(0);
    Object to = r.getTo().get(0);
    if (!(from instanceof Unbounded)) {
      check.append(" AND ").append(column.sql()).append(" >= ").append(literal(from));
    }
    if (!(to instanceof Unbounded)) {
      check.append(" AND ").append(column.sql()).append(" < ").append(literal(to));
    }
    return "ALTER TABLE " + child.sql() + " ADD CONSTRAINT " + constraint.sql() + " CHECK (" + check + ")";
  }

  public static String dropConstraint(QualifiedName table, Identifier constraint) {
    return "ALTER TABLE " + table.sql() + " DROP CONSTRAINT IF EXISTS " + constraint.sql();
  }

  /** ATTACH takes SHARE UPDATE EXCLUSIVE on the parent: inserts and reads go on. */
  public static String attach(QualifiedName parent, QualifiedName child, Object bound) {
    return "ALTER TABLE " + parent.sql() + " ATTACH PARTITION " + child.sql() + " " + forValues(bound);
  }

  public static String drop(QualifiedName table) {
    return "DROP TABLE IF EXISTS " + table.sql();
  }

  public static String analyze(QualifiedName table) {
    return "ANALYZE " + table.sql();
  }

  public static String setLocal(String setting, long millis) {
    if (!setting.equals("lock_timeout") && !setting.equals("statement_timeout")) {
      throw new IllegalArgumentException("not a timeout setting: " + setting);
    }
    return "SET LOCAL " + setting + " = " + Math.max(0, millis);
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

  /** A typed bound value as an SQL literal. Text is quoted with doubled single quotes. */
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
}
