package dev.partwright.router;

import dev.partwright.schemas.DateValue;
import dev.partwright.schemas.Int32Value;
import dev.partwright.schemas.Int64Value;
import dev.partwright.schemas.TextValue;
import dev.partwright.schemas.TimestampTzValue;
import dev.partwright.schemas.UuidValue;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.time.DateTimeException;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.Locale;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One partition key column: its name, type and (timestamps only) fractional-second precision.
 * Converts application values, bound values and PostgreSQL text to the normalized form of
 * {@link KeyType}, and compares and hashes normalized values as PostgreSQL does.
 */
record KeyColumn(String name, KeyType type, int precision) {

  /** 2000-01-01, PostgreSQL's epoch for dates and timestamps, in Unix days and microseconds. */
  static final long PG_EPOCH_DAYS = 10_957L;
  static final long PG_EPOCH_MICROS = PG_EPOCH_DAYS * 86_400L * 1_000_000L;
  /** PostgreSQL's {@code infinity} / {@code -infinity} dates ({@code DATEVAL_NOEND} / {@code DATEVAL_NOBEGIN}). */
  static final long DATE_INFINITY = Integer.MAX_VALUE;
  static final long DATE_MINUS_INFINITY = Integer.MIN_VALUE;

  private static final Pattern DATE_TIME = Pattern.compile(
      "(\\d{4,})-(\\d{1,2})-(\\d{1,2})"
          + "(?:[ T](\\d{1,2}):(\\d{2})(?::(\\d{2})(?:\\.(\\d+))?)?)?"
          + "\\s*(Z|z|[+-]\\d{1,2}(?::?\\d{2}(?::?\\d{2})?)?)?"
          + "(\\s+BC)?");
  private static final long[] SCALES = {1_000_000, 100_000, 10_000, 1_000, 100, 10, 1};

  /** The normalized form of an application value (never null): a {@link Long}, {@link String} or {@link UUID}. */
  Object normalize(Object value) {
    return switch (type) {
      case TEXT -> text(value);
      case UUID -> uuid(value);
      default -> toLong(value);
    };
  }

  /**
   * The normalized {@code long} of an application value of a {@link KeyType#isLong()} type:
   * integers as {@link Number}; dates as {@link LocalDate} / {@link java.sql.Date}; timestamptz as
   * {@link Instant}, {@link OffsetDateTime}, {@link ZonedDateTime} or {@link java.sql.Timestamp};
   * timestamp as {@link LocalDateTime} or {@link java.sql.Timestamp}; any of them as PostgreSQL text.
   */
  long toLong(Object value) {
    switch (type) {
      case INT2, INT4, INT8 -> {
        if (value instanceof Long || value instanceof Integer || value instanceof Short || value instanceof Byte) {
          return checked(((Number) value).longValue());
        }
        if (value instanceof BigInteger b && b.bitLength() < 64) {
          return checked(b.longValue());
        }
        if (value instanceof BigDecimal d) {
          try {
            return checked(d.longValueExact());
          } catch (ArithmeticException e) {
            throw invalid(value, "not a whole number in bigint range");
          }
        }
        if (value instanceof CharSequence s) {
          return (Long) parse(s.toString());
        }
      }
      case DATE -> {
        if (value instanceof LocalDate d) {
          return d.toEpochDay() - PG_EPOCH_DAYS;
        }
        if (value instanceof java.sql.Date d) {
          return d.toLocalDate().toEpochDay() - PG_EPOCH_DAYS;
        }
        if (value instanceof CharSequence s) {
          return (Long) parse(s.toString());
        }
      }
      case TIMESTAMPTZ -> {
        if (value instanceof Instant t) {
          return rounded(micros(t));
        }
        if (value instanceof OffsetDateTime t) {
          return rounded(micros(t.toInstant()));
        }
        if (value instanceof ZonedDateTime t) {
          return rounded(micros(t.toInstant()));
        }
        if (value instanceof java.sql.Timestamp t) {
          return rounded(micros(t.toInstant()));
        }
        if (value instanceof CharSequence s) {
          return (Long) parse(s.toString());
        }
      }
      case TIMESTAMP -> {
        if (value instanceof LocalDateTime t) {
          return rounded(micros(t.toInstant(ZoneOffset.UTC)));
        }
        if (value instanceof java.sql.Timestamp t) {
          return rounded(micros(t.toLocalDateTime().toInstant(ZoneOffset.UTC)));
        }
        if (value instanceof CharSequence s) {
          return (Long) parse(s.toString());
        }
      }
      default -> throw new IllegalStateException(type + " values are not longs");
    }
    throw invalid(value, "unsupported Java type " + value.getClass().getName());
  }

  private static String text(Object value) {
    if (value instanceof CharSequence s) {
      return s.toString();
    }
    if (value instanceof Character c) {
      return c.toString();
    }
    throw new IllegalArgumentException("a text key value must be a String, not " + value.getClass().getName());
  }

  private UUID uuid(Object value) {
    if (value instanceof UUID u) {
      return u;
    }
    if (value instanceof CharSequence s) {
      return (UUID) parse(s.toString());
    }
    throw invalid(value, "unsupported Java type " + value.getClass().getName());
  }

  private long checked(long v) {
    boolean ok = switch (type) {
      case INT2 -> v >= Short.MIN_VALUE && v <= Short.MAX_VALUE;
      case INT4 -> v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE;
      default -> true;
    };
    if (!ok) {
      throw invalid(v, "out of range for " + type.sqlName);
    }
    return v;
  }

  /** Microseconds since 2000-01-01, rounding nanoseconds half up as the JDBC driver does. */
  static long micros(Instant t) {
    long micros = Math.addExact(Math.multiplyExact(t.getEpochSecond(), 1_000_000L), (t.getNano() + 500) / 1_000);
    return micros - PG_EPOCH_MICROS;
  }

  static Instant instant(long pgMicros) {
    long unix = Math.addExact(pgMicros, PG_EPOCH_MICROS);
    return Instant.ofEpochSecond(Math.floorDiv(unix, 1_000_000L), Math.floorMod(unix, 1_000_000L) * 1_000L);
  }

  /** PostgreSQL's {@code AdjustTimestampForTypmod}: round half away from zero to the column's precision. */
  private long rounded(long micros) {
    if (precision < 0 || precision >= 6 || micros == Long.MAX_VALUE || micros == Long.MIN_VALUE) {
      return micros;
    }
    long scale = SCALES[precision];
    long offset = scale / 2;
    return micros >= 0 ? (micros + offset) / scale * scale : -(((-micros) + offset) / scale * scale);
  }

  /** Hash of a normalized value with the partition seed, as the type's extended hash support function computes it. */
  long hash(Object normalized) {
    return hash(normalized, PgHash.PARTITION_SEED);
  }

  long hash(Object normalized, long seed) {
    return switch (type) {
      case TEXT -> PgHash.text((String) normalized, seed);
      case UUID -> PgHash.uuid((UUID) normalized, seed);
      // date_ops hashes the DateADT (int32 days) like an int4; timestamps hash their int64 like an int8
      case INT2, INT4, DATE -> PgHash.int4((int) (long) (Long) normalized, seed);
      case INT8, TIMESTAMP, TIMESTAMPTZ -> PgHash.int8((Long) normalized, seed);
    };
  }

  /** Compares two normalized values in PostgreSQL's order (C collation for text, unsigned bytes for uuid). */
  int compare(Object a, Object b) {
    return switch (type) {
      case TEXT -> compareUtf8((String) a, (String) b);
      case UUID -> compareUuid((UUID) a, (UUID) b);
      default -> Long.compare((Long) a, (Long) b);
    };
  }

  /**
   * Compares as the UTF-8 bytes would compare ({@code memcmp}, PostgreSQL's C collation), which is
   * code point order: it differs from {@link String#compareTo} only where a supplementary character
   * (a surrogate pair) meets a character from U+E000 to U+FFFF.
   */
  static int compareUtf8(String a, String b) {
    int n = Math.min(a.length(), b.length());
    for (int i = 0; i < n; i++) {
      char x = a.charAt(i);
      char y = b.charAt(i);
      if (x != y) {
        boolean sx = Character.isSurrogate(x);
        boolean sy = Character.isSurrogate(y);
        if (sx != sy && (sx ? y : x) >= 0xE000) {
          return sx ? 1 : -1;
        }
        return x - y;
      }
    }
    return a.length() - b.length();
  }

  /** PostgreSQL compares uuids with {@code memcmp}: unsigned, unlike {@link UUID#compareTo}. */
  static int compareUuid(UUID a, UUID b) {
    int c = Long.compareUnsigned(a.getMostSignificantBits(), b.getMostSignificantBits());
    return c != 0 ? c : Long.compareUnsigned(a.getLeastSignificantBits(), b.getLeastSignificantBits());
  }

  /** The normalized value of a bound value of the Avro contract ({@code Unbounded} excluded). */
  Object fromBound(Object v) {
    if (v instanceof TextValue t) {
      return type == KeyType.TEXT ? t.getValue() : parse(t.getValue());
    }
    switch (type) {
      case TIMESTAMPTZ, TIMESTAMP -> {
        if (v instanceof TimestampTzValue t) {
          return rounded(micros(t.getMicros()));
        }
      }
      case DATE -> {
        if (v instanceof DateValue d) {
          return d.getDate().toEpochDay() - PG_EPOCH_DAYS;
        }
      }
      case INT2, INT4, INT8 -> {
        if (v instanceof Int64Value i) {
          return checked(i.getValue());
        }
        if (v instanceof Int32Value i) {
          return checked(i.getValue());
        }
      }
      case UUID -> {
        if (v instanceof UuidValue u) {
          return u.getValue();
        }
      }
      default -> { }
    }
    throw new IllegalArgumentException("bound value " + v + " does not fit key column " + name + " " + type.sqlName);
  }

  /** The Avro bound value of a normalized value. */
  Object toBound(Object normalized) {
    return switch (type) {
      case TEXT -> new TextValue((String) normalized);
      case UUID -> new UuidValue((UUID) normalized);
      case INT8 -> new Int64Value((Long) normalized);
      case INT2, INT4 -> new Int32Value(((Long) normalized).intValue());
      case DATE -> {
        long d = (Long) normalized;
        if (d == DATE_INFINITY || d == DATE_MINUS_INFINITY) {
          throw new IllegalArgumentException("an infinite date bound has no representation in the boundary contract");
        }
        yield new DateValue(LocalDate.ofEpochDay(d + PG_EPOCH_DAYS));
      }
      case TIMESTAMPTZ, TIMESTAMP -> {
        long t = (Long) normalized;
        if (t == Long.MAX_VALUE || t == Long.MIN_VALUE) {
          throw new IllegalArgumentException("an infinite timestamp bound has no representation in the boundary contract");
        }
        yield new TimestampTzValue(instant(t));
      }
    };
  }

  /**
   * Parses PostgreSQL text (its ISO output, as {@code pg_get_expr} prints bounds with DateStyle ISO):
   * integers, {@code yyyy-mm-dd[ BC]}, timestamps with or without fraction and {@code infinity};
   * a timestamptz needs an explicit offset ({@code Z}, {@code +00}, {@code -05:30}) because there is
   * no session time zone here; a timestamp ignores an offset, as PostgreSQL does.
   */
  Object parse(String text) {
    String s = text.trim();
    try {
      switch (type) {
        case TEXT -> {
          return text;
        }
        case UUID -> {
          String hex = s.startsWith("{") && s.endsWith("}") ? s.substring(1, s.length() - 1) : s;
          hex = hex.replace("-", "");
          if (hex.length() != 32 || !hex.chars().allMatch(c -> Character.digit(c, 16) >= 0)) {
            throw invalid(text, "not a uuid");
          }
          return new UUID(Long.parseUnsignedLong(hex.substring(0, 16), 16), Long.parseUnsignedLong(hex.substring(16), 16));
        }
        case INT2, INT4, INT8 -> {
          return checked(Long.parseLong(s.startsWith("+") ? s.substring(1) : s));
        }
        default -> {
          String lower = s.toLowerCase(Locale.ROOT);
          if (lower.equals("infinity") || lower.equals("+infinity")) {
            return type == KeyType.DATE ? DATE_INFINITY : Long.MAX_VALUE;
          }
          if (lower.equals("-infinity")) {
            return type == KeyType.DATE ? DATE_MINUS_INFINITY : Long.MIN_VALUE;
          }
          return parseDateTime(s, text);
        }
      }
    } catch (NumberFormatException | DateTimeException | ArithmeticException e) {
      throw invalid(text, e.getMessage());
    }
  }

  private long parseDateTime(String s, String text) {
    Matcher m = DATE_TIME.matcher(s);
    if (!m.matches()) {
      throw invalid(text, "not an ISO date/time");
    }
    int year = Integer.parseInt(m.group(1));
    if (m.group(9) != null) {
      year = 1 - year;
    }
    LocalDate date = LocalDate.of(year, Integer.parseInt(m.group(2)), Integer.parseInt(m.group(3)));
    if (type == KeyType.DATE) {
      return date.toEpochDay() - PG_EPOCH_DAYS;
    }
    long nanos = 0;
    if (m.group(7) != null) {
      String f = (m.group(7) + "000000000").substring(0, 9);
      nanos = Long.parseLong(f);
    }
    LocalDateTime local = date.atTime(
        m.group(4) == null ? 0 : Integer.parseInt(m.group(4)),
        m.group(5) == null ? 0 : Integer.parseInt(m.group(5)),
        m.group(6) == null ? 0 : Integer.parseInt(m.group(6)),
        (int) nanos);
    if (type == KeyType.TIMESTAMP) {
      return rounded(micros(local.toInstant(ZoneOffset.UTC)));
    }
    if (m.group(8) == null) {
      throw invalid(text, "a timestamptz needs an explicit UTC offset here");
    }
    return rounded(micros(local.toInstant(offset(m.group(8)))));
  }

  private static ZoneOffset offset(String o) {
    if (o.equalsIgnoreCase("z")) {
      return ZoneOffset.UTC;
    }
    int sign = o.charAt(0) == '-' ? -1 : 1;
    String digits = o.substring(1).replace(":", "");
    if (digits.length() % 2 == 1) {
      digits = "0" + digits;
    }
    int h = Integer.parseInt(digits.substring(0, 2));
    int mi = digits.length() >= 4 ? Integer.parseInt(digits.substring(2, 4)) : 0;
    int se = digits.length() >= 6 ? Integer.parseInt(digits.substring(4, 6)) : 0;
    return ZoneOffset.ofHoursMinutesSeconds(sign * h, sign * mi, sign * se);
  }

  /** A normalized value as readable text (ISO for dates and timestamps). */
  String format(Object normalized) {
    if (normalized == null) {
      return "NULL";
    }
    return switch (type) {
      case TEXT, UUID, INT2, INT4, INT8 -> normalized.toString();
      case DATE -> {
        long d = (Long) normalized;
        yield d == DATE_INFINITY ? "infinity" : d == DATE_MINUS_INFINITY ? "-infinity"
            : LocalDate.ofEpochDay(d + PG_EPOCH_DAYS).toString();
      }
      case TIMESTAMPTZ, TIMESTAMP -> {
        long t = (Long) normalized;
        yield t == Long.MAX_VALUE ? "infinity" : t == Long.MIN_VALUE ? "-infinity"
            : type == KeyType.TIMESTAMP ? LocalDateTime.ofInstant(instant(t), ZoneOffset.UTC).toString() : instant(t).toString();
      }
    };
  }

  private IllegalArgumentException invalid(Object value, String why) {
    return new IllegalArgumentException("invalid value '" + value + "' for key column " + name + " (" + type.sqlName + "): " + why);
  }
}
