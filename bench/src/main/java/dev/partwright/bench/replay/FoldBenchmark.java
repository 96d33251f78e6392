package dev.partwright.bench.replay;

import dev.partwright.commandstore.PartitionCatalog;
import dev.partwright.embedded.ExternalSchemaRegistry;
import dev.partwright.embedded.Servers;
import dev.partwright.schemas.AggregateId;
import dev.partwright.schemas.CommandLogEntry;
import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.schemas.RegistryAvroSerde;
import dev.partwright.schemas.SchemaRegistryConfig;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.utils.Utils;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.CommandLineOptions;
import org.openjdk.jmh.runner.options.OptionsBuilder;

/**
 * The fold of replay without Kafka: {@link ReplayBenchmark}'s log ({@link ReplayBenchmark.Log},
 * aggregates round-robin, so consecutive records touch different aggregates), encoded in the
 * Confluent wire format in memory, folded into a fresh {@link PartitionCatalog} per invocation on
 * one thread, beside its baseline in the same run:
 *
 * <ul>
 *   <li>{@code decode}: decode every record and nothing else (what the raw consumer of
 *       ReplayBenchmark does per record; the baseline);
 *   <li>{@code fold}: {@link PartitionCatalog#apply(ConsumerRecord, RegistryAvroSerde)}, the decode
 *       included, as replay's lanes call it;
 *   <li>{@code foldDecoded}: the fold alone, over entries decoded once in set-up (their objects
 *       are cold in memory here, which the fold of a record just decoded does not pay).
 * </ul>
 *
 * The registry is {@code PARTWRIGHT_SCHEMA_REGISTRY_URL} if set, else an embedded one started by
 * {@link #main}, asked only in set-up.
 *
 * <pre>
 *   ./mvnw -B -q -pl bench -am install -DskipTests
 *   ./mvnw -B -q -pl bench exec:exec -Dexec.executable=java \
 *       -Dexec.args="-cp %classpath dev.partwright.bench.replay.FoldBenchmark"
 * </pre>
 *
 * Arguments go to JMH (e.g. {@code -p records=100000 -i 3}, or a regex of benchmarks); or
 * {@code --interleaved [rounds]} instead runs the three in turn, one invocation each, round after
 * round in one JVM (run it with {@code -Xmx3g -XX:+UseParallelGC}), and prints each one's median
 * wall and CPU time: on a shared machine, load from other processes then hits all three alike.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xmx3g", "-XX:+UseParallelGC"})
public class FoldBenchmark {

  static final String TOPIC = "bench.commands";
  static final int PARTITIONS = 6;

  @Param("200000")
  public int records;

  @Param("2000")
  public int aggregates;

  private RegistryAvroSerde<CommandLogEntry> serde;
  private List<ConsumerRecord<String, byte[]>> log;
  private CommandLogEntry[] decoded;

  @Setup(Level.Trial)
  public void setUp() {
    serde = PartwrightSerdes.create(SchemaRegistryConfig.of(Servers.schemaRegistry().url())).serde(CommandLogEntry.class);
    log = log(serde, records, aggregates);
    decoded = new CommandLogEntry[log.size()];
    for (int i = 0; i < decoded.length; i++) {
      decoded[i] = serde.decode(TOPIC, log.get(i).value());
    }
    PartitionCatalog check = fold();
    if (check.recordsRead() != records || check.deadLetters() != 0) {
      throw new IllegalStateException("folded " + check.recordsRead() + " records, " + check.deadLetters() + " refused");
    }
  }

  /** The baseline: decode every record, nothing else. */
  @Benchmark
  public long decode() {
    long checksum = 0;
    for (ConsumerRecord<String, byte[]> r : log) {
      CommandLogEntry e = serde.decode(r.topic(), r.value());
      checksum += e.getAggregateId().length();
    }
    return checksum;
  }

  /** Decode and fold every record into a fresh catalog, as replay from offset 0 does. */
  @Benchmark
  public PartitionCatalog fold() {
    PartitionCatalog catalog = new PartitionCatalog(TOPIC, PARTITIONS);
    for (ConsumerRecord<String, byte[]> r : log) {
      catalog.apply(r, serde);
    }
    return catalog;
  }

  /** Fold entries decoded in set-up. */
  @Benchmark
  public PartitionCatalog foldDecoded() {
    PartitionCatalog catalog = new PartitionCatalog(TOPIC, PARTITIONS);
    for (int i = 0; i < decoded.length; i++) {
      ConsumerRecord<String, byte[]> r = log.get(i);
      catalog.apply(r.partition(), r.offset(), r.key(), decoded[i]);
    }
    return catalog;
  }

  /** {@code count} records of {@link ReplayBenchmark.Log}'s log, in the order a producer appends them. */
  static List<ConsumerRecord<String, byte[]>> log(RegistryAvroSerde<CommandLogEntry> serde, int count, int aggregates) {
    List<ConsumerRecord<String, byte[]>> out = new ArrayList<>(count);
    long[] nextOffset = new long[PARTITIONS];
    int[] step = new int[aggregates];
    for (int next = 0; out.size() < count; next++) {
      int i = next % aggregates;
      AggregateId a = new AggregateId("tenant-" + (i / 10), "app", "events_" + (i % 10));
      String key = a.toString();
      // the producer's default partitioner
      int partition = Utils.toPositive(Utils.murmur2(key.getBytes(StandardCharsets.UTF_8))) % PARTITIONS;
      for (Object e : ReplayBenchmark.Log.step(a, step[i]++)) {
        if (out.size() == count) {
          break;
        }
        byte[] value = serde.encode(TOPIC, new CommandLogEntry(key, ReplayBenchmark.Log.DAY0, e));
        out.add(new ConsumerRecord<>(TOPIC, partition, nextOffset[partition]++, key, value));
      }
    }
    return out;
  }

  /** Runs the benchmarks and prints records/s of each, and the fold's throughput over decode-only's. */
  public static void main(String[] args) throws Exception {
    if (args.length > 0 && args[0].equals("--interleaved")) {
      interleaved(args.length > 1 ? Integer.parseInt(args[1]) : 30);
      return;
    }
    String url = Servers.schemaRegistry().url(); // one registry for the forks too
    CommandLineOptions given = new CommandLineOptions(args);
    var options = new OptionsBuilder()
        .parent(given)
        .include(given.getIncludes().isEmpty() ? FoldBenchmark.class.getName() : given.getIncludes().get(0))
        // replaces the annotation's arguments, so repeats them
        .jvmArgsAppend("-Xmx3g", "-XX:+UseParallelGC", "-D" + ExternalSchemaRegistry.URL_PROPERTY + "=" + url)
        .build();
    Map<String, Double> perSecond = new HashMap<>();
    System.out.println();
    for (RunResult r : new Runner(options).run()) {
      String name = r.getParams().getBenchmark().replaceAll(".*\\.", "");
      int n = Integer.parseInt(r.getParams().getParam("records"));
      double ms = r.getPrimaryResult().getScore();
      perSecond.put(name, n / ms * 1000);
      System.out.printf("  %-12s %,12.0f records/s (%.1f ms ± %.1f per %,d records)%n", name, n / ms * 1000, ms,
          r.getPrimaryResult().getScoreError(), n);
    }
    printRatios(perSecond);
  }

  private static void printRatios(Map<String, Double> perSecond) {
    Double decode = perSecond.get("decode");
    if (decode != null) {
      for (String fold : List.of("fold", "foldDecoded")) {
        if (perSecond.containsKey(fold)) {
          System.out.printf("  %s / decode (baseline, same run): %.2fx%n", fold, perSecond.get(fold) / decode);
        }
      }
    }
  }

  /** The three in turn, {@code rounds} times (the first fifth is warm-up); medians of wall and thread CPU time. */
  private static void interleaved(int rounds) {
    FoldBenchmark b = new FoldBenchmark();
    b.records = 200_000;
    b.aggregates = 2_000;
    b.setUp();
    Map<String, Runnable> variants = new java.util.LinkedHashMap<>();
    variants.put("decode", b::decode);
    variants.put("fold", b::fold);
    variants.put("foldDecoded", b::foldDecoded);
    Map<String, List<long[]>> times = new HashMap<>();
    java.lang.management.ThreadMXBean threads = java.lang.management.ManagementFactory.getThreadMXBean();
    for (int round = 0; round < rounds; round++) {
      for (Map.Entry<String, Runnable> v : variants.entrySet()) {
        long cpu = threads.getCurrentThreadCpuTime();
        long t0 = System.nanoTime();
        v.getValue().run();
        long[] t = {System.nanoTime() - t0, threads.getCurrentThreadCpuTime() - cpu};
        if (round >= rounds / 5) {
          times.computeIfAbsent(v.getKey(), k -> new ArrayList<>()).add(t);
        }
      }
    }
    Map<String, Double> wall = new HashMap<>();
    Map<String, Double> cpu = new HashMap<>();
    for (String name : variants.keySet()) {
      List<long[]> t = times.get(name);
      long wallMedian = t.stream().mapToLong(x -> x[0]).sorted().skip(t.size() / 2).findFirst().orElseThrow();
      long cpuMedian = t.stream().mapToLong(x -> x[1]).sorted().skip(t.size() / 2).findFirst().orElseThrow();
      wall.put(name, b.records * 1e9 / wallMedian);
      cpu.put(name, b.records * 1e9 / cpuMedian);
      System.out.printf("  %-12s %,12.0f records/s wall, %,12.0f records/s of the thread's CPU (medians of %d)%n", name,
          wall.get(name), cpu.get(name), t.size());
    }
    System.out.println("wall:");
    printRatios(wall);
    System.out.println("thread CPU (without the collector's threads):");
    printRatios(cpu);
  }
}
