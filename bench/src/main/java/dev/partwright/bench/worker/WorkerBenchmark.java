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
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The provisioning worker's DDL path against its baselines, measured in the same run on the same
 * PostgreSQL (embedded, or {@code PARTWRIGHT_DB_URL}):
 *
 * <ol>
 *   <li><b>throughput</b>: partitions per second through {@link PartitionProvisioner} — standalone
 *       create with the parent's index template, bound CHECK, ATTACH, verification (bound, indexes,
 *       contiguity), audit row, ANALYZE — vs. a plain JDBC loop, one transaction per partition,
 *       {@code CREATE TABLE ... PARTITION OF} + {@code CREATE INDEX} for the same two indexes
 *       (goal: at least 0.8x). Rounds alternate which side goes first;
 *   <li><b>insert latency</b>: p99 of single-row inserts into the parent while 50 partitions are
 *       provisioned vs. the same insert load with no DDL (goal: at most 1.2x); the plain loop under
 *       the same load is printed too, for reference.
 * </ol>
 *
 * <p>{@code mvn -q -pl bench exec:exec -Dexec.executable=java -Dexec.args="-cp %classpath
 * dev.partwright.bench.worker.WorkerBenchmark"} (after {@code mvn -q -pl bench -am install -DskipTests});
 * options {@code --partitions N} (per throughput round, default 200), {@code --rounds R} (default 3),
 * {@code --window-partitions N} (latency windows, default 50).
 */
public final class WorkerBenchmark {

  private static final Instant DAY0 = Instant.parse("2030-01-01T00:00:00Z");
  private static final int COMMAND_SIZE = 10;

  private WorkerBenchmark() {}

  public static void main(String[] args) throws Exception {
    int partitions = intArg(args, "--partitions", 200);
    int rounds = intArg(args, "--rounds", 3);
    int window = intArg(args, "--window-partitions", 50);
    PostgresEndpoint pg = Servers.postgres();
    String schema = "bench_worker_" + UUID.randomUUID().toString().substring(0, 8);
    try (HikariDataSource pool = WorkerDataSource.create(pg.jdbcUrl(), pg.user(), pg.password(), 4)) {
      exec(pool, "CREATE SCHEMA " + schema);
      PartitionProvisioner provisioner =
          new PartitionProvisioner(pool, PartitionProvisioner.Limits.defaults(), "bench");
      provisioner.prepare();
      System.out.printf("worker benchmark: %d partitions x %d rounds, commands of %d, latency windows of %d partitions,"
          + " %d cpus, %s%n", partitions, rounds, COMMAND_SIZE, window, Runtime.getRuntime().availableProcessors(),
          version(pool));
      try {
        if (hasFlag(args, "--profile")) {
          profile(pool, schema, partitions);
          return;
        }
        throughput(pool, provisioner, schema, partitions, rounds);
        latency(pool, provisioner, schema, window);
      } finally {
        exec(pool, "DROP SCHEMA " + schema + " CASCADE",
            "DELETE FROM partwright.provisioning_log WHERE partition_name LIKE '" + schema + ".%'");
      }
    }
    Servers.shutdown();
  }

  // ------------------------------------------------------------------------------------------

  private static void throughput(HikariDataSource pool, PartitionProvisioner provisioner, String schema, int n,
      int rounds) throws Exception {
    double[] raw = new double[rounds];
    double[] ours = new double[rounds];
    for (int r = 0; r < rounds; r++) {
      String rawTable = schema + ".raw_" + r;
      String pwTable = schema + ".pw_" + r;
      createParent(pool, rawTable, false);
      createParent(pool, pwTable, true);
      // alternate who goes first, so neither always gets the warmer cache
      if (r % 2 == 0) {
        raw[r] = rawLoop(pool, rawTable, 0, n);
        ours[r] = provisionAll(provisioner, schema, pwTable, 0, n);
      } else {
        ours[r] = provisionAll(provisioner, schema, pwTable, 0, n);
        raw[r] = rawLoop(pool, rawTable, 0, n);
      }
      System.out.printf("  round %d: partwright %7.1f partitions/s   plain JDBC loop %7.1f partitions/s   ratio %.2fx%n",
          r + 1, ours[r], raw[r], ours[r] / raw[r]);
    }
    double medianOurs = median(ours);
    double medianRaw = median(raw);
    System.out.printf("throughput (median of %d): partwright %.1f partitions/s vs plain loop %.1f partitions/s"
        + " = %.2fx (goal >= 0.80x)%n", rounds, medianOurs, medianRaw, medianOurs / medianRaw);
  }

  /** Plain DDL: one transaction per partition, CREATE TABLE ... PARTITION OF + the two indexes. */
  private static double rawLoop(javax.sql.DataSource pool, String parent, int from, int n) throws SQLException {
    long t0 = System.nanoTime();
    try (Connection c = pool.getConnection(); Statement s = c.createStatement()) {
      for (int d = from; d < from + n; d++) {
        c.setAutoCommit(false);
        String child = parent + "_p" + d;
        Instant lo = DAY0.plus(Duration.ofDays(d));
        s.execute("CREATE TABLE " + child + " PARTITION OF " + parent + " FOR VALUES FROM ('" + lo + "') TO ('"
            + lo.plus(Duration.ofDays(1)) + "')");
        s.execute("CREATE INDEX ON " + child + " (ts)");
        s.execute("CREATE INDEX ON " + child + " (tenant_id, ts)");
        c.commit();
        c.setAutoCommit(true);
      }
    }
    return n / ((System.nanoTime() - t0) / 1e9);
  }

  private static double provisionAll(PartitionProvisioner provisioner, String schema, String parent, int from, int n)
      throws Exception {
    long t0 = System.nanoTime();
    provision(provisioner, schema, parent, from, n);
    return n / ((System.nanoTime() - t0) / 1e9);
  }

  private static void provision(PartitionProvisioner provisioner, String schema, String parent, int from, int n)
      throws Exception {
    String table = parent.substring(parent.indexOf('.') + 1);
    for (int start = from; start < from + n; start += COMMAND_SIZE) {
      List<PartitionSpec> specs = new ArrayList<>();
      for (int d = start; d < Math.min(start + COMMAND_SIZE, from + n); d++) {
        Instant lo = DAY0.plus(Duration.ofDays(d));
        specs.add(PartitionSpec.newBuilder().setParent(parent).setSchemaName(schema).setName(table + "_p" + d)
            .setBound(Bounds.timeRange(lo, lo.plus(Duration.ofDays(1)))).build());
      }
      provisioner.provision(ProvisionPartitions.newBuilder()
          .setHeader(CommandHeader.newBuilder().setIdempotencyKey(UUID.randomUUID().toString())
              .setAggregateId("*/" + parent).setExpectedVersion(-1).setIssuedAt(Instant.now()).setIssuedBy("bench")
              .setReason("bench").build())
          .setPartitions(specs).build());
    }
  }

  // ------------------------------------------------------------------------------------------

  private static void latency(HikariDataSource pool, PartitionProvisioner provisioner, String schema, int n)
      throws Exception {
    String pwTable = schema + ".lat_pw";
    String rawTable = schema + ".lat_raw";
    createParent(pool, pwTable, true);
    createParent(pool, rawTable, false);
    // today's partition, where every insert goes
    provision(provisioner, schema, pwTable, 0, 1);
    provision(provisioner, schema, rawTable, 0, 1);
    warmUp(pool, pwTable);

    Window ddl = underLoad(pool, pwTable, () -> provision(provisioner, schema, pwTable, 1, n));
    Window quiet = underLoad(pool, pwTable, () -> Thread.sleep(Math.max(1, ddl.millis())));
    Window plain = underLoad(pool, rawTable, () -> rawLoop(pool, rawTable, 1, n));

    System.out.printf("insert latency, no DDL          (%5d inserts in %5d ms): p50 %6.2f ms  p99 %6.2f ms  max %7.2f ms%n",
        quiet.count(), quiet.millis(), quiet.p(0.50), quiet.p(0.99), quiet.max());
    System.out.printf("insert latency, partwright DDL  (%5d inserts in %5d ms): p50 %6.2f ms  p99 %6.2f ms  max %7.2f ms%n",
        ddl.count(), ddl.millis(), ddl.p(0.50), ddl.p(0.99), ddl.max());
    System.out.printf("insert latency, plain loop DDL  (%5d inserts in %5d ms): p50 %6.2f ms  p99 %6.2f ms  max %7.2f ms"
        + "  (reference)%n", plain.count(), plain.millis(), plain.p(0.50), plain.p(0.99), plain.max());
    System.out.printf("insert p99 while %d partitions are provisioned: %.2f ms vs %.2f ms without DDL = %.2fx (goal <= 1.20x)%n",
        n, ddl.p(0.99), quiet.p(0.99), ddl.p(0.99) / quiet.p(0.99));
  }

  @FunctionalInterface
  private interface Work {
    void run() throws Exception;
  }

  /** Latencies (ms, sorted) of inserts made while {@code work} ran, and how long it ran. */
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
  }

  private static Window underLoad(HikariDataSource pool, String table, Work work) throws Exception {
    AtomicBoolean stop = new AtomicBoolean();
    List<Long> nanos = new ArrayList<>();
    CompletableFuture<Void> inserter = CompletableFuture.runAsync(() -> {
      try (Connection c = pool.getConnection();
           PreparedStatement ps = c.prepareStatement("INSERT INTO " + table + " (tenant_id, ts, v) VALUES (?, ?, ?)")) {
        for (int i = 0; !stop.get(); i++) {
          ps.setString(1, "t" + (i % 16));
          ps.setTimestamp(2, Timestamp.from(DAY0.plusMillis(i % 86_400_000L)));
          ps.setInt(3, i);
          long t0 = System.nanoTime();
          ps.executeUpdate();
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
    double[] ms = nanos.stream().mapToDouble(n -> n / 1e6).sorted().toArray();
    return new Window(ms, millis);
  }

  private static void warmUp(HikariDataSource pool, String table) throws Exception {
    underLoad(pool, table, () -> Thread.sleep(1_000));
  }

  // ------------------------------------------------------------------------------------------

  private static void createParent(HikariDataSource pool, String table, boolean withIndexTemplate) throws SQLException {
    exec(pool, "CREATE TABLE " + table + " (tenant_id text NOT NULL, ts timestamptz NOT NULL, v int, payload jsonb)"
        + " PARTITION BY RANGE (ts)");
    if (withIndexTemplate) {
      exec(pool, "CREATE INDEX ON " + table + " (ts)", "CREATE INDEX ON " + table + " (tenant_id, ts)");
    }
  }

  private static void exec(HikariDataSource pool, String... sql) throws SQLException {
    try (Connection c = pool.getConnection(); Statement s = c.createStatement()) {
      for (String q : sql) {
        s.execute(q);
      }
    }
  }

  private static String version(HikariDataSource pool) throws SQLException {
    try (Connection c = pool.getConnection(); Statement s = c.createStatement();
         var rs = s.executeQuery("SHOW server_version")) {
      rs.next();
      return "PostgreSQL " + rs.getString(1);
    }
  }

  /** Both paths once more, every statement timed by kind: where the time goes. */
  private static void profile(HikariDataSource pool, String schema, int n) throws Exception {
    StatementProfile profile = new StatementProfile();
    javax.sql.DataSource timed = profile.wrap(pool);
    PartitionProvisioner provisioner = new PartitionProvisioner(timed, PartitionProvisioner.Limits.defaults(), "bench");
    java.io.PrintWriter out = new java.io.PrintWriter(System.out);
    for (int r = 0; r < 2; r++) {
      String rawTable = schema + ".praw_" + r;
      String pwTable = schema + ".ppw_" + r;
      createParent(pool, rawTable, false);
      createParent(pool, pwTable, true);
      profile.reset();
      long t0 = System.nanoTime();
      rawLoop(timed, rawTable, 0, n);
      long raw = System.nanoTime() - t0;
      profile.print(out, String.format("plain loop, round %d, %.1f ms wall", r + 1, raw / 1e6), n);
      profile.reset();
      t0 = System.nanoTime();
      provision(provisioner, schema, pwTable, 0, n);
      long ours = System.nanoTime() - t0;
      profile.print(out, String.format("partwright, round %d, %.1f ms wall", r + 1, ours / 1e6), n);
    }
  }

  private static boolean hasFlag(String[] args, String name) {
    return Arrays.asList(args).contains(name);
  }

  private static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    return sorted[sorted.length / 2];
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
