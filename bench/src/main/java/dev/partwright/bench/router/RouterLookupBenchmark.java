package dev.partwright.bench.router;

import dev.partwright.router.PartitionRouter;
import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.Bounds;
import dev.partwright.schemas.HashBound;
import dev.partwright.schemas.Int64Value;
import dev.partwright.schemas.PartitionAdded;
import dev.partwright.schemas.PartitionKey;
import dev.partwright.schemas.RangeBound;
import dev.partwright.schemas.Strategy;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.OptionsBuilder;

/**
 * Router lookups on one core: 10,000 range partitions (hourly, timestamptz) through
 * {@link PartitionRouter#resolve(String, Object)}, beside the linear scan an application without
 * Partwright writes over the same boundaries (the baseline, same run); and hash routing of int8 and
 * text keys over 64 partitions (PostgreSQL's partition hash). Goal: ≥ 100x the scan, ≥ 20 M/s.
 *
 * <pre>
 *   ./mvnw -B -q -pl bench -am install -DskipTests
 *   ./mvnw -B -q -pl bench exec:exec -Dexec.executable=java \
 *       -Dexec.args="-cp %classpath dev.partwright.bench.router.RouterLookupBenchmark"
 * </pre>
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 8, time = 1)
@Fork(1)
@Threads(1)
public class RouterLookupBenchmark {

  static final int PARTITIONS = 10_000;
  static final int HASH_MODULUS = 64;
  static final Instant START = Instant.parse("2026-01-01T00:00:00Z");

  /** The seed's loop: every boundary, in order, compared one by one. */
  record Boundary(Instant from, Instant to, String name) {}

  private PartitionRouter router;
  private List<Boundary> boundaries;
  /**
   * Keys spread uniformly over the whole 10,000-hour span (the worst case for caches: every lookup
   * lands on a different partition), 16,384 of them so the branch predictor cannot learn the sequence.
   */
  static final int PROBES = 1 << 14;
  private Instant[] probes;
  private Long[] bigintProbes;
  private long[] longKeys;
  private String[] textKeys;
  private int next;

  @Setup
  public void setUp() {
    router = new PartitionRouter();
    boundaries = new ArrayList<>(PARTITIONS);
    List<BoundaryChange> changes = new ArrayList<>();
    PartitionKey rangeKey = new PartitionKey(Strategy.RANGE, List.of("ts"), List.of("timestamp with time zone"));
    for (int i = 0; i < PARTITIONS; i++) {
      Instant from = START.plus(Duration.ofHours(i));
      Instant to = from.plus(Duration.ofHours(1));
      String name = "bench.events_p" + i;
      boundaries.add(new Boundary(from, to, name));
      changes.add(change("bench.events", name, rangeKey, Bounds.timeRange(from, to), i));
    }
    PartitionKey idKey = new PartitionKey(Strategy.RANGE, List.of("id"), List.of("bigint"));
    for (int i = 0; i < PARTITIONS; i++) {
      long from = i * 1_000_000L;
      changes.add(change("bench.ids", "bench.ids_p" + i, idKey,
          new RangeBound(List.of(new Int64Value(from)), List.of(new Int64Value(from + 1_000_000L))), i));
    }
    for (String type : List.of("bigint", "text")) {
      PartitionKey hashKey = new PartitionKey(Strategy.HASH, List.of("k"), List.of(type));
      for (int r = 0; r < HASH_MODULUS; r++) {
        changes.add(change("bench.hash_" + type, "bench.hash_" + type + "_p" + r, hashKey, new HashBound(HASH_MODULUS, r), r));
      }
    }
    router.applyAll(changes);
    SplittableRandom random = new SplittableRandom(1);
    probes = new Instant[PROBES];
    bigintProbes = new Long[PROBES];
    longKeys = new long[PROBES];
    textKeys = new String[PROBES];
    long span = Duration.ofHours(PARTITIONS).toSeconds();
    for (int i = 0; i < probes.length; i++) {
      probes[i] = START.plusSeconds(random.nextLong(span)).plusNanos(random.nextInt(1_000_000_000));
      bigintProbes[i] = random.nextLong(PARTITIONS * 1_000_000L); // boxed once here, as a JDBC row value would be
      longKeys[i] = random.nextLong();
      textKeys[i] = "tenant-" + random.nextInt(1_000_000);
    }
  }

  private static BoundaryChange change(String parent, String partition, PartitionKey key, Object bound, long version) {
    return BoundaryChange.newBuilder()
        .setAggregateId("*/" + parent).setAggregateVersion(version).setRootTable(parent).setChangedAt(START)
        .setChange(PartitionAdded.newBuilder().setPartition(partition).setParent(parent).setParentKey(key)
            .setBound(bound).build())
        .build();
  }

  @Benchmark
  public String rangeRouter() {
    return router.resolve("bench.events", probes[next++ & (PROBES - 1)]);
  }

  @Benchmark
  public String rangeRouterBigint() {
    return router.resolve("bench.ids", bigintProbes[next++ & (PROBES - 1)]);
  }

  @Benchmark
  public String rangeLinearScan() {
    Instant t = probes[next++ & (PROBES - 1)];
    for (Boundary b : boundaries) {
      if (!t.isBefore(b.from()) && t.isBefore(b.to())) {
        return b.name();
      }
    }
    return null;
  }

  @Benchmark
  public String hashInt8() {
    return router.resolve("bench.hash_bigint", longKeys[next++ & (PROBES - 1)]);
  }

  @Benchmark
  public String hashText() {
    return router.resolve("bench.hash_text", textKeys[next++ & (PROBES - 1)]);
  }

  public static void main(String[] args) throws Exception {
    // an optional argument narrows the run to the benchmarks whose name matches it (a regex)
    String only = args.length > 0 ? "\\." + args[0] : "";
    var results = new Runner(new OptionsBuilder().include(RouterLookupBenchmark.class.getName() + only).build()).run();
    double router = 0;
    double scan = 0;
    System.out.println();
    System.out.println("Router lookups, one thread, " + PARTITIONS + " range partitions / " + HASH_MODULUS + " hash partitions:");
    for (RunResult r : results) {
      String name = r.getParams().getBenchmark().replaceAll(".*\\.", "");
      double score = r.getPrimaryResult().getScore();
      System.out.printf("  %-18s %,15.0f lookups/s (± %,.0f)%n", name, score, r.getPrimaryResult().getScoreError());
      if (name.equals("rangeRouter")) {
        router = score;
      } else if (name.equals("rangeLinearScan")) {
        scan = score;
      }
    }
    if (scan > 0) {
      System.out.printf("  range router / linear scan (baseline, same run): %.0fx%n", router / scan);
    }
  }
}
