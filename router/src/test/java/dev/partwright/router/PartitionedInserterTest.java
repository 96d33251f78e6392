package dev.partwright.router;

import static org.assertj.core.api.Assertions.assertThat;

import dev.partwright.embedded.Servers;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import javax.sql.DataSource;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@link PartitionedInserter} on a real PostgreSQL: rows land exactly where an insert through the parent puts them. */
class PartitionedInserterTest {

  static final List<String> COLUMNS = List.of("id", "tenant", "created_at", "device", "payload");

  DataSource db;

  @BeforeEach
  void tables() throws SQLException {
    db = Servers.postgres().dataSource();
    try (Connection c = db.getConnection(); Statement s = c.createStatement()) {
      s.execute("DROP SCHEMA IF EXISTS ins CASCADE");
      s.execute("CREATE SCHEMA ins");
      for (String t : List.of("direct", "parent")) {
        // list(tenant) -> range(created_at) -> hash(device), with DEFAULT partitions at the first two levels
        s.execute("CREATE TABLE ins." + t + " (id bigint, tenant text, created_at timestamptz, device uuid, payload text NOT NULL)"
            + " PARTITION BY LIST (tenant)");
        s.execute("CREATE TABLE ins." + t + "_acme PARTITION OF ins." + t + " FOR VALUES IN ('acme') PARTITION BY RANGE (created_at)");
        s.execute("CREATE TABLE ins." + t + "_other PARTITION OF ins." + t + " DEFAULT");
        for (int m = 1; m <= 3; m++) {
          String month = "ins." + t + "_acme_0" + m;
          s.execute(String.format("CREATE TABLE %s PARTITION OF ins.%s_acme FOR VALUES FROM ('2024-0%d-01 00:00:00+00') TO ('2024-0%d-01 00:00:00+00')"
              + " PARTITION BY HASH (device)", month, t, m, m + 1));
          for (int r = 0; r < 3; r++) {
            s.execute(String.format("CREATE TABLE %s_%d PARTITION OF %s FOR VALUES WITH (MODULUS 3, REMAINDER %d)", month, r, month, r));
          }
        }
        s.execute("CREATE TABLE ins." + t + "_acme_default PARTITION OF ins." + t + "_acme DEFAULT");
      }
    }
  }

  private PartitionRouter routerFor(String... tables) {
    return new PgCatalogBoundarySource(db).bootstrap(new PartitionRouter(), tables);
  }

  private static List<Object[]> rows(int n) {
    Random random = new Random(5);
    List<Object[]> rows = new ArrayList<>();
    for (long id = 1; id <= n; id++) {
      String tenant = random.nextInt(5) == 0 ? "globex" : "acme";
      Instant at = Instant.parse("2023-12-15T00:00:00Z").plus(random.nextInt(120 * 24 * 60), ChronoUnit.MINUTES);
      rows.add(new Object[] {id, tenant, at, new UUID(random.nextLong(), random.nextLong()), "row " + id});
    }
    return rows;
  }

  /** id -> the partition's name without the table prefix, for rows of {@code table}. */
  private Map<Long, String> placement(String table) throws SQLException {
    Map<Long, String> out = new HashMap<>();
    try (Connection c = db.getConnection(); Statement s = c.createStatement();
        ResultSet rs = s.executeQuery("SELECT id, tableoid::regclass::text FROM " + table)) {
      while (rs.next()) {
        out.put(rs.getLong(1), rs.getString(2).substring(table.length()));
      }
    }
    return out;
  }

  @Test
  void rows_land_where_an_insert_through_the_parent_puts_them() throws SQLException {
    List<Object[]> rows = rows(3_000);
    PartitionedInserter.Report report = new PartitionedInserter(db, routerFor("ins.direct"), "ins.direct", COLUMNS, 250).insert(rows);
    try (Connection c = db.getConnection();
        PreparedStatement ps = c.prepareStatement("INSERT INTO ins.parent VALUES (?, ?, ?, ?, ?)")) {
      for (Object[] row : rows) {
        for (int i = 0; i < row.length; i++) {
          ps.setObject(i + 1, row[i] instanceof Instant t ? t.atOffset(java.time.ZoneOffset.UTC) : row[i]);
        }
        ps.addBatch();
      }
      ps.executeBatch();
    }
    assertThat(report.rows()).isEqualTo(3_000);
    assertThat(report.rowsThroughParent()).isZero();
    assertThat(report.rowsByTable()).doesNotContainKey("ins.direct").hasSizeGreaterThanOrEqualTo(10);
    Map<Long, String> direct = placement("ins.direct");
    assertThat(direct).hasSize(3_000).isEqualTo(placement("ins.parent"));
    report.rowsByTable().forEach((partition, count) ->
        assertThat(direct.values().stream().filter(p -> ("ins.direct" + p).equals(partition)).count()).as(partition).isEqualTo((long) count));
  }

  @Test
  void a_stale_router_costs_a_retry_through_the_parent_not_a_misplaced_row() throws SQLException {
    PartitionRouter router = routerFor("ins.direct");
    try (Connection c = db.getConnection(); Statement s = c.createStatement()) {
      // after the router's bootstrap: April exists (the router still says acme_default), March is gone
      s.execute("CREATE TABLE ins.direct_acme_04 PARTITION OF ins.direct_acme FOR VALUES FROM ('2024-04-01 00:00:00+00') TO ('2024-05-01 00:00:00+00')");
      s.execute("DROP TABLE ins.direct_acme_03");
    }
    List<Object[]> rows = new ArrayList<>();
    Random random = new Random(9);
    List<Instant> times = List.of(Instant.parse("2024-01-10T00:00:00Z"), Instant.parse("2024-04-10T00:00:00Z"), Instant.parse("2024-03-10T00:00:00Z"));
    for (long id = 0; id < 300; id++) {
      rows.add(new Object[] {id, "acme", times.get((int) (id % 3)), new UUID(random.nextLong(), random.nextLong()), "x"});
    }
    PartitionedInserter.Report report = new PartitionedInserter(db, router, "ins.direct", COLUMNS).insert(rows);
    assertThat(report.rows()).isEqualTo(300);
    // April's rows were refused by acme_default (23514), March's partitions no longer exist (42P01)
    assertThat(report.rowsThroughParent()).isEqualTo(200);
    Map<Long, String> placed = placement("ins.direct");
    assertThat(placed).hasSize(300);
    placed.forEach((id, partition) -> {
      switch ((int) (id % 3)) {
        case 0 -> assertThat(partition).startsWith("_acme_01_");
        case 1 -> assertThat(partition).isEqualTo("_acme_04");
        default -> assertThat(partition).isEqualTo("_acme_default");
      }
    });
  }

  @Test
  void rows_without_a_router_answer_go_through_the_parent() throws SQLException {
    PartitionRouter empty = new PartitionRouter();
    PartitionedInserter.Report report = new PartitionedInserter(db, empty, "ins.direct", COLUMNS).insert(rows(10));
    assertThat(report.rowsThroughParent()).isEqualTo(10);
    assertThat(report.rowsByTable()).containsOnlyKeys("ins.direct");
    assertThat(placement("ins.direct")).hasSize(10);
    // without the key columns, the router cannot answer either
    PartitionedInserter noKeys = new PartitionedInserter(db, routerFor("ins.direct"), "ins.direct", List.of("id", "payload"));
    assertThat(noKeys.insert(List.<Object[]>of(new Object[] {99L, "no keys"})).rowsThroughParent()).isEqualTo(1);
    assertThat(placement("ins.direct").get(99L)).isEqualTo("_other");
  }
}
