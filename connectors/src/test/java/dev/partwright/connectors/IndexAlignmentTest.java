package dev.partwright.connectors;

import static dev.partwright.connectors.Commands.provision;
import static dev.partwright.connectors.Commands.spec;
import static dev.partwright.connectors.Commands.time;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.partwright.connectors.postgres.PartitionProvisioner;
import dev.partwright.connectors.postgres.ProvisioningException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Invariant 5: every partition carries every index of its parent's template — unique, partial,
 * expression, multi-column — valid, ready and attached to the parent's index, before it is
 * committed and announced; a partition that does not is never committed.
 */
class IndexAlignmentTest {

  private static final Instant DAY0 = Instant.parse("2026-11-01T00:00:00Z");
  private static TestSchema db;

  @BeforeAll
  static void setUp() throws Exception {
    db = TestSchema.create("indexes");
    db.exec("CREATE TABLE ${s}.orders (id bigint NOT NULL, tenant_id text NOT NULL, ts timestamptz NOT NULL,"
            + " status text, payload jsonb, PRIMARY KEY (tenant_id, id, ts)) PARTITION BY RANGE (ts)",
        "CREATE INDEX orders_ts ON ${s}.orders (ts)",
        "CREATE INDEX orders_open ON ${s}.orders (tenant_id, ts) WHERE status = 'open'",
        "CREATE INDEX orders_customer ON ${s}.orders ((payload ->> 'customer'))",
        "CREATE INDEX orders_payload ON ${s}.orders USING gin (payload)");
  }

  @AfterAll
  static void tearDown() throws Exception {
    db.close();
  }

  private static Object day(int d) {
    Instant from = DAY0.plus(Duration.ofDays(d));
    return time(from, from.plus(Duration.ofDays(1)));
  }

  @Test
  void everyTemplateIndexIsValidReadyAndAttachedOnEveryNewPartition() throws Exception {
    db.provisioner().provision(provision("*/" + db.q("orders"),
        spec(db.q("orders"), db.name, "orders_p0", day(0)), spec(db.q("orders"), db.name, "orders_p1", day(1))));

    for (String partition : List.of("orders_p0", "orders_p1")) {
      assertThat(db.rows("""
          SELECT pi.indexrelid::regclass::text || ' ' || ci.indisvalid || ' ' || ci.indisready
                 || ' ' || (pg_get_indexdef(ci.indexrelid) LIKE '%%' || split_part(pg_get_indexdef(pi.indexrelid), ' USING ', 2))
            FROM pg_index pi
            JOIN pg_inherits ih ON ih.inhparent = pi.indexrelid
            JOIN pg_index ci ON ci.indexrelid = ih.inhrelid
           WHERE pi.indrelid = '${s}.orders'::regclass AND ci.indrelid = '${s}.%s'::regclass
           ORDER BY 1""".formatted(partition))).containsExactly(
          db.q("orders_customer") + " true true true",
          db.q("orders_open") + " true true true",
          db.q("orders_payload") + " true true true",
          db.q("orders_pkey") + " true true true",
          db.q("orders_ts") + " true true true");
    }
  }

  @Test
  void aPartitionWithAnInvalidIndexFailsVerificationAndIsNeverCommitted() throws Exception {
    PartitionProvisioner provisioner = db.provisioner(TestSchema.fastLimits(), (step, partition, c) -> {
      if (step == PartitionProvisioner.Step.ATTACHED) {
        try (Statement s = c.createStatement()) {
          // inside the provisioning transaction: what an index build that failed half-way leaves
          s.execute("UPDATE pg_index SET indisready = false WHERE indexrelid = (SELECT ci.indexrelid FROM pg_index ci"
              + " JOIN pg_inherits ih ON ih.inhrelid = ci.indexrelid WHERE ih.inhparent = '" + db.q("orders_open")
              + "'::regclass AND ci.indrelid = '" + partition + "'::regclass)");
        }
      }
    });
    List<String> before = db.relations();

    ProvisioningException e = catchThrowableOfType(() -> provisioner.provision(provision("*/" + db.q("orders"),
        spec(db.q("orders"), db.name, "orders_p2", day(2)))), ProvisioningException.class);

    assertThat(e.code()).isEqualTo("INDEX_UNALIGNED");
    assertThat(e.getMessage()).contains(db.q("orders_open"));
    assertThat(db.relations()).isEqualTo(before);
  }
}
