package dev.partwright.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.partwright.commandstore.CatalogReplay;
import dev.partwright.commandstore.CommandStoreConfig;
import dev.partwright.commandstore.CommandTopics;
import dev.partwright.commandstore.PartitionCatalog;
import dev.partwright.embedded.Servers;
import dev.partwright.schemas.AggregateId;
import dev.partwright.schemas.HistoryEntry;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CyclicBarrier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@code partwright rotate} on a real PostgreSQL: overlapping runs, dry run, quota, retention, exit codes. */
class RotateCommandTest {

  private static final DateTimeFormatter DAY = DateTimeFormatter.ofPattern("yyyy-MM-dd").withZone(ZoneOffset.UTC);
  private ManageCommandTest.Database db;

  @BeforeEach
  void start() throws Exception {
    db = new ManageCommandTest.Database();
    db.sql("CREATE TABLE public.events (tenant_id text, created_at timestamptz NOT NULL) PARTITION BY RANGE (created_at)",
        "CREATE INDEX events_created_at_idx ON public.events (created_at)",
        "CREATE TABLE public.events_default PARTITION OF public.events DEFAULT");
  }

  @AfterEach
  void stop() throws Exception {
    db.close();
  }

  private void manage(String... extra) {
    List<String> args = new ArrayList<>(List.of("--db-url", db.url(), "--table", "public.events", "--strategy", "range",
        "--column", "created_at", "--interval", "day"));
    args.addAll(List.of(extra));
    ManageCommandTest.Run r = ManageCommandTest.run(new ManageCommand(), args.toArray(String[]::new));
    assertThat(r.exit()).as(r.err()).isZero();
  }

  private ManageCommandTest.Run rotate(String... extra) {
    List<String> args = new ArrayList<>(List.of("--db-url", db.url()));
    args.addAll(List.of(extra));
    return ManageCommandTest.run(new RotateCommand(), args.toArray(String[]::new));
  }

  private List<String> partitions() throws Exception {
    List<String> names = new ArrayList<>();
    try (Connection c = db.connect(); Statement s = c.createStatement();
         ResultSet rs = s.executeQuery("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
             + " WHERE i.inhparent = 'public.events'::regclass AND c.relname <> 'events_default' ORDER BY 1")) {
      while (rs.next()) {
        names.add(rs.getString(1));
      }
    }
    return names;
  }

  /** A command log of this test's own, on the shared broker. */
  private static CommandStoreConfig commandLog() {
    String bootstrap = Servers.kafka().bootstrapServers();
    CommandStoreConfig config = CommandStoreConfig.singleBroker(bootstrap, TestSerdes.get())
        .withTopicPrefix("rotate" + UUID.randomUUID().toString().substring(0, 8));
    try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap))) {
      CommandTopics.ensure(admin, config);
    }
    return config;
  }

  /** The history of public.events in the log, each entry as "KIND key VERDICT", and no dead letters. */
  private static List<String> history(CommandStoreConfig log) {
    CatalogReplay.Result replay = CatalogReplay.fromZero(log, CatalogReplay.Progress.NONE);
    assertThat(replay.deadLetters()).isEmpty();
    PartitionCatalog.Aggregate events = replay.catalog().aggregate(AggregateId.shared("public", "events")).orElseThrow();
    assertThat(events.pending()).isEmpty();
    List<String> out = new ArrayList<>();
    for (HistoryEntry h : events.history()) {
      out.add(h.getKind() + " " + h.getVerdict());
    }
    return out;
  }

  /** Everything PostgreSQL knows about relations: what a dry run must leave as it was. */
  private Map<String, String> catalog() throws Exception {
    Map<String, String> out = new TreeMap<>();
    try (Connection c = db.connect(); Statement s = c.createStatement();
         ResultSet rs = s.executeQuery("""
             SELECT n.nspname || '.' || c.relname, c.relkind::text || ' ' || coalesce(pg_get_expr(c.relpartbound, c.oid), '')
                    || ' ' || c.oid::text || ' ' || c.relfilenode::text || ' ' || c.relchecks::text
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace""")) {
      while (rs.next()) {
        out.put(rs.getString(1), rs.getString(2));
      }
    }
    return out;
  }

  /** Partwright's own tables (policies, audit trail), row by row: a dry run must not write there either. */
  private List<String> partwrightRows() throws Exception {
    List<String> rows = new ArrayList<>();
    try (Connection c = db.connect(); Statement s = c.createStatement()) {
      for (String table : List.of("partwright.managed_tables", "partwright.provisioning_log")) {
        try (ResultSet exists = s.executeQuery("SELECT to_regclass('" + table + "') IS NOT NULL")) {
          exists.next();
          if (!exists.getBoolean(1)) {
            rows.add(table + " absent");
            continue;
          }
        }
        try (ResultSet rs = s.executeQuery("SELECT t::text FROM " + table + " t ORDER BY 1")) {
          while (rs.next()) {
            rows.add(table + ": " + rs.getString(1));
          }
        }
      }
    }
    return rows;
  }

  @Test
  void twoOverlappingRotationsCreateEachPartitionOnce() throws Exception {
    manage();
    CyclicBarrier together = new CyclicBarrier(2);
    List<CompletableFuture<ManageCommandTest.Run>> runs = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      runs.add(CompletableFuture.supplyAsync(() -> {
        try {
          together.await();
        } catch (Exception e) {
          throw new IllegalStateException(e);
        }
        return rotate("--buffer-days", "20", "--output", "json");
      }));
    }
    int created = 0;
    for (CompletableFuture<ManageCommandTest.Run> run : runs) {
      ManageCommandTest.Run r = run.get();
      assertThat(r.exit()).as(r.err()).isZero();
      JsonNode table = new ObjectMapper().readTree(r.out()).get("tables").get(0);
      created += table.get("created").size();
      assertThat(table.get("verdict").asText()).isIn("PROVISIONED", "COVERED");
    }

    Instant today = Instant.now().truncatedTo(java.time.temporal.ChronoUnit.DAYS);
    List<String> expected = new ArrayList<>();
    for (Instant d = today; d.isBefore(Instant.now().plus(Duration.ofDays(20))); d = d.plus(Duration.ofDays(1))) {
      expected.add("events_p" + DAY.format(d).replace("-", ""));
    }
    assertThat(partitions()).containsExactlyElementsOf(expected);
    assertThat(created).isEqualTo(expected.size());
    try (Connection c = db.connect(); Statement s = c.createStatement();
         ResultSet rs = s.executeQuery("SELECT partition_name, count(*) FROM partwright.provisioning_log"
             + " WHERE action = 'created' GROUP BY 1 HAVING count(*) > 1")) {
      assertThat(rs.next()).as("a partition created twice in the audit trail").isFalse();
    }

    ManageCommandTest.Run again = rotate("--buffer-days", "20");
    assertThat(again.exit()).isZero();
    assertThat(again.out()).contains("COVERED").doesNotContain("created");
  }

  @Test
  void dryRunPrintsTheDdlAndTheQuotaVerdictAndChangesNothing() throws Exception {
    manage("--max-partitions", "10");
    Map<String, String> before = catalog();
    List<String> rowsBefore = partwrightRows();

    ManageCommandTest.Run r = rotate("--buffer-days", "7", "--dry-run");

    assertThat(r.exit()).isEqualTo(ExitCodes.OK);
    assertThat(r.out()).contains("WOULD_PROVISION")
        .contains("CREATE TABLE \"public\".\"events_p")
        .contains("ATTACH PARTITION")
        .contains("quota: 8 partitions");
    assertThat(catalog()).isEqualTo(before);

    ManageCommandTest.Run over = rotate("--buffer-days", "30", "--dry-run", "--output", "json");
    JsonNode table = new ObjectMapper().readTree(over.out()).get("tables").get(0);
    assertThat(over.exit()).isEqualTo(ExitCodes.INVARIANT_VIOLATED);
    assertThat(table.get("verdict").asText()).isEqualTo("WOULD_REJECT");
    assertThat(table.get("code").asText()).isEqualTo("QUOTA_PARTITIONS");
    assertThat(catalog()).isEqualTo(before);
    assertThat(partwrightRows()).isEqualTo(rowsBefore);
  }

  @Test
  void aRotationOverQuotaIsNotExecutedAndExitsOne() throws Exception {
    manage("--max-partitions", "10");
    CommandStoreConfig log = commandLog();

    ManageCommandTest.Run r = rotate("--buffer-days", "30", "--output", "json",
        "--bootstrap-servers", log.bootstrapServers(), "--commands-topic", log.commandsTopic(),
        "--schema-registry-url", TestSerdes.url());

    assertThat(r.exit()).isEqualTo(ExitCodes.INVARIANT_VIOLATED);
    JsonNode table = new ObjectMapper().readTree(r.out()).get("tables").get(0);
    assertThat(table.get("verdict").asText()).isEqualTo("REJECTED");
    assertThat(table.get("reason").asText()).contains("over the table quota of 10");
    assertThat(partitions()).isEmpty();
    // the log is well-formed: the refused command, then its answer
    assertThat(history(log)).containsExactly("PROVISION_PARTITIONS APPLIED", "REJECTED APPLIED");
  }

  @Test
  void partitionsPastRetentionAreRetired() throws Exception {
    Instant today = Instant.now().truncatedTo(java.time.temporal.ChronoUnit.DAYS);
    for (int d = 10; d >= 8; d--) {
      Instant day = today.minus(Duration.ofDays(d));
      db.sql("CREATE TABLE public.events_p" + DAY.format(day).replace("-", "") + " PARTITION OF public.events FOR VALUES FROM ('"
          + DAY.format(day) + " 00:00+00') TO ('" + DAY.format(day.plus(Duration.ofDays(1))) + " 00:00+00')");
    }
    manage("--retention-days", "9");
    CommandStoreConfig log = commandLog();

    ManageCommandTest.Run r = rotate("--buffer-days", "2", "--output", "json",
        "--bootstrap-servers", log.bootstrapServers(), "--commands-topic", log.commandsTopic(),
        "--schema-registry-url", TestSerdes.url());

    assertThat(r.exit()).as(r.out() + r.err()).isZero();
    JsonNode table = new ObjectMapper().readTree(r.out()).get("tables").get(0);
    // now - 9 days lies in the partition of day -9: it still holds rows within retention
    assertThat(table.get("retired")).hasSize(1);
    assertThat(partitions()).doesNotContain("events_p" + DAY.format(today.minus(Duration.ofDays(10))).replace("-", ""));
    List<String> expected = new ArrayList<>();
    for (int d = -9; d <= 2; d++) {
      expected.add("events_p" + DAY.format(today.plus(Duration.ofDays(d))).replace("-", ""));
    }
    assertThat(partitions()).as("contiguous from the oldest kept partition").containsExactlyElementsOf(expected);
    // each command answered in the log, and the retired partition is gone from the catalog too
    assertThat(history(log)).containsExactly("PROVISION_PARTITIONS APPLIED", "PROVISIONED APPLIED",
        "RETIRE_PARTITIONS APPLIED", "RETIRED APPLIED");
    String retired = "public.events_p" + DAY.format(today.minus(Duration.ofDays(10))).replace("-", "");
    assertThat(CatalogReplay.fromZero(log, CatalogReplay.Progress.NONE).catalog()
        .aggregate(AggregateId.shared("public", "events")).orElseThrow().partitions()).doesNotContainKey(retired);
  }

  @Test
  void aTenantScopedTableIsRotatedPerTenant() throws Exception {
    db.sql("CREATE TABLE public.usage (tenant_id text NOT NULL, at timestamptz NOT NULL) PARTITION BY LIST (tenant_id)",
        "CREATE TABLE public.usage_acme PARTITION OF public.usage FOR VALUES IN ('acme') PARTITION BY RANGE (at)",
        "CREATE TABLE public.usage_globex PARTITION OF public.usage FOR VALUES IN ('globex') PARTITION BY RANGE (at)");
    ManageCommandTest.Run m = ManageCommandTest.run(new ManageCommand(), "--db-url", db.url(), "--table", "public.usage",
        "--strategy", "range", "--column", "at", "--interval", "day", "--tenant-column", "tenant_id");
    assertThat(m.exit()).as(m.err()).isZero();

    ManageCommandTest.Run r = rotate("--buffer-days", "3", "--table", "public.usage", "--output", "json");

    assertThat(r.exit()).as(r.out() + r.err()).isZero();
    JsonNode tables = new ObjectMapper().readTree(r.out()).get("tables");
    assertThat(tables).hasSize(2);
    assertThat(tables.get(0).get("aggregate").asText()).isEqualTo("acme/public.usage");
    assertThat(tables.get(0).get("created").get(0).asText()).startsWith("public.usage_acme_p");
    assertThat(tables.get(1).get("aggregate").asText()).isEqualTo("globex/public.usage");
  }

  @Test
  void anUnreachableDatabaseExitsThreeAndBadArgumentsTwo() {
    assertThat(ManageCommandTest.run(new RotateCommand(), "--db-url", "jdbc:postgresql://127.0.0.1:1/x?user=x").exit())
        .isEqualTo(ExitCodes.UNAVAILABLE);
    assertThat(rotate("--buffer-days", "0").exit()).isEqualTo(ExitCodes.ERROR);
    assertThat(rotate("--output", "yaml").exit()).isEqualTo(ExitCodes.ERROR);
  }
}
