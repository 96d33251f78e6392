package dev.partwright.connectors;

import static dev.partwright.connectors.Commands.key;
import static dev.partwright.connectors.Commands.list;
import static dev.partwright.connectors.Commands.provision;
import static dev.partwright.connectors.Commands.retire;
import static dev.partwright.connectors.Commands.spec;
import static dev.partwright.connectors.Commands.time;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.Rejected;
import dev.partwright.schemas.Strategy;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every schema, table, column and tenant name in a command is validated before it gets near SQL:
 * a list of SQL-injection and look-alike strings, in every position a command carries a name, is
 * answered with {@code Rejected(INVALID_IDENTIFIER)} by the running worker, and the catalog
 * ({@code pg_class}, {@code pg_namespace}) is exactly as it was.
 */
class HostileIdentifiersTest {

  static final List<String> HOSTILE = List.of(
      "events\"; DROP TABLE victim; --",
      "events'; DROP TABLE victim; --",
      "events; DROP SCHEMA public CASCADE",
      "events--",
      "events/*",
      "\"events\"",
      "Events",
      "\u0435vents", // Cyrillic e
      "ev\u0435nts",
      "\uFF45vents", // fullwidth e
      "events\u200B", // zero-width space
      "events\u0000",
      "events\n",
      "ev ents",
      " events",
      "events.p1",
      "a\\b",
      "1events",
      "$events",
      "a".repeat(64),
      "\u00e9".repeat(32), // 64 bytes in UTF-8
      "pg_events",
      "");

  private static final Instant DAY0 = Instant.parse("2026-12-01T00:00:00Z");
  private static TestSchema db;
  private static WorkerFixture kafka;

  @BeforeAll
  static void setUp() throws Exception {
    db = TestSchema.create("hostile");
    db.exec("CREATE TABLE ${s}.events (tenant_id text NOT NULL, ts timestamptz NOT NULL) PARTITION BY RANGE (ts)",
        "CREATE TABLE ${s}.tenants (tenant_id text NOT NULL, ts timestamptz NOT NULL) PARTITION BY LIST (tenant_id)",
        "CREATE TABLE ${s}.victim (x int)");
    kafka = new WorkerFixture("hostile");
    kafka.start(kafka.config(TestSchema.fastLimits()), db.provisioner(), new SimpleMeterRegistry());
  }

  @AfterAll
  static void tearDown() throws Exception {
    kafka.close();
    db.close();
  }

  private static ProvisionPartitions day(String parent, String schema, String name) {
    return provision("*/" + db.q("events"), spec(parent, schema, name, time(DAY0, DAY0.plus(Duration.ofDays(1)))));
  }

  @Test
  void everyHostileNameInEveryPositionIsRejectedAndTheCatalogIsUntouched() throws Exception {
    Map<String, Function<String, Object>> positions = Map.of(
        "parent table", h -> day(db.name + "." + h, db.name, "events_p0"),
        "parent schema", h -> day(h + ".events", db.name, "events_p0"),
        "partition schema", h -> day(db.q("events"), h, "events_p0"),
        "partition name", h -> day(db.q("events"), db.name, h),
        "subpartition column", h -> provision("*/" + db.q("events"), spec(db.q("events"), db.name, "events_p0",
            time(DAY0, DAY0.plus(Duration.ofDays(1))), key(Strategy.HASH, h, "uuid"))),
        "retired partition", h -> retire("*/" + db.q("events"), null, db.name + "." + h),
        "archive schema", h -> retire("*/" + db.q("events"), h, db.q("events_p0")));
    List<String> catalogBefore = catalog();
    int sent = 0;
    for (String hostile : HOSTILE) {
      for (Function<String, Object> position : positions.values()) {
        kafka.send("*/" + db.q("events"), position.apply(hostile));
        sent++;
      }
    }
    // tenant names are list values, quoted as literals, but control and invisible characters are refused
    for (String tenant : List.of("acme\u0000", "acme\n", "acme\u200B", "", "x".repeat(256))) {
      kafka.send("acme/" + db.q("tenants"), provision("acme/" + db.q("tenants"),
          spec(db.q("tenants"), db.name, "tenants_acme", list(tenant))));
      sent++;
    }

    var rejected = kafka.outcomes(Rejected.class);
    int expected = sent;
    await().atMost(Duration.ofSeconds(90)).until(() -> rejected.poll().size() >= expected);

    List<Rejected> all = rejected.poll();
    assertThat(all).hasSize(sent);
    List<String> notInvalidIdentifier = new ArrayList<>();
    for (Rejected r : all) {
      if (!r.getCode().equals("INVALID_IDENTIFIER")) {
        notInvalidIdentifier.add(r.getCode() + ": " + r.getReason());
      }
    }
    assertThat(notInvalidIdentifier).isEmpty();
    assertThat(catalog()).isEqualTo(catalogBefore);
    assertThat(db.count("SELECT count(*) FROM ${s}.victim")).isZero();
  }

  /** Every relation and schema of the database, with its oid. */
  private static List<String> catalog() throws Exception {
    List<String> rows = new ArrayList<>(db.rows("SELECT oid || ' ' || relname || ' ' || relnamespace FROM pg_class"
        + " ORDER BY oid"));
    rows.addAll(db.rows("SELECT oid || ' ' || nspname FROM pg_namespace ORDER BY oid"));
    return rows;
  }
}
