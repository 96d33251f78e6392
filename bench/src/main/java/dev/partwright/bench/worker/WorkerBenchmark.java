package dev.partwright.bench.worker;

import com.zaxxer.hikari.HikariDataSource;
import dev.partwright.connectors.WorkerDataSource;
import dev.partwright.connectors.postgres.PartitionProvisioner;
import dev.partwright.embedded.PostgresEndpoint;
import dev.partwright.embedded.Servers;
import dev.partwright.schemas.Bounds;
import dev.partwright.schemas.CommandHeader;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.ProvisionPartitions;
import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.sql.DataSource;

/**
 * The provisioning worker's DDL path against its baselines, measured in the same run on the same
 * PostgreSQL (embedded, or {@code PARTWRIGHT_DB_URL}), in interleaved rounds after a warm-up round
 * (JIT, PostgreSQL's caches) that is not counted:
 *
 * <ol>
 *   <li><b>throughput</b>: partitions per second through {@link PartitionProvisioner} — commands of
 *       {@code --command-size} daily partitions: coverage plan, standalone create with the parent's
 *       2-index template, ATTACH, verification (bound, indexes, contiguity) in the transaction and
 *       after commit, audit rows — vs. the plain JDBC loop the issue names (one transaction per
 *       partition, {@code CREATE TABLE ... PARTITION OF} + {@code CREATE INDEX} for the same two
 *       indexes, on a parent without the template), the same loop on a parent with the template
 *       ({@code PARTITION OF} builds and attaches the indexes itself: the same end state as ours),
 *       and Partwright with one partition per transaction (what the guarantees cost without
 *       batching). Every variant creates the same partitions of its own identical parent; the order
 *       of the variants rotates from round to round. Goal: at least 0.8x the loop.
 *   <li><b>insert latency</b>: p99 of single-row inserts into the parent (today's partition) while
 *       {@code --window-partitions} partitions are provisioned, vs. the same insert load on the same
 *       table for as long with no DDL; each round on a fresh table, windows in alternating order,
 *       after a warm-up of the inserting session. Reported: each round's ratio and the median of the
 *       rounds' ratios (goal: at most 1.2x). The plain loop under the same load is printed for
 *       reference.
 * </ol>
 *
 * <p>{@code ./mvnw -B -q -pl bench exec:exec -Dexec.executable=java -Dexec.args="-cp %classpath
 * dev.partwright.bench.worker.WorkerBenchmark"} (after {@code ./mvnw -B -q -pl bench -am install
 * -DskipTests}); options {@code --partitions N} (per variant and throughput round, default 200),
 * {@code --rounds R} (default 5), {@code --latency-rounds R} (default 5), {@code --window-partitions
 * N} (default 50), {@code --command-size N} (partitions per command, default 10), {@code --profile}
 * (instead: both paths once, every statement timed by kind).
 */
public final class WorkerBenchmark {

  private static final Instant DAY0 = Instant.parse("2030-01-01T00:00:00Z");

  private final HikariDataSource pool;
  private final PartitionProvisioner provisioner;
  private final PartitionProvisioner onePerTransaction;
  private final String schema;
  private final int commandSize;
  private int tables;

  private WorkerBenchmark(HikariDataSource pool, String schema, int commandSize) {
    this.pool = pool;
    this.schema = schema;
    this.commandSize = commandSize;
    this.provisioner = new PartitionProvisioner(pool, PartitionProvisioner.Limits.defaults(), "bench");
    this.onePerTransaction = new PartitionProvisioner(pool,
        PartitionProvisioner.Limits.defaults().withPartitionsPerTransaction(1), "bench");
  }

  public static void main(String[] args) throws Exception {
    int partitions = intArg(args, "--partitions", 200);
    int rounds = intArg(args, "--rounds", 5);
    int latencyRounds = intArg(args, "--latency-rounds", 5);
    int window = intArg(args, "--window-partitions", 50);
    int commandSize = intArg(args, "--command-size", 10);
    PostgresEndpoint pg = Servers.postgres();
    String schema = "bench_worker_" + UUID.randomUUID().toString().substring(0, 8);
    try (HikariDataSource pool = WorkerDataSource.create(pg.jdbcUrl(), pg.user(), pg.password(), 4)) {
      exec(pool, "CREATE SCHEMA " + schema);
      WorkerBenchmark bench = new WorkerBenchmark(pool, schema, commandSize);
      bench.provisioner.prepare();
      System.out.printf("worker benchmark: %d partitions x %d rounds, commands of %d, %d latency rounds of %d"
          + " partitions, %d cpus, load average %s, %s%n", partitions, rounds, commandSize, latencyRounds, window,
          Runtime.getRuntime().availableProcessors(), loadAverage(), version(pool));
      try {
        if (Arrays.asList(args).contains("--profile")) {
          bench.profile(partitions);
        } else {
          bench.throughput(partitions, rounds);
          bench.latency(window, latencyRounds);
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

  /** One way of creating {@code n} daily partitions of a fresh parent; returns partitions per second. */
  @FunctionalInterface
  private interface Variant {
    double run(int n) throws Exception;
  }

  private void throughput(int n, int rounds) throws Exception {
    Map<String, Variant> variants = new LinkedHashMap<>();
    variants.put("partwright", k -> timed(k, parent(true), (p, from, m) -> provision(provisioner, p, from, m)));
    variants.put("plain loop (issue: PARTITION OF + CREATE INDEX)", k -> timed(k, parent(false),
        (p, from, m) -> rawLoop(pool, p, from, m, true)));
    variants.put("plain loop, templated parent (PARTITION OF)", k -> timed(k, parent(true),
        (p, from, m) -> rawLoop(pool, p, from, m, false)));
    variants.put("partwright, 1 partition per transaction", k -> timed(k, parent(true),
        (p, from, m) -> provision(onePerTransaction, p, from, m)));
    List<String> names = new ArrayList<>(variants.keySet());
    for (String name : names) {
      variants.get(name).run(Math.max(10, n / 4)); // warm-up: JIT, PostgreSQL's catalog caches
    }
    Map<String, double[]> rates = new LinkedHashMap<>();
    names.forEach(name -> rates.put(name, new double[rounds]));
    for (int r = 0; r < rounds; r++) {
      StringBuilder line = new StringBuilder(String.format("  round %d:", r + 1));
      for (int v = 0; v < names.size(); v++) {
        // rotate who goes first, so no variant always gets the warmer (or the more loaded) slot
        String name = names.get((v + r) % names.size());
        rates.get(name)[r] = variants.get(name).run(n);
      }
      for (String name : names) {
        line.append(String.format("  %s %.1f/s", shortName(name), rates.get(name)[r]));
      }
      double[] pw = rates.get(names.get(0));
      line.append(String.format("  ratio %.2fx", pw[r] / rates.get(names.get(1))[r]));
      System.out.println(line);
    }
    System.out.printf("throughput, median of %d rounds (partitions/s, commands of %d):%n", rounds, commandSize);
    double ours = median(rates.get(names.get(0)));
    for (String name : names) {
      double[] ratios = new double[rounds];
      for (int r = 0; r < rounds; r++) {
        ratios[r] = rates.get(names.get(0))[r] / rates.get(name)[r];
      }
      System.out.printf("  %-55s %7.1f /s   partwright / this: median of round ratios %.2fx (range %.2f-%.2fx)%n",
          name, median(rates.get(name)), median(ratios), min(ratios), max(ratios));
    }
    double[] goal = new double[rounds];
    for (int r = 0; r < rounds; r++) {
      goal[r] = rates.get(names.get(0))[r] / rates.get(names.get(1))[r];
    }
    System.out.printf("throughput: partwright %.1f partitions/s vs plain loop %.1f partitions/s = %.2fx (median of"
        + " round ratios; goal >= 0.80x)%n", ours, median(rates.get(names.get(1))), median(goal));
  }

  private static String shortName(String name) {
    return name.startsWith("partwright, 1") ? "pw-1/tx" : name.startsWith("partwright") ? "partwright"
        : name.contains("templated") ? "loop-tmpl" : "loop";
  }

  @FunctionalInterface
  private interface Creator {
    void create(String parent, int from, int n) throws Exception;
  }

  private static double timed(int n, String parent, Creator creator) throws Exception {
    long t0 = System.nanoTime();
    creator.create(parent, 0, n);
    return n / ((System.nanoTime() - t0) / 1e9);
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
    String table = parent.substring(parent.indexOf('.') + 1);
    for (int start = from; start < from + n; start += commandSize) {
      List<PartitionSpec> specs = new ArrayList<>();
      for (int d = start; d < Math.min(start + commandSize, from + n); d++) {
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
    // warm-up round, not counted: JIT of both sides, and how long a DDL window lasts
    long ddlMillis = latencyRound(n, -1, 0).ddl().millis();
    double[] ratios = new double[rounds];
    double[] plainRatios = new double[rounds];
    List<Round> all = new ArrayList<>();
    for (int r = 0; r < rounds; r++) {
      Round round = latencyRound(n, r, ddlMillis);
      all.add(round);
      ddlMillis = round.ddl().millis();
      ratios[r] = round.ddl().p(0.99) / round.quiet().p(0.99);
      plainRatios[r] = round.plain().p(0.99) / round.plainQuiet().p(0.99);
      System.out.printf("  latency round %d (%s first): no DDL p99 %.3f ms (%d inserts), partwright DDL p99 %.3f ms"
          + " (%d inserts, %d ms) = %.2fx;  plain loop: %.3f ms vs %.3f ms = %.2fx%n", r + 1,
          r % 2 == 0 ? "DDL" : "quiet", round.quiet().p(0.99), round.quiet().count(), round.ddl().p(0.99),
          round.ddl().count(), round.ddl().millis(), ratios[r], round.plain().p(0.99), round.plainQuiet().p(0.99),
          plainRatios[r]);
    }
    Window quiet = Window.merge(all.stream().map(Round::quiet).toList());
    Window ddl = Window.merge(all.stream().map(Round::ddl).toList());
    Window plain = Window.merge(all.stream().map(Round::plain).toList());
    System.out.printf("insert latency, all rounds, no DDL         (%6d inserts): p50 %6.3f ms  p99 %6.3f ms  max %7.2f ms%n",
        quiet.count(), quiet.p(0.50), quiet.p(0.99), quiet.max());
    System.out.printf("insert latency, all rounds, partwright DDL (%6d inserts): p50 %6.3f ms  p99 %6.3f ms  max %7.2f ms%n",
        ddl.count(), ddl.p(0.50), ddl.p(0.99), ddl.max());
    System.out.printf("insert latency, all rounds, plain loop DDL (%6d inserts): p50 %6.3f ms  p99 %6.3f ms  max %7.2f ms"
        + "  (reference)%n", plain.count(), plain.p(0.50), plain.p(0.99), plain.max());
    System.out.printf("insert p99 while %d partitions are provisioned vs no DDL: median of %d round ratios %.2fx"
        + " (range %.2f-%.2fx; goal <= 1.20x); plain loop %.2fx%n", n, rounds, median(ratios), min(ratios),
        max(ratios), median(plainRatios));
  }

  private record Round(Window quiet, Window ddl, Window plainQuiet, Window plain) {}

  /**
   * Fresh tables (one for Partwright, one for the plain loop), today's partition, the inserting
   * session warmed up; then the DDL window and a window of the same length without DDL, in an order
   * that alternates with {@code round}.
   */
  private Round latencyRound(int n, int round, long quietMillis) throws Exception {
    String pw = parent(true);
    String raw = parent(true);
    provision(provisioner, pw, 0, 1);
    rawLoop(pool, raw, 0, 1, false);
    Work ddlWork = () -> provision(provisioner, pw, 1, n);
    Work plainWork = () -> rawLoop(pool, raw, 1, n, false);
    try (Inserter pwInserts = new Inserter(pool, pw); Inserter rawInserts = new Inserter(pool, raw)) {
      pwInserts.warmUp();
      rawInserts.warmUp();
      Window ddl;
      Window quiet;
      if (round % 2 == 0 || quietMillis <= 0) {
        ddl = pwInserts.during(ddlWork);
        quiet = pwInserts.during(pause(ddl.millis()));
      } else {
        quiet = pwInserts.during(pause(quietMillis));
        ddl = pwInserts.during(ddlWork);
      }
      Window plain = rawInserts.during(plainWork);
      Window plainQuiet = rawInserts.during(pause(plain.millis()));
      return new Round(quiet, ddl, plainQuiet, plain);
    }
  }

  private static Work pause(long millis) {
    return () -> Thread.sleep(Math.max(1, millis));
  }

  @FunctionalInterface
  private interface Work {
    void run() throws Exception;
  }

  /** Latencies (ms, sorted) of inserts made while some work ran, and how long it ran. */
  private record Window(double[] latencies, long millis) {
    int count() {
      return latencies.length;
    }

    double p(double q) {
      return latencies.length == 0 ? Double.NaN : latencies[Math.min(latencies.length - 1, (int) (q * latencies.length))];
    }

    double max() {
      return latencies.length == 0 ? Double.NaN : latencies[latencies.length - 1];
    }

    static Window merge(List<Window> windows) {
      double[] all = windows.stream().flatMapToDouble(w -> Arrays.stream(w.latencies())).sorted().toArray();
      return new Window(all, windows.stream().mapToLong(Window::millis).sum());
    }
  }

  /** One session inserting single rows into a parent, on a thread of its own, timed per insert. */
  private static final class Inserter implements AutoCloseable {
    private final Connection connection;
    private final PreparedStatement insert;
    private int i;

    Inserter(DataSource pool, String table) throws SQLException {
      connection = pool.getConnection();
      insert = connection.prepareStatement("INSERT INTO " + table + " (tenant_id, ts, v) VALUES (?, ?, ?)");
    }

    void warmUp() throws Exception {
      during(pause(1_000));
    }

    Window during(Work work) throws Exception {
      AtomicBoolean stop = new AtomicBoolean();
      List<Long> nanos = new ArrayList<>();
      CompletableFuture<Void> inserter = CompletableFuture.runAsync(() -> {
        try {
          while (!stop.get()) {
            insert.setString(1, "t" + (i % 16));
            insert.setTimestamp(2, Timestamp.from(DAY0.plusMillis(i % 86_400_000L)));
            insert.setInt(3, i++);
            long t0 = System.nanoTime();
            insert.executeUpdate();
            nanos.add(System.nanoTime() - t0);
          }
        } catch (SQLException e) {
          throw new IllegalStateException(e);
        }
      });
      long t0 = System.nanoTime();
      try {
        work.run();
      } finally {
        stop.set(true);
        inserter.join();
      }
      long millis = (System.nanoTime() - t0) / 1_000_000;
      return new Window(nanos.stream().mapToDouble(x -> x / 1e6).sorted().toArray(), millis);
    }

    @Override
    public void close() throws SQLException {
      insert.close();
      connection.close();
    }
  }

  // ------------------------------------------------------------------------------------------
  // profile

  /** Both paths once more, every statement timed by kind: where the time goes. */
  private void profile(int n) throws Exception {
    StatementProfile profile = new StatementProfile();
    DataSource timed = profile.wrap(pool);
    PartitionProvisioner timedProvisioner = new PartitionProvisioner(timed, PartitionProvisioner.Limits.defaults(),
        "bench");
    PrintWriter out = new PrintWriter(System.out);
    for (int r = 0; r < 2; r++) {
      String raw = parent(false);
      String pw = parent(true);
      profile.reset();
      long t0 = System.nanoTime();
      rawLoop(timed, raw, 0, n, true);
      long rawNanos = System.nanoTime() - t0;
      profile.print(out, String.format("plain loop, round %d, %.1f ms wall", r + 1, rawNanos / 1e6), n);
      profile.reset();
      t0 = System.nanoTime();
      provision(timedProvisioner, pw, 0, n);
      long ours = System.nanoTime() - t0;
      profile.print(out, String.format("partwright, round %d, %.1f ms wall", r + 1, ours / 1e6), n);
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

  private static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    int m = sorted.length / 2;
    return sorted.length % 2 == 1 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
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
