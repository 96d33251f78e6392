package dev.partwright.connectors.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.partwright.connectors.postgres.Identifier;
import dev.partwright.connectors.postgres.InvalidIdentifierException;
import dev.partwright.connectors.postgres.QualifiedName;
import dev.partwright.schemas.ManagedTablePolicy;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@code partwright.managed_tables} on a real PostgreSQL: adoption, refusals with advice, listing. */
class PolicyStoreTest {

  private static final Instant NOW = Instant.now().truncatedTo(ChronoUnit.MICROS);
  private FreshDatabase db;
  private PolicyStore store;

  @BeforeEach
  void start() throws Exception {
    db = new FreshDatabase();
    store = new PolicyStore(db.dataSource);
  }

  @AfterEach
  void stop() throws Exception {
    db.close();
  }

  private static ManagedTable daily(String table, String column) {
    return new ManagedTable(QualifiedName.parse(table), "range", new Identifier(column), "day", "UTC", null, 14, 90, 500,
        null, NOW);
  }

  @Test
  void listingAnEmptyDatabaseCreatesNothing() throws Exception {
    assertThat(store.list()).isEmpty();
    assertThat(store.remove(QualifiedName.parse("public.x"))).isFalse();
    try (Connection c = db.dataSource.getConnection(); Statement s = c.createStatement();
         ResultSet rs = s.executeQuery("SELECT count(*) FROM pg_namespace WHERE nspname = 'partwright'")) {
      rs.next();
      assertThat(rs.getInt(1)).isZero();
    }
  }

  @Test
  void anExistingPartitionedParentIsAdoptedAsItIsAndListed() throws Exception {
    db.sql("CREATE TABLE public.events (tenant_id text, created_at timestamptz NOT NULL) PARTITION BY RANGE (created_at)",
        "CREATE TABLE public.events_old PARTITION OF public.events FOR VALUES FROM ('2020-01-01') TO ('2021-01-01')");

    store.register(daily("public.events", "created_at"), "test");
    store.register(daily("public.events", "created_at"), "test"); // again: replaces, no duplicate

    assertThat(store.list()).singleElement().satisfies(t -> {
      assertThat(t.table().toString()).isEqualTo("public.events");
      assertThat(t.interval()).isEqualTo("day");
      assertThat(t.bufferDays()).isEqualTo(14);
      assertThat(t.retentionDays()).isEqualTo(90);
      assertThat(t.maxPartitions()).isEqualTo(500);
      assertThat(t.maxBytes()).isNull();
      assertThat(t.registeredAt()).isEqualTo(NOW);
    });
    assertThat(PartitionInventory.of(db.dataSource.getConnection(), QualifiedName.parse("public.events")).ranges())
        .as("adoption leaves existing partitions alone").hasSize(1);

    ManagedTablePolicy record = store.get(QualifiedName.parse("public.events")).orElseThrow().toRecord();
    assertThat(record.getSchemaName()).isEqualTo("public");
    assertThat(record.getColumn()).isEqualTo("created_at");
    assertThat(record.getTenantColumn()).isNull();
    assertThat(store.get(QualifiedName.parse("public.other"))).as("another table's policy").isEmpty();
  }

  @Test
  void aPlainTableIsRefusedWithTheSqlThatConvertsItAndThatSqlWorks() throws Exception {
    db.sql("CREATE TABLE public.orders (id bigint, placed_at timestamptz NOT NULL)",
        "INSERT INTO public.orders VALUES (1, now())");

    UnmanageableTableException e = org.junit.jupiter.api.Assertions.assertThrows(UnmanageableTableException.class,
        () -> store.register(daily("public.orders", "placed_at"), "test"));
    assertThat(e.problem()).isEqualTo(UnmanageableTableException.Problem.NOT_PARTITIONED);
    assertThat(e.getMessage()).contains("plain table").contains("PARTITION BY RANGE (\"placed_at\")");

    Matcher sql = Pattern.compile("(?s)BEGIN;(.*)COMMIT;").matcher(e.getMessage());
    assertThat(sql.find()).isTrue();
    db.sql("BEGIN; " + sql.group(1) + " COMMIT;");
    store.register(daily("public.orders", "placed_at"), "test");
    assertThat(store.list()).hasSize(1);
    try (Connection c = db.dataSource.getConnection(); Statement s = c.createStatement();
         ResultSet rs = s.executeQuery("SELECT count(*) FROM public.orders")) {
      rs.next();
      assertThat(rs.getInt(1)).as("the old rows are still there, in DEFAULT").isEqualTo(1);
    }
  }

  @Test
  void missingTablesWrongKeysAndWrongTypesAreRefusedWithTheFacts() throws Exception {
    db.sql("CREATE TABLE public.by_id (id bigint, at timestamptz) PARTITION BY RANGE (id)",
        "CREATE TABLE public.by_day (d date) PARTITION BY RANGE (d)");

    assertThatThrownBy(() -> store.register(daily("public.nope", "at"), "t"))
        .isInstanceOf(UnmanageableTableException.class).hasMessageContaining("does not exist");
    assertThatThrownBy(() -> store.register(daily("public.by_id", "at"), "t"))
        .isInstanceOf(UnmanageableTableException.class)
        .hasMessageContaining("partitioned by RANGE (id), but the policy needs RANGE (at)");
    assertThatThrownBy(() -> store.register(daily("public.by_day", "d"), "t"))
        .isInstanceOf(UnmanageableTableException.class).hasMessageContaining("is date");
    assertThat(store.list()).isEmpty();
  }

  @Test
  void aTenantScopedTableIsListPartitionedByTenant() throws Exception {
    db.sql("CREATE TABLE public.usage (tenant_id text NOT NULL, at timestamptz NOT NULL) PARTITION BY LIST (tenant_id)");
    ManagedTable perTenant = new ManagedTable(QualifiedName.parse("public.usage"), "range", new Identifier("at"), "hour",
        "Europe/Berlin", new Identifier("tenant_id"), null, null, null, null, NOW);

    store.register(perTenant, "t");

    assertThat(store.list().get(0).tenantColumn().name()).isEqualTo("tenant_id");
    assertThat(store.list().get(0).toRecord().getZone()).isEqualTo("Europe/Berlin");
  }

  @Test
  void hostileNamesAndBadPoliciesNeverReachSql() {
    assertThatThrownBy(() -> QualifiedName.parse("public.events; DROP TABLE x"))
        .isInstanceOf(InvalidIdentifierException.class);
    assertThatThrownBy(() -> new Identifier("created_at\"--")).isInstanceOf(InvalidIdentifierException.class);
    assertThatThrownBy(() -> new ManagedTable(QualifiedName.parse("public.t"), "range", new Identifier("c"), "fortnight",
        "UTC", null, null, null, null, null, NOW)).isInstanceOf(InvalidPolicyException.class).hasMessageContaining("fortnight");
    assertThatThrownBy(() -> new ManagedTable(QualifiedName.parse("public.t"), "hash", new Identifier("c"), "day",
        "UTC", null, null, null, null, null, NOW)).hasMessageContaining("strategy 'hash'");
    assertThatThrownBy(() -> new ManagedTable(QualifiedName.parse("public.t"), "range", new Identifier("c"), "day",
        "Mars/Olympus", null, null, null, null, null, NOW)).hasMessageContaining("Mars/Olympus");
    assertThatThrownBy(() -> new ManagedTable(QualifiedName.parse("public.t"), "range", new Identifier("c"), "day",
        "UTC", null, 367, null, null, null, NOW)).hasMessageContaining("between 1 and 366");
  }

  @Test
  void inventoryReadsRangesListsAndDefault() throws Exception {
    db.sql("CREATE TABLE public.m (t text, at timestamptz) PARTITION BY RANGE (at)",
        "CREATE TABLE public.m_a PARTITION OF public.m FOR VALUES FROM ('2026-01-01 00:00+00') TO ('2026-01-02 00:00+00')",
        "CREATE TABLE public.m_b PARTITION OF public.m FOR VALUES FROM (MINVALUE) TO ('2026-01-01 00:00+00')",
        "CREATE TABLE public.m_d PARTITION OF public.m DEFAULT",
        "CREATE TABLE public.l (t text, at timestamptz) PARTITION BY LIST (t)",
        "CREATE TABLE public.l_x PARTITION OF public.l FOR VALUES IN ('o''brien') PARTITION BY RANGE (at)");
    try (Connection c = db.dataSource.getConnection()) {
      PartitionInventory.Children m = PartitionInventory.of(c, QualifiedName.parse("public.m"));
      assertThat(m.defaultPartition().toString()).isEqualTo("public.m_d");
      assertThat(m.ranges()).as("ordered by lower bound, MINVALUE first").extracting(r -> r.name().toString())
          .containsExactly("public.m_b", "public.m_a");
      assertThat(m.ranges().get(0).from()).isNull();
      assertThat(m.ranges().get(1).from()).isEqualTo(Instant.parse("2026-01-01T00:00:00Z"));
      assertThat(m.ranges().get(1).to()).isEqualTo(Instant.parse("2026-01-02T00:00:00Z"));
      PartitionInventory.Children l = PartitionInventory.of(c, QualifiedName.parse("public.l"));
      assertThat(l.lists()).singleElement().satisfies(p -> {
        assertThat(p.values()).containsExactly("o'brien");
        assertThat(p.partitioned()).isTrue();
      });
    }
  }

  @Test
  void aSecondRotationOfTheSameTableWaitsForTheFirst() throws Exception {
    QualifiedName table = QualifiedName.parse("public.events");
    try (RotationLock first = RotationLock.acquire(db.dataSource, table, java.time.Duration.ofSeconds(5))) {
      assertThatThrownBy(() -> RotationLock.acquire(db.dataSource, table, java.time.Duration.ofMillis(200)))
          .isInstanceOf(java.sql.SQLException.class)
          .satisfies(e -> assertThat(((java.sql.SQLException) e).getSQLState()).isEqualTo("55P03"));
      RotationLock.acquire(db.dataSource, QualifiedName.parse("public.other"), java.time.Duration.ofMillis(200)).close();
    }
    RotationLock.acquire(db.dataSource, table, java.time.Duration.ofMillis(200)).close();
  }
}
