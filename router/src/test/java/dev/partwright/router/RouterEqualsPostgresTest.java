package dev.partwright.router;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.partwright.embedded.Servers;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneId;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.UUID;
import java.util.function.Supplier;
import javax.sql.DataSource;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Invariant 7, Router = PostgreSQL: for thousands of random rows per table, across range, list, hash
 * and composite tables on a real PostgreSQL 17, the partition the router resolves equals the partition
 * PostgreSQL's tuple routing put the row in ({@code tableoid} after a real insert through the parent).
 * The router is fed only from the catalog ({@link PgCatalogBoundarySource}). Random timestamps
 * cluster around DST changes and bounds; keys are NULL where PostgreSQL allows it. The seed is fixed
 * (override with {@code -Drouter.seed=N}) so a failure can be replayed.
 */
class RouterEqualsPostgresTest {

  static final long SEED = Long.getLong("router.seed", 7L);
  static final int ROWS = 2_000;
  static final ZoneId NEW_YORK = ZoneId.of("America/New_York");

  static DataSource db;
  static PartitionRouter router;
  final Random random = new Random(SEED);

  @BeforeAll
  static void createTables() throws SQLException {
    db = Servers.postgres().dataSource();
    try (Connection c = db.getConnection(); Statement s = c.createStatement()) {
      s.execute("DROP SCHEMA IF EXISTS r7 CASCADE");
      s.execute("CREATE SCHEMA r7");
      // bounds at local midnight in New York, so the daily partitions around DST changes are 23 and 25 hours long
      s.execute("SET TimeZone = 'America/New_York'");
      s.execute("CREATE TABLE r7.range_ts (id bigint, created_at timestamptz) PARTITION BY RANGE (created_at)");
      s.execute("""
          DO $$ DECLARE d date; BEGIN
            FOR d IN SELECT generate_series(date '2024-03-01', date '2024-03-20', interval '1 day')::date
                     UNION ALL SELECT generate_series(date '2024-10-25', date '2024-11-10', interval '1 day')::date LOOP
              EXECUTE format('CREATE TABLE r7.range_ts_%s PARTITION OF r7.range_ts FOR VALUES FROM (%L) TO (%L)',
                             to_char(d, 'YYYYMMDD'), d::timestamptz, (d + 1)::timestamptz);
            END LOOP; END $$""");
      s.execute("CREATE TABLE r7.range_ts_default PARTITION OF r7.range_ts DEFAULT");
      s.execute("SET TimeZone = 'UTC'");

      s.execute("CREATE TABLE r7.range_local (id bigint, at timestamp) PARTITION BY RANGE (at)");
      for (int m = 1; m <= 12; m++) {
        s.execute(String.format("CREATE TABLE r7.range_local_%02d PARTITION OF r7.range_local FOR VALUES FROM ('2024-%02d-01') TO ('%s')",
            m, m, m == 12 ? "2025-01-01" : String.format("2024-%02d-01", m + 1)));
      }

      s.execute("CREATE TABLE r7.range_date (id bigint, d date) PARTITION BY RANGE (d)");
      s.execute("CREATE TABLE r7.range_date_old PARTITION OF r7.range_date FOR VALUES FROM (MINVALUE) TO ('1999-12-31')");
      s.execute("CREATE TABLE r7.range_date_y2k PARTITION OF r7.range_date FOR VALUES FROM ('1999-12-31') TO ('2000-01-02')");
      s.execute("CREATE TABLE r7.range_date_mid PARTITION OF r7.range_date FOR VALUES FROM ('2000-01-02') TO ('2038-01-19')");
      s.execute("CREATE TABLE r7.range_date_new PARTITION OF r7.range_date FOR VALUES FROM ('2038-01-19') TO (MAXVALUE)");

      s.execute("CREATE TABLE r7.range_bigint (id bigint, k bigint) PARTITION BY RANGE (k)");
      s.execute("CREATE TABLE r7.range_bigint_lo PARTITION OF r7.range_bigint FOR VALUES FROM (MINVALUE) TO (-1000000000000)");
      s.execute("CREATE TABLE r7.range_bigint_neg PARTITION OF r7.range_bigint FOR VALUES FROM (-1000000000000) TO (0)");
      s.execute("CREATE TABLE r7.range_bigint_pos PARTITION OF r7.range_bigint FOR VALUES FROM (0) TO (1000000000000)");
      s.execute("CREATE TABLE r7.range_bigint_hi PARTITION OF r7.range_bigint FOR VALUES FROM (5000000000000) TO (MAXVALUE)");

      s.execute("CREATE TABLE r7.range_text (id bigint, k text COLLATE \"C\") PARTITION BY RANGE (k)");
      String[] textBounds = {"MINVALUE", "'a'", "'k'", "'n'", "'zz'", "'é'", "'ｚ'", "MAXVALUE"};
      for (int i = 0; i + 1 < textBounds.length; i++) {
        s.execute("CREATE TABLE r7.range_text_" + i + " PARTITION OF r7.range_text FOR VALUES FROM (" + textBounds[i] + ") TO (" + textBounds[i + 1] + ")");
      }

      s.execute("CREATE TABLE r7.range_uuid (id bigint, u uuid) PARTITION BY RANGE (u)");
      s.execute("CREATE TABLE r7.range_uuid_0 PARTITION OF r7.range_uuid FOR VALUES FROM (MINVALUE) TO ('40000000-0000-0000-0000-000000000000')");
      s.execute("CREATE TABLE r7.range_uuid_4 PARTITION OF r7.range_uuid FOR VALUES FROM ('40000000-0000-0000-0000-000000000000') TO ('80000000-0000-0000-0000-000000000000')");
      s.execute("CREATE TABLE r7.range_uuid_8 PARTITION OF r7.range_uuid FOR VALUES FROM ('80000000-0000-0000-0000-000000000000') TO ('c0000000-0000-0000-0000-000000000000')");
      s.execute("CREATE TABLE r7.range_uuid_default PARTITION OF r7.range_uuid DEFAULT");

      s.execute("CREATE TABLE r7.range_multi (id bigint, a int, b text COLLATE \"C\") PARTITION BY RANGE (a, b)");
      s.execute("CREATE TABLE r7.range_multi_1 PARTITION OF r7.range_multi FOR VALUES FROM (MINVALUE, MINVALUE) TO (0, MINVALUE)");
      s.execute("CREATE TABLE r7.range_multi_2 PARTITION OF r7.range_multi FOR VALUES FROM (0, MINVALUE) TO (0, 'm')");
      s.execute("CREATE TABLE r7.range_multi_3 PARTITION OF r7.range_multi FOR VALUES FROM (0, 'm') TO (5, 'a')");
      s.execute("CREATE TABLE r7.range_multi_4 PARTITION OF r7.range_multi FOR VALUES FROM (10, 'a') TO (MAXVALUE, MAXVALUE)");
      s.execute("CREATE TABLE r7.range_multi_default PARTITION OF r7.range_multi DEFAULT");

      hash(s, "hash_int8", "k bigint", "k", 8);
      hash(s, "hash_int4", "k integer", "k", 5);
      hash(s, "hash_int2", "k smallint", "k", 3);
      hash(s, "hash_text", "k text", "k", 7);
      hash(s, "hash_varchar", "k varchar(40)", "k", 4);
      hash(s, "hash_uuid", "k uuid", "k", 4);
      hash(s, "hash_date", "k date", "k", 6);
      hash(s, "hash_ts", "k timestamptz", "k", 8);
      hash(s, "hash_multi", "a integer, b text, c uuid", "a, b, c", 6);
      s.execute("CREATE TABLE r7.hash_moduli (id bigint, k bigint) PARTITION BY HASH (k)");
      s.execute("CREATE TABLE r7.hash_moduli_2_0 PARTITION OF r7.hash_moduli FOR VALUES WITH (MODULUS 2, REMAINDER 0)");
      s.execute("CREATE TABLE r7.hash_moduli_4_1 PARTITION OF r7.hash_moduli FOR VALUES WITH (MODULUS 4, REMAINDER 1)");
      s.execute("CREATE TABLE r7.hash_moduli_8_3 PARTITION OF r7.hash_moduli FOR VALUES WITH (MODULUS 8, REMAINDER 3)");
      s.execute("CREATE TABLE r7.hash_moduli_8_7 PARTITION OF r7.hash_moduli FOR VALUES WITH (MODULUS 8, REMAINDER 7)");

      s.execute("CREATE TABLE r7.list_text (id bigint, tenant text) PARTITION BY LIST (tenant)");
      s.execute("CREATE TABLE r7.list_text_ag PARTITION OF r7.list_text FOR VALUES IN ('acme', 'globex')");
      s.execute("CREATE TABLE r7.list_text_i PARTITION OF r7.list_text FOR VALUES IN ('initech', 'Ünïcødé')");
      s.execute("CREATE TABLE r7.list_text_nu PARTITION OF r7.list_text FOR VALUES IN (NULL, 'umbrella', 'it''s')");
      s.execute("CREATE TABLE r7.list_text_default PARTITION OF r7.list_text DEFAULT");
      s.execute("CREATE TABLE r7.list_int (id bigint, code int) PARTITION BY LIST (code)");
      s.execute("CREATE TABLE r7.list_int_a PARTITION OF r7.list_int FOR VALUES IN (1, 2, 3)");
      s.execute("CREATE TABLE r7.list_int_b PARTITION OF r7.list_int FOR VALUES IN (4)");
      s.execute("CREATE TABLE r7.list_int_c PARTITION OF r7.list_int FOR VALUES IN (-5, 100000)");
      s.execute("CREATE TABLE r7.list_uuid (id bigint, u uuid) PARTITION BY LIST (u)");
      s.execute("CREATE TABLE r7.list_uuid_a PARTITION OF r7.list_uuid FOR VALUES IN ('" + uuid(1) + "', '" + uuid(2) + "')");
      s.execute("CREATE TABLE r7.list_uuid_b PARTITION OF r7.list_uuid FOR VALUES IN ('" + uuid(3) + "')");
      s.execute("CREATE TABLE r7.list_uuid_default PARTITION OF r7.list_uuid DEFAULT");

      // list(tenant) -> range(created_at); tenant a has a DEFAULT sub-partition, b is covered MINVALUE..MAXVALUE, c is a leaf
      s.execute("CREATE TABLE r7.comp_lr (id bigint, tenant text, created_at timestamptz) PARTITION BY LIST (tenant)");
      s.execute("CREATE TABLE r7.comp_lr_a PARTITION OF r7.comp_lr FOR VALUES IN ('a') PARTITION BY RANGE (created_at)");
      s.execute("CREATE TABLE r7.comp_lr_b PARTITION OF r7.comp_lr FOR VALUES IN ('b') PARTITION BY RANGE (created_at)");
      s.execute("CREATE TABLE r7.comp_lr_c PARTITION OF r7.comp_lr FOR VALUES IN ('c')");
      s.execute("CREATE TABLE r7.comp_lr_default PARTITION OF r7.comp_lr DEFAULT");
      for (int m = 1; m <= 6; m++) {
        String from = String.format("'2024-%02d-01 00:00:00+00'", m);
        String to = String.format("'2024-%02d-01 00:00:00+00'", m + 1);
        s.execute(String.format("CREATE TABLE r7.comp_lr_a_%02d PARTITION OF r7.comp_lr_a FOR VALUES FROM (%s) TO (%s)", m, from, to));
        s.execute(String.format("CREATE TABLE r7.comp_lr_b_%02d PARTITION OF r7.comp_lr_b FOR VALUES FROM (%s) TO (%s)", m,
            m == 1 ? "MINVALUE" : from, m == 6 ? "MAXVALUE" : to));
      }
      s.execute("CREATE TABLE r7.comp_lr_a_default PARTITION OF r7.comp_lr_a DEFAULT");

      // range(created_at) -> hash(device)
      s.execute("CREATE TABLE r7.comp_rh (id bigint, created_at timestamptz, device uuid) PARTITION BY RANGE (created_at)");
      for (int m = 1; m <= 4; m++) {
        s.execute(String.format("CREATE TABLE r7.comp_rh_%02d PARTITION OF r7.comp_rh FOR VALUES FROM ('2024-%02d-01 00:00:00+00') TO ('2024-%02d-01 00:00:00+00') PARTITION BY HASH (device)", m, m, m + 1));
        for (int r = 0; r < 4; r++) {
          s.execute(String.format("CREATE TABLE r7.comp_rh_%02d_%d PARTITION OF r7.comp_rh_%02d FOR VALUES WITH (MODULUS 4, REMAINDER %d)", m, r, m, r));
        }
      }
      s.execute("CREATE TABLE r7.comp_rh_default PARTITION OF r7.comp_rh DEFAULT");

      // three levels: list(region) -> range(day) -> hash(user_id)
      s.execute("CREATE TABLE r7.comp_3 (id bigint, region text, day date, user_id bigint) PARTITION BY LIST (region)");
      for (String region : List.of("eu", "us")) {
        s.execute("CREATE TABLE r7.comp_3_" + region + " PARTITION OF r7.comp_3 FOR VALUES IN ('" + region + "') PARTITION BY RANGE (day)");
        for (int q = 0; q < 4; q++) {
          String name = "r7.comp_3_" + region + "_q" + q;
          s.execute(String.format("CREATE TABLE %s PARTITION OF r7.comp_3_%s FOR VALUES FROM ('2024-%02d-01') TO ('%s') PARTITION BY HASH (user_id)",
              name, region, q * 3 + 1, q == 3 ? "2025-01-01" : String.format("2024-%02d-01", q * 3 + 4)));
          for (int r = 0; r < 3; r++) {
            s.execute(String.format("CREATE TABLE %s_%d PARTITION OF %s FOR VALUES WITH (MODULUS 3, REMAINDER %d)", name, r, name, r));
          }
        }
      }
      s.execute("CREATE TABLE r7.comp_3_default PARTITION OF r7.comp_3 DEFAULT");
    }
    PgCatalogBoundarySource source = new PgCatalogBoundarySource(db);
    List<String> tables = source.partitionedTables().stream().filter(t -> t.startsWith("r7.")).toList();
    router = source.bootstrap(new PartitionRouter(), tables);
  }

  private static void hash(Statement s, String table, String columns, String key, int modulus) throws SQLException {
    s.execute("CREATE TABLE r7." + table + " (id bigint, " + columns + ") PARTITION BY HASH (" + key + ")");
    for (int r = 0; r < modulus; r++) {
      s.execute("CREATE TABLE r7." + table + "_" + r + " PARTITION OF r7." + table + " FOR VALUES WITH (MODULUS " + modulus + ", REMAINDER " + r + ")");
    }
  }

  static UUID uuid(int i) {
    return new UUID(0x1234L * i, 0x5678L * i);
  }

  // ---------------------------------------------------------------- range

  @Test
  void range_timestamptz_across_dst_changes() throws SQLException {
    List<Instant> bounds = new ArrayList<>();
    for (LocalDate d = LocalDate.of(2024, 3, 1); !d.isAfter(LocalDate.of(2024, 3, 21)); d = d.plusDays(1)) {
      bounds.add(d.atStartOfDay(NEW_YORK).toInstant());
    }
    for (LocalDate d = LocalDate.of(2024, 10, 25); !d.isAfter(LocalDate.of(2024, 11, 11)); d = d.plusDays(1)) {
      bounds.add(d.atStartOfDay(NEW_YORK).toInstant());
    }
    Instant springForward = Instant.parse("2024-03-10T07:00:00Z");
    Instant fallBack = Instant.parse("2024-11-03T06:00:00Z");
    check("r7.range_ts", "created_at timestamptz", 36, () -> {
      int pick = random.nextInt(10);
      if (pick < 3) {
        return bounds.get(random.nextInt(bounds.size())).plus(random.nextInt(3) - 1, ChronoUnit.MICROS);
      }
      if (pick < 6) {
        return (random.nextBoolean() ? springForward : fallBack).plus(randomMicros(2L * 86_400_000_000L), ChronoUnit.MICROS);
      }
      if (pick < 7) {
        return null; // NULL goes to DEFAULT
      }
      return Instant.parse("2024-02-25T00:00:00Z").plus(randomMicros(300L * 86_400_000_000L), ChronoUnit.MICROS).plus(150, ChronoUnit.DAYS);
    });
  }

  @Test
  void range_timestamp_without_time_zone() throws SQLException {
    check("r7.range_local", "at timestamp", 12, () -> {
      LocalDateTime t = LocalDateTime.of(2024, 1 + random.nextInt(12), 1, 0, 0);
      return random.nextBoolean() ? t.plus(random.nextInt(3) - 1, ChronoUnit.MICROS).withYear(2024)
          : t.plus(Math.abs(randomMicros(20L * 86_400_000_000L)), ChronoUnit.MICROS);
    });
  }

  @Test
  void range_date_with_minvalue_maxvalue_and_infinity() throws SQLException {
    check("r7.range_date", "d date", 4, () -> switch (random.nextInt(8)) {
      case 0 -> LocalDate.of(1999, 12, 30).plusDays(random.nextInt(4));
      case 1 -> LocalDate.of(2038, 1, 18).plusDays(random.nextInt(3));
      case 2 -> random.nextBoolean() ? "infinity" : "-infinity";
      default -> LocalDate.ofEpochDay(random.nextInt(2_000_000) - 1_000_000);
    });
  }

  @Test
  void range_bigint_to_maxvalue_includes_the_largest_bigint() throws SQLException {
    check("r7.range_bigint", "k bigint", 4, () -> switch (random.nextInt(6)) {
      case 0 -> random.nextBoolean() ? Long.MAX_VALUE : Long.MIN_VALUE;
      case 1 -> (random.nextInt(3) - 1) + (random.nextBoolean() ? 0L : -1_000_000_000_000L);
      case 2 -> 5_000_000_000_000L + random.nextInt(3);
      default -> {
        long v = random.nextLong();
        yield v >= 1_000_000_000_000L && v < 5_000_000_000_000L ? 7L : v; // the gap is tested by not_found_agrees
      }
    });
  }

  @Test
  void range_text_in_c_collation_byte_order() throws SQLException {
    String alphabet = "abkmnzéｚ日😀A ";
    check("r7.range_text", "k text", 7, () -> randomString(alphabet, 4));
  }

  @Test
  void range_uuid_compares_unsigned() throws SQLException {
    check("r7.range_uuid", "u uuid", 4, () -> random.nextInt(20) == 0
        ? new UUID(0xC000000000000000L, random.nextInt(2) - 1) : new UUID(random.nextLong(), random.nextLong()));
  }

  @Test
  void range_multi_column_with_minvalue_maxvalue() throws SQLException {
    check("r7.range_multi", "a integer, b text", 5, () -> random.nextInt(30) == 0 ? null : random.nextInt(17) - 3,
        () -> random.nextInt(30) == 0 ? null : randomString("abmz", 2));
  }

  // ---------------------------------------------------------------- hash

  @Test
  void hash_bigint() throws SQLException {
    check("r7.hash_int8", "k bigint", 8, () -> random.nextInt(20) == 0 ? null : random.nextBoolean() ? random.nextLong() : (long) random.nextInt(1000) - 500);
  }

  @Test
  void hash_integer() throws SQLException {
    check("r7.hash_int4", "k integer", 5, () -> random.nextInt(20) == 0 ? null : random.nextInt());
  }

  @Test
  void hash_smallint() throws SQLException {
    check("r7.hash_int2", "k smallint", 3, () -> random.nextInt(20) == 0 ? null : (short) random.nextInt());
  }

  @Test
  void hash_text() throws SQLException {
    check("r7.hash_text", "k text", 7, () -> random.nextInt(20) == 0 ? null : randomString("abcdefghijkXYZ0123é日😀'\" ", 30));
  }

  @Test
  void hash_varchar() throws SQLException {
    check("r7.hash_varchar", "k character varying(40)", 4, () -> randomString("abcdefghijkXYZ0123é日😀", 30));
  }

  @Test
  void hash_uuid() throws SQLException {
    check("r7.hash_uuid", "k uuid", 4, () -> random.nextInt(20) == 0 ? null : new UUID(random.nextLong(), random.nextLong()));
  }

  @Test
  void hash_date() throws SQLException {
    check("r7.hash_date", "k date", 6, () -> random.nextInt(20) == 0 ? null : LocalDate.ofEpochDay(random.nextInt(2_000_000) - 1_000_000));
  }

  @Test
  void hash_timestamptz() throws SQLException {
    check("r7.hash_ts", "k timestamp with time zone", 8, () -> random.nextInt(20) == 0 ? null
        : Instant.parse("2024-03-10T07:00:00Z").plus(randomMicros(400L * 86_400_000_000L), ChronoUnit.MICROS));
  }

  @Test
  void hash_multi_column_with_nulls() throws SQLException {
    check("r7.hash_multi", "a integer, b text, c uuid", 6,
        () -> random.nextInt(5) == 0 ? null : random.nextInt(),
        () -> random.nextInt(5) == 0 ? null : randomString("abcxyz€", 12),
        () -> random.nextInt(5) == 0 ? null : new UUID(random.nextLong(), random.nextLong()));
  }

  @Test
  void hash_with_mixed_moduli() throws SQLException {
    check("r7.hash_moduli", "k bigint", 4, () -> random.nextLong());
  }

  // ---------------------------------------------------------------- list

  @Test
  void list_text_with_null_and_default() throws SQLException {
    List<String> tenants = Arrays.asList("acme", "globex", "initech", "Ünïcødé", "umbrella", "it's", null, "Acme", "hooli", "", "acme ");
    check("r7.list_text", "tenant text", 4, () -> tenants.get(random.nextInt(tenants.size())));
  }

  @Test
  void list_integer() throws SQLException {
    List<Integer> codes = List.of(1, 2, 3, 4, -5, 100000);
    check("r7.list_int", "code integer", 3, () -> codes.get(random.nextInt(codes.size())));
  }

  @Test
  void list_uuid() throws SQLException {
    check("r7.list_uuid", "u uuid", 3, () -> random.nextInt(4) == 0 ? new UUID(random.nextLong(), 1) : uuid(1 + random.nextInt(3)));
  }

  // ---------------------------------------------------------------- composite

  @Test
  void composite_list_then_range() throws SQLException {
    List<String> tenants = Arrays.asList("a", "b", "c", "d", null);
    check("r7.comp_lr", "tenant text, created_at timestamp with time zone", 15,
        () -> tenants.get(random.nextInt(tenants.size())),
        () -> Instant.parse("2023-12-01T00:00:00Z").plus(Math.abs(randomMicros(240L * 86_400_000_000L)), ChronoUnit.MICROS));
  }

  @Test
  void composite_range_then_hash() throws SQLException {
    check("r7.comp_rh", "created_at timestamp with time zone, device uuid", 17,
        () -> Instant.parse("2023-12-20T00:00:00Z").plus(Math.abs(randomMicros(150L * 86_400_000_000L)), ChronoUnit.MICROS),
        () -> random.nextInt(10) == 0 ? null : new UUID(random.nextLong(), random.nextLong()));
  }

  @Test
  void composite_three_levels() throws SQLException {
    List<String> regions = Arrays.asList("eu", "us", "apac");
    check("r7.comp_3", "region text, day date, user_id bigint", 25,
        () -> regions.get(random.nextInt(regions.size())),
        () -> LocalDate.of(2024, 1, 1).plusDays(random.nextInt(366)),
        () -> random.nextLong());
  }

  @Test
  void positional_values_follow_the_levels() {
    Instant t = Instant.parse("2024-02-10T00:00:00Z");
    assertThat(router.resolve("r7.comp_lr", "a", t)).isEqualTo("r7.comp_lr_a_02");
    assertThat(router.resolve("r7.comp_lr", "c", t)).isEqualTo("r7.comp_lr_c");
    assertThat(router.resolve("r7.comp_lr", Map.of("tenant", "b", "created_at", t, "other", 1))).isEqualTo("r7.comp_lr_b_02");
    assertThatThrownBy(() -> router.resolve("r7.comp_lr", "a")).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("created_at");
  }

  // ---------------------------------------------------------------- no partition

  @Test
  void not_found_agrees() throws SQLException {
    assertNoPartition("r7.range_bigint", "k bigint", 2_000_000_000_000L);
    assertNoPartition("r7.range_bigint", "k bigint", (Object) null);
    assertNoPartition("r7.range_local", "at timestamp", LocalDateTime.of(2025, 1, 1, 0, 0));
    assertNoPartition("r7.list_int", "code integer", 7);
    assertNoPartition("r7.list_int", "code integer", (Object) null);
    assertNoPartition("r7.comp_lr", "tenant text, created_at timestamp with time zone", "b", null);

    PartitionNotFoundException e = catchNotFound(() -> router.resolve("r7.range_bigint", 2_000_000_000_000L));
    assertThat(e.table()).isEqualTo("r7.range_bigint");
    assertThat(e.value()).isEqualTo(2_000_000_000_000L);
    assertThat(e.nearestCoveredRange()).isEqualTo("r7.range_bigint_pos FROM (0) TO (1000000000000)");
  }

  private static PartitionNotFoundException catchNotFound(Runnable r) {
    try {
      r.run();
    } catch (PartitionNotFoundException e) {
      return e;
    }
    throw new AssertionError("expected PartitionNotFoundException");
  }

  /** PostgreSQL refuses the row (no partition) and so does the router. */
  private void assertNoPartition(String table, String columns, Object... values) throws SQLException {
    List<String[]> cols = columns(columns);
    try (Connection c = db.getConnection()) {
      c.setAutoCommit(false);
      StringBuilder sql = new StringBuilder("INSERT INTO " + table + " (id");
      cols.forEach(col -> sql.append(", ").append(col[0]));
      sql.append(") VALUES (-1");
      cols.forEach(col -> sql.append(", CAST(? AS ").append(col[1]).append(")"));
      sql.append(")");
      try (PreparedStatement ps = c.prepareStatement(sql.toString())) {
        for (int i = 0; i < values.length; i++) {
          ps.setString(i + 1, text(values[i]));
        }
        assertThatThrownBy(ps::executeUpdate).isInstanceOf(SQLException.class)
            .satisfies(e -> assertThat(((SQLException) e).getSQLState()).isEqualTo("23514"));
      } finally {
        c.rollback();
      }
    }
    Map<String, Object> row = new HashMap<>();
    for (int i = 0; i < cols.size(); i++) {
      row.put(cols.get(i)[0], values[i]);
    }
    assertThatThrownBy(() -> router.resolve(table, row)).isInstanceOf(PartitionNotFoundException.class);
  }

  // ---------------------------------------------------------------- harness

  /**
   * Inserts {@link #ROWS} random rows through the parent in one statement, reads each row's partition
   * from {@code tableoid}, and asserts the router resolves every row to the same partition; also that
   * the rows reached at least {@code minPartitions} partitions, so the test cannot pass vacuously.
   */
  @SafeVarargs
  private void check(String table, String columns, int minPartitions, Supplier<Object>... generators) throws SQLException {
    List<String[]> cols = columns(columns);
    List<Object[]> rows = new ArrayList<>();
    for (int i = 0; i < ROWS; i++) {
      Object[] row = new Object[cols.size()];
      for (int j = 0; j < row.length; j++) {
        row[j] = generators[j].get();
      }
      rows.add(row);
    }
    Map<Long, String> actual = insert(table, cols, rows);
    List<String> disagreements = new ArrayList<>();
    Set<String> partitions = new HashSet<>();
    for (int i = 0; i < rows.size(); i++) {
      Object[] row = rows.get(i);
      String expected = actual.get((long) i + 1);
      partitions.add(expected);
      Map<String, Object> byName = new LinkedHashMap<>();
      for (int j = 0; j < cols.size(); j++) {
        byName.put(cols.get(j)[0], row[j]);
      }
      String routed = routed(() -> router.resolve(table, byName));
      String positional = routed(() -> row.length == 1 ? router.resolve(table, row[0]) : router.resolve(table, row));
      if (!expected.equals(routed) || !expected.equals(positional)) {
        disagreements.add(Arrays.toString(row) + ": PostgreSQL " + expected + ", router " + routed + " / " + positional);
      }
    }
    assertThat(disagreements).as("rows where the router disagrees with PostgreSQL in %s (seed %d)", table, SEED).isEmpty();
    assertThat(partitions).as("partitions %s reached", table).hasSizeGreaterThanOrEqualTo(minPartitions);
  }

  private static String routed(Supplier<String> resolve) {
    try {
      return resolve.get();
    } catch (PartitionNotFoundException e) {
      return "(none: " + e.getMessage() + ")";
    }
  }

  private static Map<Long, String> insert(String table, List<String[]> cols, List<Object[]> rows) throws SQLException {
    StringBuilder sql = new StringBuilder("WITH ins AS (INSERT INTO " + table + " (id");
    cols.forEach(col -> sql.append(", ").append(col[0]));
    sql.append(") SELECT u.i");
    for (int j = 0; j < cols.size(); j++) {
      sql.append(", CAST(u.c").append(j).append(" AS ").append(cols.get(j)[1]).append(")");
    }
    sql.append(" FROM unnest(");
    for (int j = 0; j < cols.size(); j++) {
      sql.append(j == 0 ? "" : ", ").append("?::text[]");
    }
    sql.append(") WITH ORDINALITY AS u(");
    for (int j = 0; j < cols.size(); j++) {
      sql.append("c").append(j).append(", ");
    }
    sql.append("i) RETURNING id, tableoid) SELECT ins.id, n.nspname || '.' || c.relname FROM ins"
        + " JOIN pg_class c ON c.oid = ins.tableoid JOIN pg_namespace n ON n.oid = c.relnamespace");
    Map<Long, String> actual = new HashMap<>();
    try (Connection c = db.getConnection(); PreparedStatement ps = c.prepareStatement(sql.toString())) {
      for (int j = 0; j < cols.size(); j++) {
        Object[] texts = new Object[rows.size()];
        for (int i = 0; i < rows.size(); i++) {
          texts[i] = text(rows.get(i)[j]);
        }
        ps.setArray(j + 1, c.createArrayOf("text", texts));
      }
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          actual.put(rs.getLong(1), rs.getString(2));
        }
      }
    }
    assertThat(actual).hasSize(rows.size());
    return actual;
  }

  /** {@code "a integer, b text"} as {name, type} pairs. */
  private static List<String[]> columns(String columns) {
    List<String[]> out = new ArrayList<>();
    for (String col : columns.split(",")) {
      String c = col.trim();
      int space = c.indexOf(' ');
      out.add(new String[] {c.substring(0, space), c.substring(space + 1)});
    }
    return out;
  }

  /** A Java value as PostgreSQL text input (instants in ISO 8601 with Z, so the session time zone does not matter). */
  private static String text(Object v) {
    if (v instanceof LocalDate d && d.getYear() <= 0) {
      return String.format("%04d-%02d-%02d BC", 1 - d.getYear(), d.getMonthValue(), d.getDayOfMonth());
    }
    return v == null ? null : v.toString();
  }

  private long randomMicros(long range) {
    return (long) ((random.nextDouble() * 2 - 1) * range);
  }

  private String randomString(String alphabet, int maxLength) {
    int n = alphabet.codePointCount(0, alphabet.length());
    StringBuilder s = new StringBuilder();
    int len = random.nextInt(maxLength + 1);
    for (int i = 0; i < len; i++) {
      s.appendCodePoint(alphabet.codePointAt(alphabet.offsetByCodePoints(0, random.nextInt(n))));
    }
    return s.toString();
  }
}
