package dev.partwright.connectors;

import static dev.partwright.connectors.Commands.longs;
import static dev.partwright.connectors.Commands.provision;
import static dev.partwright.connectors.Commands.spec;
import static dev.partwright.connectors.Commands.time;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.partwright.connectors.postgres.PartitionProvisioner;
import dev.partwright.connectors.postgres.ProvisioningException;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.RangeBound;
import dev.partwright.schemas.TextValue;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Invariant 1 before announcement: a command's range partitions must meet their neighbours — the
 * existing ones and each other — with no gap and no overlap, compared in the key's own type. A
 * command that would break coverage is rejected before any DDL.
 */
class CoverageTest {

  private static final Instant DAY0 = Instant.parse("2026-10-01T00:00:00Z");
  private static TestSchema db;
  private static PartitionProvisioner provisioner;
  /** DDL steps {@link #watched} reached: none when a command is rejected before any DDL. */
  private static final List<PartitionProvisioner.Step> steps = new CopyOnWriteArrayList<>();
  /** A worker of its own whose commands' steps are {@link #steps}. */
  private static PartitionProvisioner watched;

  @BeforeAll
  static void setUp() throws Exception {
    db = TestSchema.create("coverage");
    provisioner = db.provisioner();
    watched = db.provisioner(TestSchema.fastLimits(), (step, partition, c) -> steps.add(step));
  }

  @AfterAll
  static void tearDown() throws Exception {
    db.close();
  }

  private static PartitionSpec day(String table, int d) {
    Instant from = DAY0.plus(Duration.ofDays(d));
    return spec(db.q(table), db.name, table + "_d" + (d < 0 ? "m" + -d : d), time(from, from.plus(Duration.ofDays(1))));
  }

  private static List<PartitionSpec> days(String table, int from, int to) {
    List<PartitionSpec> specs = new ArrayList<>();
    for (int d = from; d < to; d++) {
      specs.add(day(table, d));
    }
    return specs;
  }

  private static void timeTable(String table) throws Exception {
    db.exec("CREATE TABLE ${s}." + table + " (ts timestamptz NOT NULL) PARTITION BY RANGE (ts)");
  }

  private static ProvisioningException rejected(String table, List<PartitionSpec> specs) {
    return rejected(provisioner, table, specs);
  }

  private static ProvisioningException rejected(PartitionProvisioner p, String table, List<PartitionSpec> specs) {
    return catchThrowableOfType(() -> p.provision(provision("*/" + db.q(table), specs)), ProvisioningException.class);
  }

  /** Days [from, to) of each range, a command each, through the provisioner that remembers what it printed. */
  private static void provisionWatched(String table, int[]... ranges) throws Exception {
    for (int[] r : ranges) {
      watched.provision(provision("*/" + db.q(table), days(table, r[0], r[1])));
    }
  }

  /** The watched provisioner refuses {@code specs} with {@code code} before reaching any DDL step. */
  private static ProvisioningException rejectedBeforeAnyDdl(String table, List<PartitionSpec> specs, String code) {
    steps.clear();
    ProvisioningException e = rejected(watched, table, specs);
    assertThat(e.kind()).isEqualTo(ProvisioningException.Kind.REJECTED);
    assertThat(steps).as("DDL steps reached").isEmpty();
    assertThat(e.code()).isEqualTo(code);
    return e;
  }

  @Test
  void forwardThenBackwardProvisioningStaysContiguousFromEdgeToEdge() throws Exception {
    timeTable("runway");
    provisioner.provision(provision("*/" + db.q("runway"), days("runway", 0, 30)));

    // prepending in ascending order: the first new day meets an existing one only after the last
    provisioner.provision(provision("*/" + db.q("runway"), days("runway", -5, 0)));

    // each partition's lower bound is its predecessor's upper bound, and there are 35 of them
    assertThat(db.count("""
        WITH b AS (
          SELECT substring(pg_get_expr(c.relpartbound, c.oid) FROM 'FROM \\(''([^'']+)''\\)')::timestamptz AS lo,
                 substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \\(''([^'']+)''\\)')::timestamptz AS hi
            FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = '${s}.runway'::regclass)
        SELECT count(*) FROM (SELECT lo, lag(hi) OVER (ORDER BY lo) AS prev FROM b) x
         WHERE prev IS NULL OR prev = lo""")).isEqualTo(35);
  }

  @Test
  void aGapNextToExistingPartitionsIsRejectedBeforeAnyDdl() throws Exception {
    timeTable("gappy");
    provisioner.provision(provision("*/" + db.q("gappy"), days("gappy", 0, 3)));
    List<String> before = db.relations();

    ProvisioningException e = rejected("gappy", days("gappy", 4, 6));

    assertThat(e.kind()).isEqualTo(ProvisioningException.Kind.REJECTED);
    assertThat(e.code()).isEqualTo("COVERAGE_GAP");
    assertThat(e.getMessage()).contains("gap between " + db.q("gappy_d2") + " and " + db.q("gappy_d4"));
    assertThat(db.relations()).isEqualTo(before);
  }

  @Test
  void aGapInsideTheCommandIsRejected() throws Exception {
    timeTable("holes");
    List<PartitionSpec> specs = new ArrayList<>(days("holes", 0, 2));
    specs.addAll(days("holes", 3, 5));

    ProvisioningException e = rejected("holes", specs);

    assertThat(e.code()).isEqualTo("COVERAGE_GAP");
    assertThat(db.tree("holes")).isEmpty();
  }

  @Test
  void anOverlapWithAnExistingPartitionUnderAnotherNameIsRejected() throws Exception {
    timeTable("overlap");
    provisioner.provision(provision("*/" + db.q("overlap"), days("overlap", 0, 2)));
    Instant from = DAY0.plus(Duration.ofHours(36));

    ProvisioningException e = rejected("overlap",
        List.of(spec(db.q("overlap"), db.name, "overlap_half", time(from, from.plus(Duration.ofDays(1))))));

    assertThat(e.code()).isEqualTo("COVERAGE_OVERLAP");
    assertThat(db.tree("overlap")).hasSize(2);
  }

  @Test
  void bigintBoundsAreOrderedAsNumbersNotAsText() throws Exception {
    db.exec("CREATE TABLE ${s}.ids (id bigint NOT NULL) PARTITION BY RANGE (id)");
    provisioner.provision(provision("*/" + db.q("ids"),
        spec(db.q("ids"), db.name, "ids_a", longs(2L, 9L)), spec(db.q("ids"), db.name, "ids_b", longs(9L, 10L))));

    // contiguous only when 9 < 10 < 100, which text order ('10' < '100' < '2' < '9') gets wrong
    provisioner.provision(provision("*/" + db.q("ids"), spec(db.q("ids"), db.name, "ids_c", longs(10L, 100L))));
    ProvisioningException e = rejected("ids", List.of(spec(db.q("ids"), db.name, "ids_e", longs(101L, 200L))));

    assertThat(db.tree("ids")).hasSize(3);
    assertThat(e.code()).isEqualTo("COVERAGE_GAP");
  }

  @Test
  void textBoundsHoldingTheSeparatorOfTheirPrintedFormAreStillReadRight() throws Exception {
    // printed "FOR VALUES FROM ('a) TO (b') TO ('c''d')": the first ") TO (" is inside the lower value
    db.exec("CREATE TABLE ${s}.names (name text NOT NULL) PARTITION BY RANGE (name)",
        "CREATE TABLE ${s}.names_a PARTITION OF ${s}.names FOR VALUES FROM ('a) TO (b') TO ('c''d')");

    provisioner.provision(provision("*/" + db.q("names"), spec(db.q("names"), db.name, "names_c", texts("c'd", "e"))));
    // 'b' lies inside [a) TO (b, c'd): an overlap only a correct reading of names_a's bound can see
    ProvisioningException e = rejected("names", List.of(spec(db.q("names"), db.name, "names_b", texts("b", "c'd"))));

    assertThat(e.code()).isEqualTo("COVERAGE_OVERLAP");
    assertThat(db.tree("names")).hasSize(2);
  }

  @Test
  void aParentChangedBetweenTwoCommandsOfOneWorkerIsReadAsItIsNow() throws Exception {
    // the second command's reads go out with the parent as the first command saw it, and are checked
    timeTable("remade");
    timeTable("defaulted");
    provisioner.provision(provision("*/" + db.q("remade"), days("remade", 0, 1)));
    provisioner.provision(provision("*/" + db.q("defaulted"), days("defaulted", 0, 1)));
    db.exec("DROP TABLE ${s}.remade",
        "CREATE TABLE ${s}.remade (id bigint NOT NULL) PARTITION BY RANGE (id)",
        "CREATE TABLE ${s}.defaulted_default PARTITION OF ${s}.defaulted DEFAULT",
        "INSERT INTO ${s}.defaulted VALUES ('" + DAY0.plus(Duration.ofHours(30)) + "')");

    // another key type: bounds cast by the old one fail, and are read again with the new one
    provisioner.provision(provision("*/" + db.q("remade"), spec(db.q("remade"), db.name, "remade_a", longs(1L, 10L))));
    // a DEFAULT partition since: its row of the new day is moved, not left for ATTACH to refuse
    PartitionProvisioner.Result r = provisioner.provision(provision("*/" + db.q("defaulted"), days("defaulted", 1, 2)));

    assertThat(db.tree("remade")).extracting(line -> line.split(" ")[0]).containsExactly("remade_a");
    assertThat(r.rowsMovedFromDefault()).isEqualTo(1);
  }

  @Test
  void aNeighbourShortenedByAnotherSessionBetweenTwoCommandsIsSeenAsItIsNow() throws Exception {
    // the third command printed stride_d0..d2 and remembers them; stride_d3 is then dropped and
    // stride_d2 detached and attached again, same table, same oid, half a day shorter: remembered as
    // it was, it would meet day 3
    timeTable("stride");
    provisionWatched("stride", new int[] {0, 2}, new int[] {2, 3}, new int[] {3, 4});
    Instant d2 = DAY0.plus(Duration.ofDays(2));
    db.exec("DROP TABLE ${s}.stride_d3", "ALTER TABLE ${s}.stride DETACH PARTITION ${s}.stride_d2",
        "ALTER TABLE ${s}.stride ATTACH PARTITION ${s}.stride_d2 FOR VALUES FROM ('" + d2 + "') TO ('"
            + d2.plus(Duration.ofHours(12)) + "')");
    List<String> before = db.relations();

    ProvisioningException e = rejectedBeforeAnyDdl("stride", days("stride", 3, 4), "COVERAGE_GAP");

    assertThat(e.getMessage()).contains("gap between " + db.q("stride_d2") + " and " + db.q("stride_d3"));
    assertThat(db.relations()).isEqualTo(before);
  }

  @Test
  void aNeighbourWidenedByAnotherSessionBetweenTwoCommandsIsSeenAsItIsNow() throws Exception {
    // as above, sprawl_d1 now reaching into the day the next command wants: an overlap, found before any DDL
    timeTable("sprawl");
    provisionWatched("sprawl", new int[] {0, 1}, new int[] {1, 2}, new int[] {2, 3});
    Instant d1 = DAY0.plus(Duration.ofDays(1));
    db.exec("ALTER TABLE ${s}.sprawl DETACH PARTITION ${s}.sprawl_d2",
        "ALTER TABLE ${s}.sprawl DETACH PARTITION ${s}.sprawl_d1",
        "ALTER TABLE ${s}.sprawl ATTACH PARTITION ${s}.sprawl_d1 FOR VALUES FROM ('" + d1 + "') TO ('"
            + d1.plus(Duration.ofHours(36)) + "')",
        "DROP TABLE ${s}.sprawl_d2");
    List<String> before = db.relations();

    rejectedBeforeAnyDdl("sprawl", days("sprawl", 2, 4), "COVERAGE_OVERLAP");

    assertThat(db.relations()).isEqualTo(before);
  }

  @Test
  void aNeighbourDetachedByAnotherSessionBetweenTwoCommandsIsNoLongerOne() throws Exception {
    // the partition the last command saw as the one before the next day is gone from the parent: a gap
    timeTable("lapse");
    provisionWatched("lapse", new int[] {0, 2}, new int[] {2, 3}, new int[] {3, 4});
    db.exec("DROP TABLE ${s}.lapse_d3", "ALTER TABLE ${s}.lapse DETACH PARTITION ${s}.lapse_d2");

    ProvisioningException e = rejectedBeforeAnyDdl("lapse", days("lapse", 3, 4), "COVERAGE_GAP");

    assertThat(e.getMessage()).contains("gap between " + db.q("lapse_d1") + " and " + db.q("lapse_d3"));
    assertThat(db.tree("lapse")).hasSize(2);
  }

  private static RangeBound texts(String from, String to) {
    return new RangeBound(List.of(new TextValue(from)), List.of(new TextValue(to)));
  }
}
