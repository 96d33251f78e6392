package dev.partwright.router;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The partition key column types the router compares and hashes exactly as PostgreSQL does. Every
 * value is first normalized to the form PostgreSQL itself stores, so that comparing and hashing need
 * no further conversion: integers, dates and timestamps become a {@code long} (dates in days and
 * timestamps in microseconds, both since PostgreSQL's epoch 2000-01-01, so that {@code infinity} is
 * {@code Long.MAX_VALUE} as in PostgreSQL), text a {@link String}, uuid a {@link java.util.UUID}.
 */
enum KeyType {
  INT2("smallint"),
  INT4("integer"),
  INT8("bigint"),
  DATE("date"),
  TIMESTAMPTZ("timestamp with time zone"),
  TIMESTAMP("timestamp without time zone"),
  /** text and varchar: ordered by C collation (UTF-8 byte order), hashed over the UTF-8 bytes. */
  TEXT("text"),
  UUID("uuid");

  private static final Pattern TIMESTAMP_TYPE =
      Pattern.compile("timestamp(?:\\((\\d)\\))?(?: (with|without) time zone)?|timestamptz(?:\\((\\d)\\))?");

  final String sqlName;

  KeyType(String sqlName) {
    this.sqlName = sqlName;
  }

  /** Whether values of this type normalize to a {@code long}. */
  boolean isLong() {
    return this != TEXT && this != UUID;
  }

  /**
   * The key column for a type as PostgreSQL's {@code format_type} prints it ({@code timestamp(3) with
   * time zone}, {@code character varying(20)}, {@code bigint}...).
   *
   * @throws UnsupportedPartitionKeyException for any other type
   */
  static KeyColumn column(String table, String name, String formatType) {
    String t = formatType.trim().toLowerCase(Locale.ROOT);
    Matcher m = TIMESTAMP_TYPE.matcher(t);
    if (m.matches()) {
      String p = m.group(1) != null ? m.group(1) : m.group(3);
      boolean tz = m.group(3) != null || m.group(0).startsWith("timestamptz") || "with".equals(m.group(2));
      return new KeyColumn(name, tz ? TIMESTAMPTZ : TIMESTAMP, p == null ? -1 : Integer.parseInt(p));
    }
    KeyType type = switch (t) {
      case "smallint", "int2" -> INT2;
      case "integer", "int", "int4" -> INT4;
      case "bigint", "int8" -> INT8;
      case "date" -> DATE;
      case "text", "varchar", "character varying" -> TEXT;
      case "uuid" -> UUID;
      default -> t.startsWith("character varying(") || t.startsWith("varchar(") ? TEXT : null;
    };
    if (type == null) {
      throw new UnsupportedPartitionKeyException(table, name, formatType,
          "the router compares and hashes smallint, integer, bigint, date, timestamp, timestamptz, text, varchar and uuid keys only");
    }
    return new KeyColumn(name, type, -1);
  }
}
