package dev.partwright.router;

import static org.assertj.core.api.Assertions.assertThat;

import dev.partwright.embedded.Servers;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import javax.sql.DataSource;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link PgHash} against PostgreSQL itself: for each key type, the extended hash support function of
 * the type's default hash operator class (looked up in {@code pg_amproc}, so the test also proves
 * which function PostgreSQL uses) must give the same 64 bits for thousands of random values, with the
 * partition seed and with seed 0.
 */
class PgHashTest {

  static DataSource db;

  @BeforeAll
  static void start() {
    db = Servers.postgres().dataSource();
  }

  @Test
  void constants_and_combine_are_postgres_ones() {
    assertThat(PgHash.PARTITION_SEED).isEqualTo(8816678312871386365L);
    // hash_combine64(0, b) = b + 0x49a0f4dd15e5a8e3
    assertThat(PgHash.combine(0, 0)).isEqualTo(0x49a0f4dd15e5a8e3L);
    long a = 0x123456789abcdef0L;
    long b = 0x0fedcba987654321L;
    assertThat(PgHash.combine(a, b)).isEqualTo(a ^ (b + 0x49a0f4dd15e5a8e3L + (a << 54) + (a >>> 7)));
  }

  @Test
  void int2() throws SQLException {
    Random r = new Random(2);
    List<String> values = new ArrayList<>(List.of("0", "-1", "1", "32767", "-32768"));
    for (int i = 0; i < 2000; i++) {
      values.add(Integer.toString((short) r.nextInt()));
    }
    check("smallint", values);
  }

  @Test
  void int4() throws SQLException {
    Random r = new Random(4);
    List<String> values = new ArrayList<>(List.of("0", "-1", "1", "2147483647", "-2147483648"));
    for (int i = 0; i < 2000; i++) {
      values.add(Integer.toString(r.nextInt()));
    }
    check("integer", values);
  }

  @Test
  void int8() throws SQLException {
    Random r = new Random(8);
    List<String> values = new ArrayList<>(List.of("0", "-1", "1", "9223372036854775807", "-9223372036854775808",
        "4294967296", "-4294967296", "2147483648"));
    for (int i = 0; i < 2000; i++) {
      values.add(Long.toString(i % 2 == 0 ? r.nextLong() : r.nextInt(1000) - 500));
    }
    check("bigint", values);
  }

  @Test
  void text_of_every_tail_length_and_multibyte() throws SQLException {
    Random r = new Random(16);
    List<String> values = new ArrayList<>(List.of("", "a", "ab", "abc", "abcd", "é", "日本語", "😀x"));
    String alphabet = "abcdefghijklmnopqrstuvwxyzÄÖÜßé€日本😀 -_'\"\\";
    for (int i = 0; i < 2000; i++) {
      StringBuilder s = new StringBuilder();
      int len = r.nextInt(40);
      for (int j = 0; j < len; j++) {
        s.appendCodePoint(alphabet.codePointAt(alphabet.offsetByCodePoints(0, r.nextInt(alphabet.codePointCount(0, alphabet.length())))));
      }
      values.add(s.toString());
    }
    check("text", values);
  }

  @Test
  void uuid() throws SQLException {
    Random r = new Random(32);
    List<String> values = new ArrayList<>(List.of("00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff"));
    for (int i = 0; i < 2000; i++) {
      values.add(new UUID(r.nextLong(), r.nextLong()).toString());
    }
    check("uuid", values);
  }

  @Test
  void date() throws SQLException {
    Random r = new Random(64);
    List<String> values = new ArrayList<>(List.of("2000-01-01", "1999-12-31", "1970-01-01", "0044-03-15 BC"));
    for (int i = 0; i < 2000; i++) {
      values.add(java.time.LocalDate.ofEpochDay(r.nextInt(200_000) - 100_000).toString());
    }
    check("date", values);
  }

  @Test
  void timestamptz_and_timestamp() throws SQLException {
    Random r = new Random(128);
    List<String> values = new ArrayList<>(List.of("2000-01-01 00:00:00+00", "1999-12-31 23:59:59.999999+00",
        "2024-03-31 01:30:00+00", "infinity", "-infinity"));
    for (int i = 0; i < 2000; i++) {
      long micros = (long) (r.nextDouble() * 3.1e17 - 6.0e16); // years 68 .. 9800
      values.add(java.time.Instant.EPOCH.plus(micros, java.time.temporal.ChronoUnit.MICROS).toString());
    }
    check("timestamp with time zone", values);
    check("timestamp without time zone", values.stream().map(v -> v.replace("Z", "")).toList());
  }

  /** Compares Java and PostgreSQL hashes of {@code values} (PostgreSQL text) of {@code type}, with two seeds. */
  private static void check(String type, List<String> values) throws SQLException {
    KeyColumn column = KeyType.column("t", "c", type);
    try (Connection c = db.getConnection()) {
      try (Statement s = c.createStatement()) {
        s.execute("SET TimeZone = 'UTC'");
        s.execute("SET DateStyle = 'ISO, YMD'");
      }
      String function = hashFunction(c, type);
      for (long seed : new long[] {PgHash.PARTITION_SEED, 0L, -1L}) {
        // date_ops and timestamptz_ops borrow int4's and timestamp's functions (binary-coercible types)
        String argument = switch (type) {
          case "date" -> "CAST(v AS date) - DATE '2000-01-01'";
          case "timestamp with time zone" -> "CAST(CAST(v AS timestamptz) AS timestamp)";
          default -> "CAST(v AS " + type + ")";
        };
        String sql = "SELECT " + function + "(" + argument + ", ?) FROM unnest(?::text[]) WITH ORDINALITY AS u(v, i) ORDER BY i";
        try (PreparedStatement ps = c.prepareStatement(sql)) {
          ps.setLong(1, seed);
          ps.setArray(2, c.createArrayOf("text", values.toArray()));
          try (ResultSet rs = ps.executeQuery()) {
            for (String v : values) {
              assertThat(rs.next()).isTrue();
              long expected = rs.getLong(1);
              Object normalized = column.parse(v);
              assertThat(column.hash(normalized, seed)).as("%s(%s, %d)", function, v, seed).isEqualTo(expected);
            }
          }
        }
      }
    }
  }

  /** The extended hash function (support function 2) of the type's default hash operator class. */
  private static String hashFunction(Connection c, String type) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement("""
        SELECT p.amproc::regproc::text FROM pg_opclass oc
          JOIN pg_am am ON am.oid = oc.opcmethod AND am.amname = 'hash'
          JOIN pg_amproc p ON p.amprocfamily = oc.opcfamily AND p.amproclefttype = oc.opcintype AND p.amprocnum = 2
         WHERE oc.opcdefault AND oc.opcintype = ?::regtype""")) {
      ps.setString(1, type.startsWith("character varying") ? "text" : type);
      try (ResultSet rs = ps.executeQuery()) {
        assertThat(rs.next()).as("hash opclass of %s", type).isTrue();
        return rs.getString(1);
      }
    }
  }
}
