package dev.partwright.schemas;

import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;

/** Builds and reads the bound values of the Avro contracts. */
public final class Bounds {

  private Bounds() {}

  /** A single-column timestamptz range {@code [from, to)}. */
  public static RangeBound timeRange(Instant from, Instant to) {
    return new RangeBound(List.of(timestamp(from)), List.of(timestamp(to)));
  }

  public static TimestampTzValue timestamp(Instant instant) {
    return new TimestampTzValue(instant.truncatedTo(ChronoUnit.MICROS));
  }

  /** The instant of a single-column timestamptz bound value, or null for MINVALUE / MAXVALUE. */
  public static Instant instantOf(Object boundValue) {
    if (boundValue instanceof TimestampTzValue t) {
      return t.getMicros();
    }
    if (boundValue instanceof Unbounded) {
      return null;
    }
    throw new IllegalArgumentException("not a timestamptz bound value: " + boundValue);
  }

  /** Human-readable form of a bound, as PostgreSQL would write it. */
  public static String describe(Object bound) {
    if (bound instanceof RangeBound r) {
      return "FROM (" + values(r.getFrom()) + ") TO (" + values(r.getTo()) + ")";
    }
    if (bound instanceof HashBound h) {
      return "WITH (MODULUS " + h.getModulus() + ", REMAINDER " + h.getRemainder() + ")";
    }
    if (bound instanceof ListBound l) {
      return "IN (" + values(l.getValues()) + (l.getIncludesNull() ? ", NULL" : "") + ")";
    }
    if (bound instanceof DefaultBound) {
      return "DEFAULT";
    }
    throw new IllegalArgumentException("unknown bound " + bound);
  }

  private static String values(List<Object> values) {
    StringBuilder out = new StringBuilder();
    for (Object v : values) {
      if (out.length() > 0) {
        out.append(", ");
      }
      out.append(valueText(v));
    }
    return out.toString();
  }

  /** A bound value in PostgreSQL's text input form (unquoted). */
  public static String valueText(Object v) {
    if (v instanceof TimestampTzValue t) {
      return t.getMicros().toString();
    } else if (v instanceof DateValue d) {
      return d.getDate().toString();
    } else if (v instanceof Int64Value i) {
      return Long.toString(i.getValue());
    } else if (v instanceof Int32Value i) {
      return Integer.toString(i.getValue());
    } else if (v instanceof TextValue t) {
      return t.getValue();
    } else if (v instanceof UuidValue u) {
      return u.getValue().toString();
    } else if (v instanceof Unbounded u) {
      return u.name();
    }
    throw new IllegalArgumentException("unknown bound value " + v);
  }
}
