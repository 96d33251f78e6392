package dev.partwright.connectors;

import static dev.partwright.connectors.Commands.defaultBound;
import static dev.partwright.connectors.Commands.list;
import static dev.partwright.connectors.Commands.provision;
import static dev.partwright.connectors.Commands.spec;
import static dev.partwright.connectors.Commands.time;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.partwright.connectors.postgres.PartitionProvisioner;
import dev.partwright.connectors.postgres.ProvisioningException;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The DEFAULT partition as a fallback buffer: rows that arrived before their partition existed are
 * moved into it as part of provisioning — in the transaction that attaches it, so no row is lost
 * and none is duplicated — where a plain ATTACH would fail ("updated partition constraint for
 * default partition would be violated"). While the DEFAULT partition is locked for the move,
 * writes to other ranges go on.
 */
class DefaultPartitionBufferTest {

  private static final Instant DAY0 = Instant.parse("2026-07-01T00:00:00Z");
  private static final Instant DAY1 = DAY0.plus(Duration.ofDays(1));
  private static final Instant DAY2 = DAY0.plus(Duration.ofDays(2));
  private static TestSchema db;

  @BeforeAll
  static void setUp() throws Exception {
    db = TestSchema.create("defaultbuf");
  }

  @AfterAll
  static void tearDown() throws Exception {
    db.close();
  }

  private static void timeTable(String table) throws Exception {
    db.exec("CREATE TABLE ${s}." + table + " (id bigint GENERATED ALWAYS AS IDENTITY, ts timestamptz NOT NULL,"
            + " payload text, amount numeric GENERATED ALWAYS AS (length(payload)) STORED) PARTITION BY RANGE (ts)",
        "CREATE INDEX ON ${s}." + table + " (ts)");
    db.provisioner().provision(provision("*/" + db.q(table),
        spec(db.q(table), db.name, table + "_p0", time(DAY0, DAY1)),
        spec(db.q(table), db.name, table + "_default", defaultBound())));
  }

  @Test
  void rowsOfTheNewRangeWaitingInDefaultAreMovedExactlyOnce() throws Exception {
    timeTable("events");
    // 100 rows for day 1 and 30 for day 5 land in DEFAULT: no partition for them yet
    db.exec("INSERT INTO ${s}.events (ts, payload) SELECT '2026-07-02T00:00:00Z'::timestamptz + g * interval '10 minutes',"
            + " 'early-' || g FROM generate_series(0, 99) g",
        "INSERT INTO ${s}.events (ts, payload) SELECT '2026-07-06T00:00:00Z'::timestamptz + g * interval '1 minute',"
            + " 'later-' || g FROM generate_series(0, 29) g",
        "INSERT INTO ${s}.events (ts, payload) VALUES ('2026-07-01T12:00:00Z', 'today')");
    assertThat(db.count("SELECT count(*) FROM ONLY ${s}.events_default")).isEqualTo(130);
    String before = db.rows("SELECT md5(string_agg(id || payload || ts || amount, ',' ORDER BY id)) FROM ${s}.events").get(0);

    PartitionProvisioner.Result result = db.provisioner().provision(provision("*/" + db.q("events"),
        spec(db.q("events"), db.name, "events_p1", time(DAY1, DAY2))));

    assertThat(result.rowsMovedFromDefault()).isEqualTo(100);
    assertThat(db.count("SELECT count(*) FROM ONLY ${s}.events_p1")).isEqualTo(100);
    assertThat(db.count("SELECT count(*) FROM ONLY ${s}.events_default")).isEqualTo(30);
    assertThat(db.count("SELECT count(*) FROM ONLY ${s}.events_p0")).isEqualTo(1);
    assertThat(db.count("SELECT count(*) FROM ${s}.events")).isEqualTo(131);
    assertThat(db.count("SELECT count(DISTINCT id) FROM ${s}.events")).isEqualTo(131);
    // same ids, payloads, timestamps and generated values: moved, not re-created
    assertThat(db.rows("SELECT md5(string_agg(id || payload || ts || amount, ',' ORDER BY id)) FROM ${s}.events").get(0))
        .isEqualTo(before);
    assertThat(db.count("SELECT count(*) FROM ${s}.events_default WHERE ts >= '2026-07-02' AND ts < '2026-07-03'")).isZero();
    // the partition that received rows was analyzed in the provisioning transaction (statistics before
    // the first write); one created empty was not: ANALYZE would only have set reltuples from -1 to 0
    assertThat(db.rows("SELECT reltuples::bigint FROM pg_class WHERE oid = '${s}.events_p1'::regclass")).containsExactly("100");
    assertThat(db.rows("SELECT reltuples::bigint FROM pg_class WHERE oid = '${s}.events_p0'::regclass")).containsExactly("-1");
  }

  @Test
  void severalPartitionsAttachedNextToAFilledDefaultInOneTransactionTakeTheirRowsAndLeaveNoConstraintBehind()
      throws Exception {
    timeTable("batch");
    // rows for days 1 and 3 and for day 9 wait in DEFAULT; the command creates days 1, 2 and 3 at once
    db.exec("INSERT INTO ${s}.batch (ts, payload) SELECT '2026-07-02T00:00:00Z'::timestamptz + g * interval '1 hour',"
            + " 'd1-' || g FROM generate_series(0, 23) g",
        "INSERT INTO ${s}.batch (ts, payload) SELECT '2026-07-04T00:00:00Z'::timestamptz + g * interval '2 hours',"
            + " 'd3-' || g FROM generate_series(0, 11) g",
        "INSERT INTO ${s}.batch (ts, payload) VALUES ('2026-07-10T05:00:00Z', 'd9')");
    String before = db.rows("SELECT md5(string_agg(id || payload || ts || amount, ',' ORDER BY id)) FROM ${s}.batch").get(0);
    Instant day3 = DAY2.plus(Duration.ofDays(1));

    List<String> guards = new ArrayList<>();
    PartitionProvisioner provisioner = db.provisioner(TestSchema.fastLimits(), (step, partition, c) -> {
      if (step == PartitionProvisioner.Step.LOCKED && guards.isEmpty()) {
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT pg_get_constraintdef(oid)"
            + " FROM pg_constraint WHERE conrelid = '" + db.q("batch_default") + "'::regclass AND contype = 'c'")) {
          while (rs.next()) {
            guards.add(rs.getString(1));
          }
        }
      }
    });
    PartitionProvisioner.Result result = provisioner.provision(provision("*/" + db.q("batch"),
        spec(db.q("batch"), db.name, "batch_p1", time(DAY1, DAY2)),
        spec(db.q("batch"), db.name, "batch_p2", time(DAY2, day3)),
        spec(db.q("batch"), db.name, "batch_p3", time(day3, day3.plus(Duration.ofDays(1))))));

    assertThat(result.rowsMovedFromDefault()).isEqualTo(36);
    assertThat(db.count("SELECT count(*) FROM ONLY ${s}.batch_p1")).isEqualTo(24);
    assertThat(db.count("SELECT count(*) FROM ONLY ${s}.batch_p2")).isZero();
    assertThat(db.count("SELECT count(*) FROM ONLY ${s}.batch_p3")).isEqualTo(12);
    assertThat(db.rows("SELECT payload FROM ONLY ${s}.batch_default")).containsExactly("d9");
    assertThat(db.rows("SELECT md5(string_agg(id || payload || ts || amount, ',' ORDER BY id)) FROM ${s}.batch").get(0))
        .isEqualTo(before);
    // a CHECK proving the three ranges absent from DEFAULT spared each ATTACH its scan of DEFAULT,
    // and lived only inside the transaction
    assertThat(guards).hasSize(1);
    assertThat(guards.get(0)).startsWith("CHECK ((NOT (").contains("2026-07-02", "2026-07-03", "2026-07-04", "2026-07-05");
    assertThat(db.count("SELECT count(*) FROM pg_constraint WHERE conrelid = '${s}.batch_default'::regclass"
        + " AND contype = 'c'")).isZero();
  }

  @Test
  void writesToOtherRangesGoOnWhileDefaultIsLockedForTheMove() throws Exception {
    timeTable("metrics");
    db.exec("INSERT INTO ${s}.metrics (ts, payload) VALUES ('2026-07-02T08:00:00Z', 'waiting in default')");
    CountDownLatch locked = new CountDownLatch(1);
    CountDownLatch proceed = new CountDownLatch(1);
    PartitionProvisioner provisioner = db.provisioner(TestSchema.fastLimits(), (step, partition, c) -> {
      if (step == PartitionProvisioner.Step.LOCKED) {
        locked.countDown();
        try {
          proceed.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    });
    CompletableFuture<PartitionProvisioner.Result> provisioning = CompletableFuture.supplyAsync(() -> {
      try {
        return provisioner.provision(provision("*/" + db.q("metrics"),
            spec(db.q("metrics"), db.name, "metrics_p1", time(DAY1, DAY2))));
      } catch (ProvisioningException e) {
        throw new IllegalStateException(e);
      }
    });
    try {
      assertThat(locked.await(30, TimeUnit.SECONDS)).isTrue();
      try (Connection writer = db.postgres.dataSource().getConnection(); Statement s = writer.createStatement()) {
        // a write that waited at all would fail here instead of queueing
        s.execute("SET lock_timeout = '300ms'");
        try {
          s.execute("INSERT INTO " + db.q("metrics") + " (ts, payload) VALUES ('2026-07-01T09:00:00Z', 'other range')");

          // control: a row for DEFAULT does wait, so the check above could have caught a block
          SQLException blocked = catchThrowableOfType(() -> s.execute("INSERT INTO " + db.q("metrics")
              + " (ts, payload) VALUES ('2026-07-09T09:00:00Z', 'default')"), SQLException.class);
          assertThat(blocked.getSQLState()).isEqualTo("55P03");
        } finally {
          s.execute("RESET lock_timeout"); // the connection goes back to a shared pool
        }
      }
    } finally {
      proceed.countDown();
    }

    assertThat(provisioning.get().rowsMovedFromDefault()).isEqualTo(1);
    assertThat(db.count("SELECT count(*) FROM ONLY ${s}.metrics_p1")).isEqualTo(1);
    assertThat(db.count("SELECT count(*) FROM ONLY ${s}.metrics_p0")).isEqualTo(1);
  }

  @Test
  void aNewTenantsRowsWaitingInTheListDefaultMoveToItsPartition() throws Exception {
    db.exec("CREATE TABLE ${s}.tenants (tenant_id text, ts timestamptz NOT NULL) PARTITION BY LIST (tenant_id)");
    db.provisioner().provision(provision("*/" + db.q("tenants"),
        spec(db.q("tenants"), db.name, "tenants_default", defaultBound())));
    db.exec("INSERT INTO ${s}.tenants SELECT t, now() FROM unnest(ARRAY['acme', 'acme', 'globex', NULL]) t");

    PartitionProvisioner.Result result = db.provisioner().provision(provision("acme/" + db.q("tenants"),
        spec(db.q("tenants"), db.name, "tenants_acme", list("acme"))));

    assertThat(result.rowsMovedFromDefault()).isEqualTo(2);
    assertThat(db.rows("SELECT tableoid::regclass::text || ' ' || coalesce(tenant_id, 'NULL') FROM ${s}.tenants"
        + " ORDER BY 1")).containsExactly(
            db.q("tenants_acme") + " acme", db.q("tenants_acme") + " acme",
            db.q("tenants_default") + " NULL", db.q("tenants_default") + " globex");
  }
}
