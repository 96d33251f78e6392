package dev.partwright.connectors;

import static dev.partwright.connectors.Commands.defaultBound;
import static dev.partwright.connectors.Commands.hash;
import static dev.partwright.connectors.Commands.key;
import static dev.partwright.connectors.Commands.list;
import static dev.partwright.connectors.Commands.longs;
import static dev.partwright.connectors.Commands.provision;
import static dev.partwright.connectors.Commands.spec;
import static dev.partwright.connectors.Commands.time;
import static dev.partwright.connectors.Commands.times;
import static org.assertj.core.api.Assertions.assertThat;

import dev.partwright.connectors.postgres.PartitionProvisioner;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.Strategy;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every partitioning strategy the worker supports produces the expected {@code pg_inherits} tree,
 * with the expected bounds, and every partition is announced under its root table. Time bounds are
 * computed in Europe/Berlin across the 2026-03-29 DST change, as the planner would: the worker
 * applies any bound it is given, and PostgreSQL prints them in UTC.
 */
class StrategiesTest {

  private static final ZoneId BERLIN = ZoneId.of("Europe/Berlin");
  private static TestSchema db;
  private static PartitionProvisioner provisioner;

  @BeforeAll
  static void setUp() throws Exception {
    db = TestSchema.create("strategies");
    provisioner = db.provisioner();
  }

  @AfterAll
  static void tearDown() throws Exception {
    db.close();
  }

  private static Instant berlin(String localDateTime) {
    return LocalDateTime.parse(localDateTime).atZone(BERLIN).toInstant();
  }

  private PartitionProvisioner.Result timeTable(String table, List<Instant> edges) throws Exception {
    db.exec("CREATE TABLE ${s}." + table + " (tenant_id text NOT NULL, ts timestamptz NOT NULL, v int)"
        + " PARTITION BY RANGE (ts)", "CREATE INDEX ON ${s}." + table + " (ts)");
    PartitionProvisioner.Result r = provisioner.provision(
        provision("*/" + db.q(table), times(db.q(table), db.name, table + "_p", edges)));
    assertThat(r.created()).hasSize(edges.size() - 1);
    assertThat(r.rootTables()).containsOnly(db.q(table));
    return r;
  }

  @Test
  void hourlyRangeAcrossTheSpringDstGapHasNoHoleAndNoOverlap() throws Exception {
    // 02:00 does not exist in Berlin that night: local hours 00, 01, 03 are three consecutive UTC hours
    timeTable("hourly", List.of(berlin("2026-03-29T00:00"), berlin("2026-03-29T01:00"), berlin("2026-03-29T03:00"),
        berlin("2026-03-29T04:00")));

    assertThat(db.tree("hourly")).containsExactly(
        "hourly_p0 <hourly> r FOR VALUES FROM ('2026-03-28 23:00:00+00') TO ('2026-03-29 00:00:00+00')",
        "hourly_p1 <hourly> r FOR VALUES FROM ('2026-03-29 00:00:00+00') TO ('2026-03-29 01:00:00+00')",
        "hourly_p2 <hourly> r FOR VALUES FROM ('2026-03-29 01:00:00+00') TO ('2026-03-29 02:00:00+00')");
  }

  @Test
  void dailyRangeAcrossDstHasA23HourDay() throws Exception {
    timeTable("daily", List.of(berlin("2026-03-28T00:00"), berlin("2026-03-29T00:00"), berlin("2026-03-30T00:00")));

    assertThat(db.tree("daily")).containsExactly(
        "daily_p0 <daily> r FOR VALUES FROM ('2026-03-27 23:00:00+00') TO ('2026-03-28 23:00:00+00')",
        "daily_p1 <daily> r FOR VALUES FROM ('2026-03-28 23:00:00+00') TO ('2026-03-29 22:00:00+00')");
  }

  @Test
  void weeklyRange() throws Exception {
    timeTable("weekly", List.of(berlin("2026-03-23T00:00"), berlin("2026-03-30T00:00"), berlin("2026-04-06T00:00")));

    assertThat(db.tree("weekly")).containsExactly(
        "weekly_p0 <weekly> r FOR VALUES FROM ('2026-03-22 23:00:00+00') TO ('2026-03-29 22:00:00+00')",
        "weekly_p1 <weekly> r FOR VALUES FROM ('2026-03-29 22:00:00+00') TO ('2026-04-05 22:00:00+00')");
  }

  @Test
  void monthlyRange() throws Exception {
    timeTable("monthly", List.of(berlin("2026-03-01T00:00"), berlin("2026-04-01T00:00"), berlin("2026-05-01T00:00")));

    assertThat(db.tree("monthly")).containsExactly(
        "monthly_p0 <monthly> r FOR VALUES FROM ('2026-02-28 23:00:00+00') TO ('2026-03-31 22:00:00+00')",
        "monthly_p1 <monthly> r FOR VALUES FROM ('2026-03-31 22:00:00+00') TO ('2026-04-30 22:00:00+00')");
  }

  @Test
  void rangeOnBigintWithOpenEnds() throws Exception {
    db.exec("CREATE TABLE ${s}.ids (id bigint NOT NULL, v text) PARTITION BY RANGE (id)",
        "CREATE UNIQUE INDEX ON ${s}.ids (id)");

    provisioner.provision(provision("*/" + db.q("ids"),
        spec(db.q("ids"), db.name, "ids_low", longs(null, 0L)),
        spec(db.q("ids"), db.name, "ids_0", longs(0L, 1_000_000L)),
        spec(db.q("ids"), db.name, "ids_1", longs(1_000_000L, 2_000_000L)),
        spec(db.q("ids"), db.name, "ids_high", longs(2_000_000L, null))));

    assertThat(db.tree("ids")).containsExactly(
        "ids_0 <ids> r FOR VALUES FROM ('0') TO ('1000000')",
        "ids_1 <ids> r FOR VALUES FROM ('1000000') TO ('2000000')",
        "ids_high <ids> r FOR VALUES FROM ('2000000') TO (MAXVALUE)",
        "ids_low <ids> r FOR VALUES FROM (MINVALUE) TO ('0')");
    db.exec("INSERT INTO ${s}.ids VALUES (-5, 'a'), (999999, 'b'), (1000000, 'c'), (9000000000, 'd')");
    assertThat(db.rows("SELECT tableoid::regclass::text || ' ' || id FROM ${s}.ids ORDER BY id")).containsExactly(
        db.q("ids_low") + " -5", db.q("ids_0") + " 999999", db.q("ids_1") + " 1000000", db.q("ids_high") + " 9000000000");
  }

  @Test
  void hashOnUuidAndOnText() throws Exception {
    db.exec("CREATE TABLE ${s}.devices (device uuid NOT NULL, v int) PARTITION BY HASH (device)",
        "CREATE TABLE ${s}.names (name text NOT NULL) PARTITION BY HASH (name)");
    List<PartitionSpec> devices = new ArrayList<>();
    List<PartitionSpec> names = new ArrayList<>();
    for (int r = 0; r < 4; r++) {
      devices.add(spec(db.q("devices"), db.name, "devices_h" + r, hash(4, r)));
      names.add(spec(db.q("names"), db.name, "names_h" + r, hash(4, r)));
    }

    provisioner.provision(provision("*/" + db.q("devices"), devices));
    provisioner.provision(provision("*/" + db.q("names"), names));

    assertThat(db.tree("devices")).containsExactly(
        "devices_h0 <devices> r FOR VALUES WITH (modulus 4, remainder 0)",
        "devices_h1 <devices> r FOR VALUES WITH (modulus 4, remainder 1)",
        "devices_h2 <devices> r FOR VALUES WITH (modulus 4, remainder 2)",
        "devices_h3 <devices> r FOR VALUES WITH (modulus 4, remainder 3)");
    assertThat(db.tree("names")).hasSize(4);
    // a complete hash set accepts every key
    db.exec("INSERT INTO ${s}.devices SELECT gen_random_uuid(), g FROM generate_series(1, 100) g",
        "INSERT INTO ${s}.names SELECT md5(g::text) FROM generate_series(1, 100) g");
    assertThat(db.count("SELECT count(DISTINCT tableoid) FROM ${s}.devices")).isEqualTo(4);
  }

  @Test
  void listByTenantWithDefault() throws Exception {
    db.exec("CREATE TABLE ${s}.tenants (tenant_id text NOT NULL, ts timestamptz NOT NULL) PARTITION BY LIST (tenant_id)");

    provisioner.provision(provision("*/" + db.q("tenants"),
        spec(db.q("tenants"), db.name, "tenants_acme", list("acme")),
        spec(db.q("tenants"), db.name, "tenants_o_brien", list("o'brien", "O'Brien")),
        spec(db.q("tenants"), db.name, "tenants_default", defaultBound())));

    assertThat(db.tree("tenants")).containsExactly(
        "tenants_acme <tenants> r FOR VALUES IN ('acme')",
        "tenants_default <tenants> r DEFAULT",
        "tenants_o_brien <tenants> r FOR VALUES IN ('o''brien', 'O''Brien')");
  }

  @Test
  void listOfTenantsThenRangeOfTimeCreatesEachTenantLevelBeforeItsDays() throws Exception {
    db.exec("CREATE TABLE ${s}.events (tenant_id text NOT NULL, ts timestamptz NOT NULL, id bigint NOT NULL,"
            + " PRIMARY KEY (tenant_id, ts, id)) PARTITION BY LIST (tenant_id)",
        "CREATE INDEX ON ${s}.events (ts)");
    Instant d1 = Instant.parse("2026-03-01T00:00:00Z");
    Instant d2 = Instant.parse("2026-03-02T00:00:00Z");
    Instant d3 = Instant.parse("2026-03-03T00:00:00Z");

    PartitionProvisioner.Result r = provisioner.provision(provision("acme/" + db.q("events"),
        spec(db.q("events"), db.name, "events_acme", list("acme"), key(Strategy.RANGE, "ts", "timestamp with time zone")),
        spec(db.q("events_acme"), db.name, "events_acme_p20260301", time(d1, d2)),
        spec(db.q("events_acme"), db.name, "events_acme_p20260302", time(d2, d3))));

    assertThat(db.tree("events")).containsExactly(
        "events_acme <events> p FOR VALUES IN ('acme')",
        "events_acme_p20260301 <events_acme> r FOR VALUES FROM ('2026-03-01 00:00:00+00') TO ('2026-03-02 00:00:00+00')",
        "events_acme_p20260302 <events_acme> r FOR VALUES FROM ('2026-03-02 00:00:00+00') TO ('2026-03-03 00:00:00+00')");
    assertThat(r.rootTables()).containsOnly(db.q("events"));
    assertThat(r.parentKeys().get(0).getStrategy()).isEqualTo(Strategy.LIST);
    assertThat(r.parentKeys().get(1).getStrategy()).isEqualTo(Strategy.RANGE);
    // indexes of every level are attached down to the leaves (invariant 5)
    assertThat(db.count("""
        SELECT count(*) FROM pg_index ci JOIN pg_inherits ih ON ih.inhrelid = ci.indexrelid
         WHERE ci.indrelid = '${s}.events_acme_p20260301'::regclass AND ci.indisvalid""")).isEqualTo(2);
    db.exec("INSERT INTO ${s}.events VALUES ('acme', '2026-03-02T10:00:00Z', 1)");
    assertThat(db.rows("SELECT tableoid::regclass::text FROM ${s}.events")).containsExactly(db.q("events_acme_p20260302"));
  }

  @Test
  void rangeOfTimeThenHashOfKeyCreatesTheDayBeforeItsBuckets() throws Exception {
    db.exec("CREATE TABLE ${s}.readings (ts timestamptz NOT NULL, device uuid NOT NULL, v float8)"
        + " PARTITION BY RANGE (ts)", "CREATE INDEX ON ${s}.readings (device, ts)");
    Instant d1 = Instant.parse("2026-03-01T00:00:00Z");
    Instant d2 = Instant.parse("2026-03-02T00:00:00Z");
    List<PartitionSpec> specs = new ArrayList<>();
    specs.add(spec(db.q("readings"), db.name, "readings_p20260301", time(d1, d2), key(Strategy.HASH, "device", "uuid")));
    for (int b = 0; b < 3; b++) {
      specs.add(spec(db.q("readings_p20260301"), db.name, "readings_p20260301_h" + b, hash(3, b)));
    }

    provisioner.provision(provision("*/" + db.q("readings"), specs));

    assertThat(db.tree("readings")).containsExactly(
        "readings_p20260301 <readings> p FOR VALUES FROM ('2026-03-01 00:00:00+00') TO ('2026-03-02 00:00:00+00')",
        "readings_p20260301_h0 <readings_p20260301> r FOR VALUES WITH (modulus 3, remainder 0)",
        "readings_p20260301_h1 <readings_p20260301> r FOR VALUES WITH (modulus 3, remainder 1)",
        "readings_p20260301_h2 <readings_p20260301> r FOR VALUES WITH (modulus 3, remainder 2)");
    db.exec("INSERT INTO ${s}.readings SELECT '2026-03-01T12:00:00Z', gen_random_uuid(), g FROM generate_series(1, 60) g");
    assertThat(db.count("SELECT count(DISTINCT tableoid) FROM ${s}.readings")).isEqualTo(3);
  }
}
