package dev.partwright.router;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.partwright.embedded.Servers;
import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.DefaultBound;
import dev.partwright.schemas.HashBound;
import dev.partwright.schemas.Int32Value;
import dev.partwright.schemas.Int64Value;
import dev.partwright.schemas.ListBound;
import dev.partwright.schemas.PartitionAdded;
import dev.partwright.schemas.PartitionKey;
import dev.partwright.schemas.RangeBound;
import dev.partwright.schemas.Strategy;
import dev.partwright.schemas.TextValue;
import dev.partwright.schemas.TimestampTzValue;
import dev.partwright.schemas.Unbounded;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import javax.sql.DataSource;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** {@link PgCatalogBoundarySource}: the catalog read back as the boundary changes a worker would publish. */
class PgCatalogBoundarySourceTest {

  static DataSource db;
  static PgCatalogBoundarySource source;

  @BeforeAll
  static void tables() throws SQLException {
    db = Servers.postgres().dataSource();
    source = new PgCatalogBoundarySource(db);
    try (Connection c = db.getConnection(); Statement s = c.createStatement()) {
      s.execute("DROP SCHEMA IF EXISTS cat CASCADE");
      s.execute("CREATE SCHEMA cat");
      s.execute("SET TimeZone = 'Asia/Kolkata'"); // bounds are read back in UTC whatever the creator's zone
      s.execute("CREATE TABLE cat.m (tenant text, created_at timestamptz(3), device bigint) PARTITION BY LIST (tenant)");
      s.execute("CREATE TABLE cat.m_acme PARTITION OF cat.m FOR VALUES IN ('acme', 'it''s') PARTITION BY RANGE (created_at)");
      s.execute("CREATE TABLE cat.m_acme_jan PARTITION OF cat.m_acme FOR VALUES FROM ('2024-01-01 05:30:00+05:30') TO ('2024-02-01 00:00:00+00')"
          + " PARTITION BY HASH (device)");
      s.execute("CREATE TABLE cat.m_acme_jan_0 PARTITION OF cat.m_acme_jan FOR VALUES WITH (MODULUS 2, REMAINDER 0)");
      s.execute("CREATE TABLE cat.m_acme_jan_1 PARTITION OF cat.m_acme_jan FOR VALUES WITH (MODULUS 2, REMAINDER 1)");
      s.execute("CREATE TABLE cat.m_acme_rest PARTITION OF cat.m_acme FOR VALUES FROM ('2024-02-01 00:00:00+00') TO (MAXVALUE)");
      s.execute("CREATE TABLE cat.m_nulls PARTITION OF cat.m FOR VALUES IN (NULL)");
      s.execute("CREATE TABLE cat.m_default PARTITION OF cat.m DEFAULT");
      s.execute("CREATE TABLE cat.ints (a int, b bigint, c smallint) PARTITION BY RANGE (a, b, c)");
      s.execute("CREATE TABLE cat.ints_1 PARTITION OF cat.ints FOR VALUES FROM (-5, '-9000000000', MINVALUE) TO (7, 0, '-3')");
      s.execute("CREATE TABLE \"cat\".\"Mixed Case\" (k int) PARTITION BY RANGE (k)");
      s.execute("CREATE TABLE \"cat\".\"Mixed Case 1\" PARTITION OF \"cat\".\"Mixed Case\" FOR VALUES FROM (1) TO (2)");
      s.execute("CREATE TABLE cat.expr (k int) PARTITION BY RANGE ((k + 1))");
      s.execute("CREATE TABLE cat.opclass (k text) PARTITION BY HASH (k text_pattern_ops)");
      s.execute("CREATE TABLE cat.numeric_key (k numeric) PARTITION BY RANGE (k)");
      s.execute("CREATE TABLE cat.plain (k int)");
    }
  }

  private static Map<String, PartitionAdded> added(String table) {
    return source.load(table).stream().map(c -> (PartitionAdded) c.getChange())
        .collect(Collectors.toMap(PartitionAdded::getPartition, a -> a));
  }

  @Test
  void composite_table_is_read_top_down_with_exact_bounds() {
    List<BoundaryChange> changes = source.load("cat.m");
    assertThat(changes).allSatisfy(c -> {
      assertThat(c.getRootTable()).isEqualTo("cat.m");
      assertThat(c.getAggregateVersion()).isZero();
    });
    List<String> order = changes.stream().map(c -> ((PartitionAdded) c.getChange()).getPartition()).toList();
    assertThat(order.indexOf("cat.m_acme")).isLessThan(order.indexOf("cat.m_acme_jan"));
    assertThat(order.indexOf("cat.m_acme_jan")).isLessThan(order.indexOf("cat.m_acme_jan_0"));

    Map<String, PartitionAdded> a = added("cat.m");
    assertThat(a).hasSize(7);
    PartitionKey byTenant = new PartitionKey(Strategy.LIST, List.of("tenant"), List.of("text"));
    PartitionKey byTime = new PartitionKey(Strategy.RANGE, List.of("created_at"), List.of("timestamp(3) with time zone"));
    PartitionKey byDevice = new PartitionKey(Strategy.HASH, List.of("device"), List.of("bigint"));
    assertThat(a.get("cat.m_acme").getParentKey()).isEqualTo(byTenant);
    assertThat(a.get("cat.m_acme").getSubpartitionBy()).isEqualTo(byTime);
    assertThat(a.get("cat.m_acme").getBound()).isEqualTo(new ListBound(List.of(new TextValue("acme"), new TextValue("it's")), false));
    assertThat(a.get("cat.m_nulls").getBound()).isEqualTo(new ListBound(List.of(), true));
    assertThat(a.get("cat.m_default").getBound()).isInstanceOf(DefaultBound.class);
    assertThat(a.get("cat.m_acme_jan").getParent()).isEqualTo("cat.m_acme");
    assertThat(a.get("cat.m_acme_jan").getParentKey()).isEqualTo(byTime);
    assertThat(a.get("cat.m_acme_jan").getSubpartitionBy()).isEqualTo(byDevice);
    assertThat(a.get("cat.m_acme_jan").getBound()).isEqualTo(new RangeBound(
        List.of(new TimestampTzValue(Instant.parse("2024-01-01T00:00:00Z"))), List.of(new TimestampTzValue(Instant.parse("2024-02-01T00:00:00Z")))));
    assertThat(a.get("cat.m_acme_rest").getBound()).isEqualTo(new RangeBound(
        List.of(new TimestampTzValue(Instant.parse("2024-02-01T00:00:00Z"))), List.of(Unbounded.MAXVALUE)));
    assertThat(a.get("cat.m_acme_jan_1").getBound()).isEqualTo(new HashBound(2, 1));
    assertThat(a.get("cat.m_acme_jan_1").getSubpartitionBy()).isNull();
  }

  @Test
  void negative_and_multi_column_integer_bounds() {
    PartitionAdded ints = added("cat.ints").get("cat.ints_1");
    assertThat(ints.getParentKey().getTypes()).containsExactly("integer", "bigint", "smallint");
    assertThat(ints.getBound()).isEqualTo(new RangeBound(
        List.of(new Int32Value(-5), new Int64Value(-9_000_000_000L), Unbounded.MINVALUE),
        List.of(new Int32Value(7), new Int64Value(0L), new Int32Value(-3))));
  }

  @Test
  void names_are_schema_dot_relname_unquoted() {
    assertThat(added("cat.Mixed Case")).containsOnlyKeys("cat.Mixed Case 1");
    assertThat(added("\"cat\".\"Mixed Case\"")).containsOnlyKeys("cat.Mixed Case 1");
    assertThat(source.partitionedTables()).contains("cat.m", "cat.ints", "cat.Mixed Case").doesNotContain("cat.m_acme", "cat.plain");
  }

  @Test
  void keys_the_router_cannot_reproduce_are_refused() {
    assertThatThrownBy(() -> source.load("cat.expr")).isInstanceOfSatisfying(UnsupportedPartitionKeyException.class,
        e -> assertThat(e.getMessage()).contains("expression"));
    assertThatThrownBy(() -> source.load("cat.opclass")).isInstanceOfSatisfying(UnsupportedPartitionKeyException.class,
        e -> assertThat(e.getMessage()).contains("text_pattern_ops"));
    assertThatThrownBy(() -> source.load("cat.numeric_key")).isInstanceOfSatisfying(UnsupportedPartitionKeyException.class,
        e -> assertThat(e.type()).isEqualTo("numeric"));
  }

  @Test
  void text_range_key_under_a_collation_that_does_not_sort_by_bytes_is_refused() throws SQLException {
    String collation;
    try (Connection c = db.getConnection(); Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("""
            SELECT quote_ident(collname) FROM pg_collation
             WHERE collprovider IN ('c', 'i') AND collcollate NOT IN ('C', 'POSIX') AND collisdeterministic
               AND collencoding IN (-1, (SELECT encoding FROM pg_database WHERE datname = current_database()))
             ORDER BY collname LIMIT 1""")) {
      Assumptions.assumeTrue(rs.next(), "no linguistic collation installed");
      collation = rs.getString(1);
      s.execute("DROP TABLE IF EXISTS cat.ling");
      s.execute("CREATE TABLE cat.ling (k text COLLATE " + collation + ") PARTITION BY RANGE (k)");
    }
    assertThatThrownBy(() -> source.load("cat.ling")).isInstanceOfSatisfying(UnsupportedPartitionKeyException.class,
        e -> assertThat(e.getMessage()).contains("does not sort by bytes"));
  }

  @Test
  void missing_or_unpartitioned_table_is_a_boundary_source_error() {
    assertThatThrownBy(() -> source.load("cat.nope")).isInstanceOfSatisfying(BoundarySourceException.class,
        e -> assertThat(e.table()).isEqualTo("cat.nope"));
    assertThatThrownBy(() -> source.load("cat.plain")).isInstanceOf(BoundarySourceException.class).hasMessageContaining("not a partitioned table");
  }

  @Test
  void router_fed_from_the_catalog_resolves_composite_rows() throws SQLException {
    PartitionRouter router = source.bootstrap(new PartitionRouter(), "cat.m");
    assertThat(router.resolve("cat.m", "acme", Instant.parse("2024-03-01T00:00:00Z"))).isEqualTo("cat.m_acme_rest");
    assertThat(router.resolve("cat.m", Map.of("tenant", "it's", "created_at", "2024-01-31 23:59:59.9994+00", "device", 1L)))
        .startsWith("cat.m_acme_jan_");
    // timestamptz(3) rounds .9995 up to the next second before routing, so the row is February's
    assertThat(router.resolve("cat.m", Map.of("tenant", "it's", "created_at", "2024-01-31 23:59:59.9995+00", "device", 1L)))
        .isEqualTo("cat.m_acme_rest");
    try (Connection c = db.getConnection(); Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("WITH i AS (INSERT INTO cat.m VALUES ('it''s', '2024-01-31 23:59:59.9995+00', 1) RETURNING tableoid)"
            + " SELECT tableoid::regclass::text FROM i")) {
      rs.next();
      assertThat(rs.getString(1)).isEqualTo("cat.m_acme_rest");
    }
    assertThat(router.resolve("cat.m", (Object) null)).isEqualTo("cat.m_nulls");
    assertThat(router.resolve("cat.m", "globex")).isEqualTo("cat.m_default");
  }
}
