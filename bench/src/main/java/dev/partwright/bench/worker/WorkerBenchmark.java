package dev.partwright.bench.worker;

import com.zaxxer.hikari.HikariDataSource;
import dev.partwright.bench.Stats;
import dev.partwright.connectors.WorkerDataSource;
import dev.partwright.connectors.postgres.PartitionProvisioner;
import dev.partwright.embedded.PostgresEndpoint;
import dev.partwright.embedded.Servers;
import dev.partwright.schemas.Bounds;
import dev.partwright.schemas.CommandHeader;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.ProvisionPartitions;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.UUID;
import javax.sql.DataSource;

/**
 * The provisioning worker's DDL path against its baselines, measured in the same run on the same
 * PostgreSQL (embedded, or {@code PARTWRIGHT_DB_URL}), after a warm-up round (JIT, PostgreSQL's
 * caches) that is not counted. On a shared machine the load changes from second to second, so the
 * variants are interleaved command by command, not round by round.
 *
 * <ol>
 *   <li><b>throughput</b>: partitions per second through {@link PartitionProvisioner} — commands of
 *       {@code --command-size} daily partitions: coverage plan, standalone create with the parent's
 *       2-index template, ATTACH, verification (bound, indexes, contiguity) in the transaction
 *       before its commit, audit rows — vs. the plain JDBC loop the issue names (one transaction per
 *       partition, {@code CREATE TABLE ... PARTITION OF} + {@code CREATE INDEX} for the same two
 *       indexes, on a parent without the template), the same loop on a parent with the template
 *       ({@code PARTITION OF} builds and attaches the indexes itself: the same end state as ours),
 *       and Partwright with one partition per transaction (what the guarantees cost without
 *       batching). Every variant creates the same partitions of its own identical parent, one
 *       command's worth in turn, the order rotating. Goal: at least 0.8x the loop, as the
 *       median of the rounds' ratios.
 *   <li><b>insert latency</b>: p99 of single-row inserts into the parent (today's partition) while
 *       {@code --window-partitions} partitions are provisioned (in commands of {@code
 *       --latency-command-size}, by default one command for the whole window, as the planner emits a
 *       new tenant's buffer), vs. the same insert load on the same table for as long with no DDL:
 *       command by command, a DDL window, a quiet window and a CPU-busy control window of the same
 *       length, in rotating order; each round on fresh tables, after warm-up rounds that last until
 *       the JIT compilers of both JVMs are quiet. The inserts come from a separate JVM ({@link
 *       InsertLoad}), as an application's would: in the worker's JVM they would measure its garbage
 *       collector. Reported: the p99 ratio over all rounds' inserts pooled, with a 90% bootstrap
 *       interval over the commands' window pairs (goal: at most 1.2x), each round's ratio and their
 *       median; the plain loop under the same load for reference. Run it as the worker runs
 *       ({@code -XX:TieredStopAtLevel=1}): the header says whether it was.
 * </ol>
 *
 * <p>{@code ./mvnw -B -q -pl bench exec:exec -Dexec.executable=java -Dexec.args="-XX:TieredStopAtLevel=1
 * -cp %classpath dev.partwright.bench.worker.WorkerBenchmark"} (after {@code ./mvnw -B -q -pl bench -am
 * install -DskipTests}; the JVM flag as the worker ships); options {@code --partitions N} (per variant
 * and throughput round, default 200), {@code --rounds R} (default 5), {@code --latency-rounds R}
 * (default 60), {@code --window-partitions N} (default 50), {@code --latency-command-size N} (default:
 * the window), {@code --command-size N} (partitions per command elsewhere, default 10), {@code --profile}
 * (instead: both paths once, every statement timed by kind), {@code --timeline R} (instead: R windows
 * of provisioning with the worker's round trips and each insert timed, the slow inserts matched
 * with what the worker was doing meanwhile), {@code --after-commit R} (instead: what one command's
 * commit costs another session's next inserts, nothing else running).
 */
public final class WorkerBenchmark {

  private static final Instant DAY0 = Instant.parse("2030-01-01T00:00:00Z");

  private final HikariDataSource pool;
  private final PostgresEndpoint postgres;
  private final PartitionProvisioner provisioner;
  private final PartitionProvisioner onePerTransaction;
  private final String schema;
  private final int commandSize;
  /**
   * Partitions per command in the latency windows: by default the whole window, one command, as
   * the planner emits a new tenant's missing buffer (one command; the worker commits up to 64
   * partitions in one transaction).
   */
  private int latencyCommandSize;
  /** How long the last latency DDL window lasted (ms), Partwright's and the plain loop's. */
  private final long[] lastOurs = {0};
  private final long[] lastPlain = {0};
  private int variantCount = 4;
  private int tables;

  private WorkerBenchmark(HikariDataSource pool, PostgresEndpoint postgres, String schema, int commandSize) {
    this.pool = pool;
    this.postgres = postgres;
    this.schema = schema;
    this.commandSize = commandSize;
    this.provisioner = new PartitionProvisioner(pool, PartitionProvisioner.Limits.defaults(), "bench");
    this.onePerTransaction = new PartitionProvisioner(pool,
        PartitionProvisioner.Limits.defaults().withPartitionsPerTransaction(1), "bench");
  }

  public static void main(String[] args) throws Exception {
    int partitions = intArg(args, "--partitions", 200);
    int rounds = intArg(args, "--rounds", 5);
    int latencyRounds = intArg(args, "--latency-rounds", 60);
    int window = intArg(args, "--window-partitions", 50);
    int commandSize = intArg(args, "--command-size", 10);
    PostgresEndpoint pg = Servers.postgres();
    String schema = "bench_worker_" + UUID.randomUUID().toString().substring(0, 8);
    try (HikariDataSource pool = WorkerDataSource.create(pg.jdbcUrl(), pg.user(), pg.password(), 4)) {
      exec(pool, "CREATE SCHEMA " + schema);
      WorkerBenchmark bench = new WorkerBenchmark(pool, pg, schema, commandSize);
      bench.variantCount = intArg(args, "--variants", 4);
      bench.latencyCommandSize = intArg(args, "--latency-command-size", window);
      bench.provisioner.prepare();
      System.out.printf("worker benchmark: %d partitions x %d rounds, commands of %d, %d latency rounds of %d"
          + " partitions in commands of %d, %d cpus, load average %s, %s, %s%n", partitions, rounds, commandSize,
          latencyRounds, window, bench.latencyCommandSize,
          Runtime.getRuntime().availableProcessors(), loadAverage(), version(pool), compilers());
      try {
        if (Arrays.asList(args).contains("--profile")) {
          bench.profile(partitions);
        } else if (Arrays.asList(args).contains("--after-commit")) {
          bench.afterCommit(window, intArg(args, "--after-commit", 5));
        } else if (Arrays.asList(args).contains("--timeline")) {
          bench.timeline(window, intArg(args, "--timeline", 5));
        } else {
          if (rounds > 0) {
            bench.throughput(partitions, rounds);
          }
          if (latencyRounds > 0) {
            bench.latency(window, latencyRounds);
          }
        }
      } finally {
        exec(pool, "DROP SCHEMA " + schema + " CASCADE",
            "DELETE FROM partwright.provisioning_log WHERE partition_name LIKE '" + schema + ".%'");
      }
      System.out.printf("load average at the end: %s%n", loadAverage());
    }
    Servers.shutdown();
  }

  // ------------------------------------------------------------------------------------------
  // throughput

  /** One way of creating daily partitions of its own parent (with the index template or without). */
  private record Variant(String name, boolean templated, Creator creator) {}

  private void throughput(int n, int rounds) throws Exception {
    List<Variant> all = List.of(
        new Variant("partwright", true, (p, from, m) -> provision(provisioner, p, from, m)),
        new Variant("plain loop (issue: PARTITION OF + CREATE INDEX)", false,
            (p, from, m) -> rawLoop(pool, p, from, m, true)),
        new Variant("plain loop, templated parent (PARTITION OF)", true,
            (p, from, m) -> rawLoop(pool, p, from, m, false)),
        new Variant("partwright, 1 partition per transaction", true,
            (p, from, m) -> provision(onePerTransaction, p, from, m)));
    // --variants 2 keeps the first two (the goal's pair) for a quicker run
    List<Variant> variants = all.subList(0, Math.min(all.size(), Math.max(2, variantCount)));
    throughputRound(variants, n, 0); // warm-up, as long as a round: JIT (C2 needs thousands of calls), PostgreSQL's caches
    double[][] rates = new double[variants.size()][rounds];
    for (int r = 0; r < rounds; r++) {
      double[] round = throughputRound(variants, n, r);
      StringBuilder line = new StringBuilder(String.format("  round %d:", r + 1));
      for (int v = 0; v < variants.size(); v++) {
        rates[v][r] = round[v];
        line.append(String.format("  %s %.1f/s", shortName(variants.get(v).name()), round[v]));
      }
      System.out.println(line.append(String.format("  ratio %.2fx", round[0] / round[1])));
    }
    System.out.printf("throughput, median of %d rounds (partitions/s, commands of %d):%n", rounds, commandSize);
    for (int v = 0; v < variants.size(); v++) {
      double[] ratios = new double[rounds];
      for (int r = 0; r < rounds; r++) {
        ratios[r] = rates[0][r] / rates[v][r];
      }
      System.out.printf("  %-55s %7.1f /s   partwright / this: median of round ratios %.2fx (range %.2f-%.2fx)%n",
          variants.get(v).name(), Stats.median(rates[v]), Stats.median(ratios), min(ratios), max(ratios));
    }
    double[] goal = new double[rounds];
    for (int r = 0; r < rounds; r++) {
      goal[r] = rates[0][r] / rates[1][r];
    }
    System.out.printf("throughput: partwright %.1f partitions/s vs plain loop %.1f partitions/s = %.2fx (median of"
        + " round ratios; goal >= 0.80x)%n", Stats.median(rates[0]), Stats.median(rates[1]), Stats.median(goal));
  }

  /**
   * {@code n} partitions for each variant, on fresh parents, interleaved command by command (one
   * command's worth of partitions per variant in turn, the order rotating): on a shared machine the
   * load changes from second to second, and every variant must see the same load.
   */
  private double[] throughputRound(List<Variant> variants, int n, int round) throws Exception {
    String[] parents = new String[variants.size()];
    for (int v = 0; v < variants.size(); v++) {
      parents[v] = parent(variants.get(v).templated());
    }
    long[] nanos = new long[variants.size()];
    int chunk = 0;
    for (int from = 0; from < n; from += commandSize, chunk++) {
      int m = Math.min(commandSize, n - from);
      for (int k = 0; k < variants.size(); k++) {
        int v = (k + chunk + round) % variants.size();
        long t0 = System.nanoTime();
        variants.get(v).creator().create(parents[v], from, m);
        nanos[v] += System.nanoTime() - t0;
      }
    }
    double[] rates = new double[variants.size()];
    for (int v = 0; v < variants.size(); v++) {
      rates[v] = n / (nanos[v] / 1e9);
    }
    return rates;
  }

  private static String shortName(String name) {
    return name.startsWith("partwright, 1") ? "pw-1/tx" : name.startsWith("partwright") ? "partwright"
        : name.contains("templated") ? "loop-tmpl" : "loop";
  }

  @FunctionalInterface
  private interface Creator {
    void create(String parent, int from, int n) throws Exception;
  }

  /** A fresh parent, identical for every variant: with the 2-index template, or without (the loop adds them). */
  private String parent(boolean withIndexTemplate) throws SQLException {
    String table = schema + ".t" + (tables++);
    createParent(pool, table, withIndexTemplate);
    return table;
  }

  /**
   * Plain DDL: one transaction per partition, {@code CREATE TABLE ... PARTITION OF} (ACCESS
   * EXCLUSIVE on the parent) and, with {@code createIndexes}, the two indexes.
   */
  private static void rawLoop(DataSource pool, String parent, int from, int n, boolean createIndexes)
      throws SQLException {
    try (Connection c = pool.getConnection(); Statement s = c.createStatement()) {
      for (int d = from; d < from + n; d++) {
        c.setAutoCommit(false);
        String child = parent + "_p" + d;
        Instant lo = DAY0.plus(Duration.ofDays(d));
        s.execute("CREATE TABLE " + child + " PARTITION OF " + parent + " FOR VALUES FROM ('" + lo + "') TO ('"
            + lo.plus(Duration.ofDays(1)) + "')");
        if (createIndexes) {
          s.execute("CREATE INDEX ON " + child + " (ts)");
          s.execute("CREATE INDEX ON " + child + " (tenant_id, ts)");
        }
        c.commit();
        c.setAutoCommit(true);
      }
    }
  }

  private void provision(PartitionProvisioner p, String parent, int from, int n) throws Exception {
    provision(p, parent, from, n, commandSize);
  }

  /** Partitions {@code from .. from + n - 1} of {@code parent}, in commands of {@code size}. */
  private void provision(PartitionProvisioner p, String parent, int from, int n, int size) throws Exception {
    String table = parent.substring(parent.indexOf('.') + 1);
    for (int start = from; start < from + n; start += size) {
      List<PartitionSpec> specs = new ArrayList<>();
      for (int d = start; d < Math.min(start + size, from + n); d++) {
        Instant lo = DAY0.plus(Duration.ofDays(d));
        specs.add(PartitionSpec.newBuilder().setParent(parent).setSchemaName(schema).setName(table + "_p" + d)
            .setBound(Bounds.timeRange(lo, lo.plus(Duration.ofDays(1)))).build());
      }
      p.provision(ProvisionPartitions.newBuilder()
          .setHeader(CommandHeader.newBuilder().setIdempotencyKey(UUID.randomUUID().toString())
              .setAggregateId("*/" + parent).setExpectedVersion(-1).setIssuedAt(Instant.now()).setIssuedBy("bench")
              .setReason("bench").build())
          .setPartitions(specs).build());
    }
  }

  // ------------------------------------------------------------------------------------------
  // insert latency

  private void latency(int n, int rounds) throws Exception {
    try (Inserter load = new Inserter(postgres)) {
      warmUp(load, n);
      double[] ratios = new double[rounds];
      double[] busyRatios = new double[rounds];
      double[] overBusy = new double[rounds];
      double[] plainRatios = new double[rounds];
      List<Round> all = new ArrayList<>();
      for (int r = 0; r < rounds; r++) {
        long jit = jitMillis(load);
        Round round = latencyRound(load, n, r);
        jit = jitMillis(load) - jit;
        all.add(round);
        ratios[r] = round.ddl().p(0.99) / round.quiet().p(0.99);
        busyRatios[r] = round.busy().p(0.99) / round.quiet().p(0.99);
        overBusy[r] = round.ddl().p(0.99) / round.busy().p(0.99);
        plainRatios[r] = round.plain().p(0.99) / round.plainQuiet().p(0.99);
        System.out.printf("  latency round %d: p99 no DDL %.3f ms (%d inserts), partwright DDL %.3f ms (%d inserts,"
            + " %d ms) = %.2fx, CPU-busy control %.3f ms (%d inserts) = %.2fx;  plain loop %.3f vs %.3f ms = %.2fx;"
            + " JIT %d ms%n",
            r + 1, round.quiet().p(0.99), round.quiet().count(), round.ddl().p(0.99), round.ddl().count(),
            round.ddl().millis(), ratios[r], round.busy().p(0.99), round.busy().count(), busyRatios[r],
            round.plain().p(0.99), round.plainQuiet().p(0.99), plainRatios[r], jit);
      }
      Window quiet = Window.merge(all.stream().map(Round::quiet).toList());
      Window ddl = Window.merge(all.stream().map(Round::ddl).toList());
      Window plain = Window.merge(all.stream().map(Round::plain).toList());
      Window busy = Window.merge(all.stream().map(Round::busy).toList());
      System.out.printf("insert latency, all rounds, no DDL         (%6d inserts): p50 %6.3f ms  p99 %6.3f ms  max %7.2f ms"
          + "  failed %d%n", quiet.count(), quiet.p(0.50), quiet.p(0.99), quiet.max(), quiet.failed());
      System.out.printf("insert latency, all rounds, partwright DDL (%6d inserts): p50 %6.3f ms  p99 %6.3f ms  max %7.2f ms"
          + "  failed %d%n", ddl.count(), ddl.p(0.50), ddl.p(0.99), ddl.max(), ddl.failed());
      System.out.printf("insert latency, all rounds, CPU-busy, no DDL (%6d inserts): p50 %6.3f ms  p99 %6.3f ms  max %7.2f ms"
          + "  failed %d (control)%n", busy.count(), busy.p(0.50), busy.p(0.99), busy.max(), busy.failed());
      System.out.printf("insert latency, all rounds, plain loop DDL (%6d inserts): p50 %6.3f ms  p99 %6.3f ms  max %7.2f ms"
          + "  failed %d (reference)%n", plain.count(), plain.p(0.50), plain.p(0.99), plain.max(), plain.failed());
      List<Window[]> pairs = all.stream().flatMap(r -> r.pairs().stream()).toList();
      double[] interval = bootstrap(pairs, 2_000, 0.05, 0.95);
      System.out.printf("insert p99 while %d partitions are provisioned vs no DDL: %.2fx, all rounds' inserts pooled"
          + " (90%% interval %.2f-%.2fx: bootstrap over the %d commands' DDL / no-DDL window pairs; goal <= 1.20x);"
          + " median of %d round ratios %.2fx (range %.2f-%.2fx); plain loop %.2fx%n", n, ddl.p(0.99) / quiet.p(0.99),
          interval[0], interval[1], pairs.size(), rounds, Stats.median(ratios), min(ratios), max(ratios),
          Stats.median(plainRatios));
      System.out.printf("control: CPU-busy session, no DDL, vs no DDL: %.2fx; partwright DDL vs CPU-busy: %.2fx"
          + " (medians of round ratios)%n", Stats.median(busyRatios), Stats.median(overBusy));
    }
  }

  /**
   * One round: Partwright's windows merged by kind, the plain loop's, and each of Partwright's
   * commands' {no DDL, DDL} windows (made one right after the other: the same machine state).
   */
  private record Round(Window quiet, Window ddl, Window busy, Window plainQuiet, Window plain, List<Window[]> pairs) {}

  /**
   * Quantiles {@code lo} and {@code hi} of the pooled DDL / no-DDL p99 ratio over {@code resamples}
   * resamples of the commands' window pairs (with replacement): how far the estimate moves with
   * which commands happened to meet a busy moment of the machine. Resampling whole windows, not
   * single inserts, keeps the slow inserts that come in bursts together.
   */
  private static double[] bootstrap(List<Window[]> pairs, int resamples, double lo, double hi) {
    Random random = new Random(42);
    List<Window> quiet = pairs.stream().map(pair -> pair[0]).toList();
    List<Window> ddl = pairs.stream().map(pair -> pair[1]).toList();
    double[] quietUnion = Window.merge(quiet).latencies();
    double[] ddlUnion = Window.merge(ddl).latencies();
    double[] ratios = new double[resamples];
    for (int b = 0; b < resamples; b++) {
      int[] times = new int[pairs.size()]; // how often the resample drew each pair
      for (int i = 0; i < pairs.size(); i++) {
        times[random.nextInt(pairs.size())]++;
      }
      ratios[b] = quantile(ddl, times, ddlUnion, 0.99) / quantile(quiet, times, quietUnion, 0.99);
    }
    Arrays.sort(ratios);
    return new double[] {ratios[(int) (lo * (resamples - 1))], ratios[(int) (hi * (resamples - 1))]};
  }

  /**
   * What {@link Window#p} gives for {@code windows} merged, each {@code times[i]} times, without
   * merging them (a merge and sort per resample took ~27 s of a 60-round run): the smallest latency
   * with more than {@code (int) (q * total)} of them at or below it, by binary search over {@code
   * union}, the windows' latencies once each, sorted.
   */
  private static double quantile(List<Window> windows, int[] times, double[] union, double q) {
    long total = 0;
    for (int i = 0; i < windows.size(); i++) {
      total += (long) times[i] * windows.get(i).count();
    }
    if (total == 0) {
      return Double.NaN; // as Window.p of no latencies
    }
    long rank = Math.min(total - 1, (long) (q * total));
    int lo = 0;
    int hi = union.length - 1;
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (atOrBelow(windows, times, union[mid]) > rank) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    return union[lo];
  }

  /** How many latencies of {@code windows}, each counted {@code times[i]} times, are at most {@code v}. */
  private static long atOrBelow(List<Window> windows, int[] times, double v) {
    long count = 0;
    for (int i = 0; i < windows.size(); i++) {
      if (times[i] > 0) {
        double[] sorted = windows.get(i).latencies();
        int lo = 0;
        int hi = sorted.length;
        while (lo < hi) {
          int mid = (lo + hi) >>> 1;
          if (sorted[mid] <= v) {
            lo = mid + 1;
          } else {
            hi = mid;
          }
        }
        count += (long) times[i] * lo;
      }
    }
    return count;
  }

  /** JIT compiler time per warm-up round below which both JVMs count as warm. */
  private static final long WARM_JIT_MILLIS = 25;
  private static final int MAX_WARM_UP_ROUNDS = 12;

  /**
   * Rounds not counted, until the JIT compilers of both JVMs are quiet: a compiler thread working
   * through the worker's code is a third busy thread on a small machine, and its slices landed in the
   * first measured rounds' DDL windows (perf sched: C2 beside the worker's backend on one core while
   * the inserts held the other; those rounds measured 2-2.7x, the later ones 0.9-1.1x). A worker in
   * production has run for hours; what it does to inserts is measured on warm code. Also warms
   * PostgreSQL's caches.
   */
  private void warmUp(Inserter load, int n) throws Exception {
    long jit = jitMillis(load);
    long grew;
    int rounds = 0;
    do {
      latencyRound(load, n, rounds++);
      long now = jitMillis(load);
      grew = now - jit;
      jit = now;
    } while (grew > WARM_JIT_MILLIS && rounds < MAX_WARM_UP_ROUNDS);
    System.out.printf("  warm-up: %d rounds not counted, JIT %d ms in the last (both JVMs; warm below %d ms)%n",
        rounds, grew, WARM_JIT_MILLIS);
  }

  /**
   * Which JIT compilers the worker's JVM (this one) runs: {@code ./partwright run worker}, {@code
   * ./partwright rotate} and deploy/kubernetes run the worker with C1 only.
   */
  private static String compilers() {
    boolean c1 = ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
        .anyMatch(a -> a.equals("-XX:TieredStopAtLevel=1"));
    return c1 ? "worker JVM C1 only (as shipped)"
        : "worker JVM C1 + C2 (NOT as shipped: the worker runs with -XX:TieredStopAtLevel=1)";
  }

  /** JIT compiler time so far (ms) of this JVM (the worker's) and of the insert load's. */
  private static long jitMillis(Inserter load) throws IOException {
    return ManagementFactory.getCompilationMXBean().getTotalCompilationTime() + load.jit();
  }

  /**
   * Fresh tables (one for Partwright, one for the plain loop) with today's partition, where every
   * insert goes; the inserting session warmed up on each; then, command by command, a window while
   * the command's partitions are created and a window as long without DDL, which one comes first
   * alternating — so both sides of the ratio see the same machine load.
   */
  private Round latencyRound(Inserter load, int n, int round) throws Exception {
    String pw = parent(true);
    String raw = parent(true);
    provision(provisioner, pw, 0, 1);
    rawLoop(pool, raw, 0, 1, false);
    List<List<Window>> ours = windows(load, pw, n, round, (from, m) -> provision(provisioner, pw, from, m, m),
        lastOurs);
    List<List<Window>> plain = windows(load, raw, n, round, (from, m) -> rawLoop(pool, raw, from, m, false),
        lastPlain);
    List<Window[]> pairs = new ArrayList<>();
    for (int i = 0; i < ours.get(1).size(); i++) {
      pairs.add(new Window[] {ours.get(0).get(i), ours.get(1).get(i)});
    }
    return new Round(Window.merge(ours.get(0)), Window.merge(ours.get(1)), Window.merge(ours.get(2)),
        Window.merge(plain.get(0)), Window.merge(plain.get(1)), pairs);
  }

  @FunctionalInterface
  private interface Ddl {
    void create(int from, int n) throws Exception;
  }

  /**
   * {quiet, ddl, busy} windows over {@code n} partitions created a command at a time: for each
   * command, a window while its partitions are created, one as long with no DDL, and one as long
   * while another session keeps PostgreSQL busy with a CPU-bound query and no DDL at all — the
   * control that tells what the DDL costs the inserts beyond the CPU it takes on a shared machine.
   * The order of the three rotates from command to command and from round to round; a window
   * without DDL is as long as the last DDL window of its kind ({@code last}, carried from round to
   * round: with one command per round the DDL window would otherwise always come first).
   */
  private List<List<Window>> windows(Inserter load, String table, int n, int round, Ddl ddl, long[] last)
      throws Exception {
    load.table(table);
    load.during(pause(1_000)); // warm-up of the session on this table
    List<List<Window>> kinds = List.of(new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
    int command = 0;
    for (int from = 1; from <= n; from += latencyCommandSize, command++) {
      int f = from;
      int m = Math.min(latencyCommandSize, n + 1 - from);
      int first = last[0] == 0 ? 1 : (command + round) % 3;
      for (int k = 0; k < 3; k++) {
        int kind = (first + k) % 3;
        Window w = switch (kind) {
          case 1 -> load.during(() -> ddl.create(f, m));
          case 0 -> load.during(pause(last[0]));
          default -> load.during(busy(last[0]));
        };
        if (kind == 1) {
          last[0] = w.millis();
        }
        kinds.get(kind).add(w);
      }
    }
    return kinds; // {no DDL, DDL, CPU-busy}, a window per command each
  }

  /** Another session keeping PostgreSQL's CPU busy for {@code millis}: no lock, no catalog change. */
  private Work busy(long millis) {
    return () -> {
      try (Connection c = pool.getConnection(); Statement s = c.createStatement()) {
        long end = System.nanoTime() + Math.max(1, millis) * 1_000_000;
        while (System.nanoTime() < end) {
          s.executeQuery("SELECT count(*) FROM generate_series(1, 20000)").close();
        }
      }
    };
  }

  private static Work pause(long millis) {
    return () -> Thread.sleep(Math.max(1, millis));
  }

  @FunctionalInterface
  private interface Work {
    void run() throws Exception;
  }

  /** Latencies (ms, sorted) of inserts made while some work ran, how long it ran, inserts that failed. */
  private record Window(double[] latencies, long millis, int failed) {
    int count() {
      return latencies.length;
    }

    double p(double q) {
      return latencies.length == 0 ? Double.NaN : latencies[Math.min(latencies.length - 1, (int) (q * latencies.length))];
    }

    double max() {
      return latencies.length == 0 ? Double.NaN : latencies[latencies.length - 1];
    }

    /** Latencies (ms) gathered some other way, in any order: for their percentiles. */
    static Window of(List<Double> ms) {
      return new Window(ms.stream().mapToDouble(Double::doubleValue).sorted().toArray(), 0, 0);
    }

    static Window merge(List<Window> windows) {
      double[] all = windows.stream().flatMapToDouble(w -> Arrays.stream(w.latencies())).sorted().toArray();
      return new Window(all, windows.stream().mapToLong(Window::millis).sum(),
          windows.stream().mapToInt(Window::failed).sum());
    }
  }

  /** The insert load ({@link InsertLoad}) in a JVM of its own, one session, driven over its stdin. */
  private static final class Inserter implements AutoCloseable {
    private final Process process;
    private final PrintStream commands;
    private final BufferedReader answers;

    Inserter(PostgresEndpoint pg) throws IOException {
      String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
      process = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), InsertLoad.class.getName(),
          pg.jdbcUrl(), pg.user(), pg.password()).redirectError(ProcessBuilder.Redirect.INHERIT).start();
      commands = new PrintStream(process.getOutputStream(), true, StandardCharsets.UTF_8);
      answers = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
    }

    /** The insert load JVM's JIT compiler time so far (ms). */
    long jit() throws IOException {
      commands.println("jit");
      String[] parts = answers.readLine().split(" ");
      return Long.parseLong(parts[1]);
    }

    void table(String table) throws IOException {
      ask("table " + table);
    }

    Window during(Work work) throws Exception {
      long[][] timed = duringTimed(work);
      int failed = 0;
      List<Double> ms = new ArrayList<>();
      for (long nanos : timed[1]) {
        if (nanos < 0) {
          failed++;
        } else {
          ms.add(nanos / 1e6);
        }
      }
      return new Window(ms.stream().mapToDouble(Double::doubleValue).sorted().toArray(), timed[2][0] / 1_000_000, failed);
    }

    /** {@code n} inserts one after the other, now (ms, in the order made). */
    double[] once(int n) throws IOException {
      commands.println("once " + n);
      String[] parts = answers.readLine().split(" ");
      double[] ms = new double[n];
      for (int i = 0; i < n; i++) {
        ms[i] = Long.parseLong(parts[i + 2]) / 1e6;
      }
      return ms;
    }

    /**
     * Inserts made while {@code work} ran, in the order made: {starts (System.nanoTime)}, {latencies
     * (ns; -1 failed)}, {the window's length (ns)}.
     */
    long[][] duringTimed(Work work) throws Exception {
      ask("start");
      long t0 = System.nanoTime();
      try {
        work.run();
      } finally {
        commands.println("stop");
      }
      long length = System.nanoTime() - t0;
      String[] latencies = answers.readLine().split(" ");
      commands.println("starts");
      String[] starts = answers.readLine().split(" ");
      int count = Integer.parseInt(latencies[1]);
      long[][] out = {new long[count], new long[count], {length}};
      for (int i = 0; i < count; i++) {
        out[0][i] = Long.parseLong(starts[i + 2]);
        out[1][i] = Long.parseLong(latencies[i + 2]);
      }
      return out;
    }

    private void ask(String command) throws IOException {
      commands.println(command);
      String answer = answers.readLine();
      if (!"ok".equals(answer)) {
        throw new IOException("insert load answered " + answer + " to " + command);
      }
    }

    @Override
    public void close() throws InterruptedException {
      commands.println("quit");
      if (!process.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)) {
        process.destroy();
      }
    }
  }

  // ------------------------------------------------------------------------------------------
  // timeline

  /**
   * What the worker was doing while an insert was slow: {@code rounds} windows, each while {@code n}
   * partitions are provisioned (commands of {@link #commandSize}), every round trip of the worker
   * and every insert timed on one clock. Inserts are grouped by the worker round trip they overlapped
   * most (or "between round trips": the worker's own JVM, or idle), with p50 / p99 / max per group,
   * beside a window as long without DDL; the slowest inserts are listed with their overlaps.
   */
  private void timeline(int n, int rounds) throws Exception {
    StatementProfile profile = new StatementProfile();
    PartitionProvisioner timed = new PartitionProvisioner(profile.wrap(pool), PartitionProvisioner.Limits.defaults(),
        "bench");
    timed.prepare();
    Map<String, List<Double>> byKind = new TreeMap<>();
    List<Double> quiet = new ArrayList<>();
    List<Double> ddl = new ArrayList<>();
    List<String> slowest = new ArrayList<>();
    List<double[]> slow = new ArrayList<>(); // latency, index into slowest
    List<Double> notAfterCommit = new ArrayList<>();
    try (Inserter load = new Inserter(postgres)) {
      for (int r = -4; r < rounds; r++) { // rounds -4..-1 warm up both JVMs and PostgreSQL's caches
        String table = parent(true);
        provision(timed, table, 0, 1);
        load.table(table);
        load.during(pause(1_000));
        profile.record();
        long[][] window = load.duringTimed(() -> provision(timed, table, 1, n));
        List<StatementProfile.Span> spans = profile.stopRecording();
        long millis = (window[2][0]) / 1_000_000;
        long[][] still = load.duringTimed(pause(millis));
        if (r < 0) {
          continue;
        }
        for (long ns : still[1]) {
          if (ns >= 0) {
            quiet.add(ns / 1e6);
          }
        }
        // the first two inserts that began after each commit began: they process the command's
        // catalog invalidations, rebuild the parent's partition descriptor and re-plan
        boolean[] afterCommit = new boolean[window[0].length];
        for (StatementProfile.Span sp : spans) {
          if (sp.kind().equals("COMMIT")) {
            int first = 0;
            while (first < window[0].length && window[0][first] < sp.start()) {
              first++;
            }
            for (int k = first; k < Math.min(first + 2, afterCommit.length); k++) {
              afterCommit[k] = true;
            }
          }
        }
        for (int i = 0; i < window[0].length; i++) {
          if (window[1][i] < 0) {
            continue; // a failed insert (none so far): the harness prints its stack trace
          }
          if (!afterCommit[i]) {
            notAfterCommit.add(window[1][i] / 1e6);
          }
          long start = window[0][i];
          long end = start + window[1][i];
          double ms = window[1][i] / 1e6;
          ddl.add(ms);
          String most = "between round trips";
          long best = 0;
          StringBuilder all = new StringBuilder();
          for (StatementProfile.Span sp : spans) {
            long overlap = Math.min(end, sp.end()) - Math.max(start, sp.start());
            if (overlap > 0) {
              all.append(all.length() > 0 ? " | " : "").append(sp.kind()).append(String.format(" %.2f ms", overlap / 1e6));
              if (overlap > best) {
                best = overlap;
                most = sp.kind();
              }
            }
          }
          byKind.computeIfAbsent(most, k -> new ArrayList<>()).add(ms);
          slow.add(new double[] {ms, slowest.size()});
          slowest.add(String.format("round %d: %.3f ms, overlapping: %s", r, ms, all.length() == 0 ? "nothing" : all));
        }
      }
    }
    System.out.printf("insert latency, %d windows of %d partitions (commands of %d):%n", rounds, n, commandSize);
    timelineRow("  ", "no DDL (same length, after each)", quiet);
    timelineRow("  ", "while provisioning, all", ddl);
    timelineRow("  ", "while provisioning, without the first two inserts after each commit", notAfterCommit);
    System.out.println("  by the worker round trip each insert overlapped most:");
    byKind.forEach((k, v) -> timelineRow("    ", k, v));
    slow.sort((a, b) -> Double.compare(b[0], a[0]));
    int top = Math.max(10, ddl.size() / 100);
    System.out.printf("  the %d slowest inserts while provisioning (the top 1 %%, at least 10):%n", top);
    for (int i = 0; i < Math.min(top, slow.size()); i++) {
      System.out.println("    " + slowest.get((int) slow.get(i)[1]));
    }
  }

  /** One line of {@link #timeline}: how many inserts, p50, p99 and max of {@code ms}, under {@code label}. */
  private static void timelineRow(String indent, String label, List<Double> ms) {
    Window w = Window.of(ms);
    int width = 82 - indent.length();
    System.out.printf("%s%-" + width + "s %6d inserts  p50 %6.3f  p99 %6.3f  max %7.2f ms%n", indent,
        label.length() > width ? label.substring(0, width) : label, w.count(), w.p(0.5), w.p(0.99), w.max());
  }

  /**
   * What a command's commit costs another session, with nothing running at the same time: after
   * each command (its partitions created, attached, committed), the inserting session makes three
   * inserts one after the other; then three more with no commit in between (the baseline). The
   * first insert after a commit processes the command's catalog invalidations, rebuilds the
   * parent's partition descriptor and re-plans; the others show what an insert costs otherwise.
   */
  private void afterCommit(int n, int rounds) throws Exception {
    List<Double> first = new ArrayList<>();
    List<Double> second = new ArrayList<>();
    List<Double> plain = new ArrayList<>();
    List<Double> plainFirst = new ArrayList<>();
    try (Inserter load = new Inserter(postgres)) {
      for (int r = -1; r < rounds; r++) { // round -1 warms up
        String table = parent(true);
        String raw = parent(false);
        provision(provisioner, table, 0, 1);
        rawLoop(pool, raw, 0, 1, false);
        for (boolean ours : new boolean[] {true, false}) {
          String t = ours ? table : raw;
          load.table(t);
          load.once(20);
          for (int from = 1; from <= n; from += commandSize) {
            int m = Math.min(commandSize, n + 1 - from);
            if (ours) {
              provision(provisioner, t, from, m);
            } else {
              rawLoop(pool, t, from, m, true); // the plain loop: one commit per partition
            }
            double[] after = load.once(3);
            double[] again = load.once(3);
            if (r >= 0) {
              (ours ? first : plainFirst).add(after[0]);
              if (ours) {
                second.add(after[1]);
                plain.add(again[0]);
              }
            }
          }
        }
      }
    }
    System.out.printf("one command's commit as another session sees it (%d rounds of %d partitions, commands of %d):%n",
        rounds, n, commandSize);
    System.out.printf("  first insert after a partwright command's commit   %4d x  p50 %6.3f  max %6.3f ms%n", first.size(),
        Window.of(first).p(0.5), Window.of(first).max());
    System.out.printf("  second insert after it                              %4d x  p50 %6.3f  max %6.3f ms%n", second.size(),
        Window.of(second).p(0.5), Window.of(second).max());
    System.out.printf("  an insert with no commit since the last one         %4d x  p50 %6.3f  max %6.3f ms%n", plain.size(),
        Window.of(plain).p(0.5), Window.of(plain).max());
    System.out.printf("  first insert after the plain loop's %d commits      %4d x  p50 %6.3f  max %6.3f ms%n", commandSize,
        plainFirst.size(), Window.of(plainFirst).p(0.5), Window.of(plainFirst).max());
  }

  // ------------------------------------------------------------------------------------------
  // profile

  /**
   * Partwright and the plain loop, interleaved command by command as in the throughput
   * rounds, every statement timed by kind: where the time goes. The second round is printed.
   */
  private void profile(int n) throws Exception {
    StatementProfile profile = new StatementProfile();
    DataSource timed = profile.wrap(pool);
    PartitionProvisioner timedProvisioner = new PartitionProvisioner(timed, PartitionProvisioner.Limits.defaults(),
        "bench");
    PrintWriter out = new PrintWriter(System.out);
    for (int r = 0; r < 2; r++) {
      profile.reset();
      String raw = parent(false);
      String pw = parent(true);
      long[] wall = new long[2];
      for (int from = 0; from < n; from += commandSize) {
        int m = Math.min(commandSize, n - from);
        for (int k = 0; k < 2; k++) {
          int v = (k + from / commandSize) % 2;
          profile.label(v == 0 ? "partwright|" : "plain loop|");
          long t0 = System.nanoTime();
          if (v == 0) {
            provision(timedProvisioner, pw, from, m);
          } else {
            rawLoop(timed, raw, from, m, true);
          }
          wall[v] += System.nanoTime() - t0;
        }
      }
      if (r == 1) {
        profile.print(out, String.format("round %d, wall: partwright %.1f ms, plain loop %.1f ms", r + 1,
            wall[0] / 1e6, wall[1] / 1e6), n);
        profile.printByLabel(out, n);
      }
    }
  }

  // ------------------------------------------------------------------------------------------

  private static void createParent(DataSource pool, String table, boolean withIndexTemplate) throws SQLException {
    exec(pool, "CREATE TABLE " + table + " (tenant_id text NOT NULL, ts timestamptz NOT NULL, v int, payload jsonb)"
        + " PARTITION BY RANGE (ts)");
    if (withIndexTemplate) {
      exec(pool, "CREATE INDEX ON " + table + " (ts)", "CREATE INDEX ON " + table + " (tenant_id, ts)");
    }
  }

  private static void exec(DataSource pool, String... sql) throws SQLException {
    try (Connection c = pool.getConnection(); Statement s = c.createStatement()) {
      for (String q : sql) {
        s.execute(q);
      }
    }
  }

  private static String version(DataSource pool) throws SQLException {
    try (Connection c = pool.getConnection(); Statement s = c.createStatement();
         var rs = s.executeQuery("SHOW server_version")) {
      rs.next();
      return "PostgreSQL " + rs.getString(1);
    }
  }

  private static String loadAverage() {
    try {
      return String.join(" ", Arrays.copyOf(java.nio.file.Files.readString(java.nio.file.Path.of("/proc/loadavg"))
          .trim().split(" "), 3));
    } catch (java.io.IOException e) {
      return "n/a";
    }
  }

  private static double min(double[] values) {
    return Arrays.stream(values).min().orElse(Double.NaN);
  }

  private static double max(double[] values) {
    return Arrays.stream(values).max().orElse(Double.NaN);
  }

  private static int intArg(String[] args, String name, int fallback) {
    for (int i = 0; i + 1 < args.length; i++) {
      if (args[i].equals(name)) {
        return Integer.parseInt(args[i + 1]);
      }
    }
    return fallback;
  }
}
