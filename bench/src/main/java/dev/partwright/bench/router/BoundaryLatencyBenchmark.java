package dev.partwright.bench.router;

import dev.partwright.embedded.Servers;
import dev.partwright.router.BoundaryFollower;
import dev.partwright.router.PartitionNotFoundException;
import dev.partwright.router.PartitionRouter;
import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.Bounds;
import dev.partwright.schemas.PartitionAdded;
import dev.partwright.schemas.PartitionKey;
import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.schemas.SchemaRegistryConfig;
import dev.partwright.schemas.Strategy;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BiFunction;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Boundary event → visible to readers (issue 7: p99 ≤ 100 ms), on the embedded broker. A table of
 * {@code --preload} hourly partitions is bootstrapped through a {@link BoundaryFollower}; then
 * {@code --changes} partitions are added one at a time: the clock starts just before
 * {@code producer.send} and stops when a reader thread (checking every 50 µs) resolves a row of the
 * new hour to the new partition. The baseline, same run, same records: a plain {@link KafkaConsumer}
 * assigned to the same topic, with default settings, timing send → its {@code poll} returning the
 * record (a raw producer → consumer round trip, no decoding, no routing).
 *
 * <pre>
 *   ./mvnw -B -q -pl bench -am install -DskipTests
 *   ./mvnw -B -q -pl bench exec:exec -Dexec.executable=java \
 *       -Dexec.args="-cp %classpath dev.partwright.bench.router.BoundaryLatencyBenchmark --changes 300 --preload 3000"
 * </pre>
 */
public final class BoundaryLatencyBenchmark {

  static final String TABLE = "bench.readings";
  static final PartitionKey BY_TIME = new PartitionKey(Strategy.RANGE, List.of("ts"), List.of("timestamp with time zone"));
  static final Instant START = Instant.parse("2020-01-01T00:00:00Z");

  private BoundaryLatencyBenchmark() {}

  public static void main(String[] args) throws Exception {
    int changes = intArg(args, "--changes", 300);
    int preload = intArg(args, "--preload", 3_000);
    int warmup = intArg(args, "--warmup", 20);
    try {
      // the topics' wire format: Confluent's, through the schema registry (embedded Apicurio by default)
      PartwrightSerdes serdes = PartwrightSerdes.create(SchemaRegistryConfig.of(Servers.schemaRegistry().url()));
      Result r = run(Servers.kafka().bootstrapServers(), serdes, preload, warmup, changes);
      System.out.println();
      System.out.printf("Boundary event -> visible to readers, %d changes one at a time, table of %d+ partitions"
          + " (embedded broker, same JVM; machine: %d cores, load %s):%n", changes, preload,
          Runtime.getRuntime().availableProcessors(), loadAverage());
      System.out.println("  " + r.router().line("router (send -> resolve sees it)"));
      System.out.println("  " + r.raw().line("raw consumer (send -> poll returns it), baseline"));
      System.out.println("  " + r.added().line("what the follower adds (router - raw, per change)"));
      System.out.printf("  apply one change to a %d-partition table, 1,000 changes: p50 %.3f ms, p90 %.3f ms, p99 %.3f ms%n",
          preload, r.apply().p50(), r.apply().p90(), r.apply().p99());
      System.out.printf("  goal p99 <= 100 ms: %s%n", r.router().p99() <= 100 ? "met" : "NOT met");
    } finally {
      Servers.shutdown();
    }
  }

  /** Percentiles of one series, in milliseconds. */
  record Stats(double p50, double p90, double p95, double p99, double max) {
    static Stats of(long[] nanos) {
      long[] s = nanos.clone();
      Arrays.sort(s);
      return new Stats(pct(s, 50), pct(s, 90), pct(s, 95), pct(s, 99), s[s.length - 1] / 1e6);
    }

    private static double pct(long[] sorted, double p) {
      int i = (int) Math.ceil(sorted.length * p / 100.0) - 1;
      return sorted[Math.max(0, i)] / 1e6;
    }

    String line(String what) {
      return String.format("%-52s p50 %6.2f ms  p90 %6.2f  p95 %6.2f  p99 %6.2f  max %6.2f", what, p50, p90, p95, p99, max);
    }
  }

  record Result(Stats router, Stats raw, Stats added, Stats apply) {}

  static Result run(String bootstrap, PartwrightSerdes serdes, int preload, int warmup, int changes) throws Exception {
    BiFunction<String, BoundaryChange, byte[]> encoder = serdes.serde(BoundaryChange.class)::encode;
    String topic = "bench-boundaries-" + UUID.randomUUID();
    try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap))) {
      admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1))).all().get();
    }
    Map<String, Object> producerConfig = Map.of(
        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
        ProducerConfig.LINGER_MS_CONFIG, 0);
    int total = warmup + changes;
    AtomicLongArray received = new AtomicLongArray(preload + total);
    AtomicBoolean running = new AtomicBoolean(true);
    try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(producerConfig, new StringSerializer(), new ByteArraySerializer())) {
      for (int i = 0; i < preload; i++) {
        producer.send(record(topic, i, encoder));
      }
      producer.flush();
      Stats apply = applyCost(preload);

      PartitionRouter router = new PartitionRouter();
      try (BoundaryFollower follower = BoundaryFollower.follow(router, bootstrap, serdes, topic)) {
        if (!follower.awaitCaughtUp(Duration.ofSeconds(60))) {
          throw new IllegalStateException("the follower did not catch up with " + preload + " partitions in 60 s");
        }
        Thread raw = rawConsumer(bootstrap, topic, received, running);
        long[] routerNanos = new long[changes];
        long[] rawNanos = new long[changes];
        try {
          for (int i = preload; i < preload + total; i++) {
            Instant probe = START.plus(Duration.ofHours(i)).plusSeconds(1);
            String expected = name(i);
            long sent = System.nanoTime();
            producer.send(record(topic, i, encoder));
            long visible = awaitVisible(router, probe, expected, sent);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (received.get(i) == 0 && System.nanoTime() < deadline) {
              LockSupport.parkNanos(50_000);
            }
            if (received.get(i) == 0) {
              throw new IllegalStateException("the raw consumer did not see change " + i + " in 10 s");
            }
            int k = i - preload - warmup;
            if (k >= 0) {
              routerNanos[k] = visible - sent;
              rawNanos[k] = received.get(i) - sent;
            }
          }
        } finally {
          running.set(false);
          raw.join(10_000);
        }
        long[] added = new long[changes];
        for (int k = 0; k < changes; k++) {
          added[k] = routerNanos[k] - rawNanos[k];
        }
        return new Result(Stats.of(routerNanos), Stats.of(rawNanos), Stats.of(added), apply);
      }
    }
  }

  /** Polls the router as an application thread would, every 50 µs, until the new partition answers. */
  private static long awaitVisible(PartitionRouter router, Instant probe, String expected, long sent) {
    long deadline = sent + TimeUnit.SECONDS.toNanos(10);
    while (true) {
      long now = System.nanoTime();
      if (expected.equals(resolveOrNull(router, probe))) {
        return now;
      }
      if (now > deadline) {
        throw new IllegalStateException("the router did not see " + expected + " in 10 s");
      }
      LockSupport.parkNanos(50_000);
    }
  }

  /** The baseline: a plain consumer with default settings, noting when each change's record arrives. */
  private static Thread rawConsumer(String bootstrap, String topic, AtomicLongArray received, AtomicBoolean running)
      throws InterruptedException {
    Map<String, Object> config = Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    java.util.concurrent.CountDownLatch assigned = new java.util.concurrent.CountDownLatch(1);
    Thread t = new Thread(() -> {
      try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(config, new StringDeserializer(), new ByteArrayDeserializer())) {
        List<TopicPartition> partitions = consumer.partitionsFor(topic).stream()
            .map(p -> new TopicPartition(topic, p.partition())).toList();
        consumer.assign(partitions);
        consumer.seekToEnd(partitions);
        partitions.forEach(consumer::position); // resolve the end offsets now, before the first change is sent
        assigned.countDown();
        while (running.get()) {
          for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(100))) {
            long now = System.nanoTime();
            received.set(Integer.parseInt(new String(r.headers().lastHeader("seq").value())), now);
          }
        }
      }
    }, "raw-consumer");
    t.setDaemon(true);
    t.start();
    if (!assigned.await(30, TimeUnit.SECONDS)) {
      throw new IllegalStateException("the raw consumer was not assigned in 30 s");
    }
    return t;
  }

  /** What the follower spends applying one change to a table of {@code preload} partitions. */
  private static Stats applyCost(int preload) {
    PartitionRouter router = new PartitionRouter();
    List<BoundaryChange> all = new ArrayList<>();
    for (int i = 0; i < preload; i++) {
      all.add(change(i));
    }
    router.applyAll(all);
    for (int i = 0; i < 1_000; i++) { // warm-up: the JIT, not the figure
      router.apply(change(preload + i));
    }
    long[] nanos = new long[1_000];
    for (int i = 0; i < nanos.length; i++) {
      BoundaryChange c = change(preload + 1_000 + i);
      long t0 = System.nanoTime();
      router.apply(c);
      nanos[i] = System.nanoTime() - t0;
    }
    return Stats.of(nanos);
  }

  private static String name(int i) {
    return TABLE + "_h" + i;
  }

  private static BoundaryChange change(int i) {
    Instant from = START.plus(Duration.ofHours(i));
    return BoundaryChange.newBuilder()
        .setAggregateId("*/" + TABLE).setAggregateVersion(i).setRootTable(TABLE).setChangedAt(Instant.now())
        .setChange(PartitionAdded.newBuilder().setPartition(name(i)).setParent(TABLE).setParentKey(BY_TIME)
            .setBound(Bounds.timeRange(from, from.plus(Duration.ofHours(1)))).build())
        .build();
  }

  private static ProducerRecord<String, byte[]> record(String topic, int i, BiFunction<String, BoundaryChange, byte[]> encoder) {
    ProducerRecord<String, byte[]> r = new ProducerRecord<>(topic, TABLE + "#" + (i % 7), encoder.apply(topic, change(i)));
    r.headers().add("seq", Integer.toString(i).getBytes());
    return r;
  }

  private static String resolveOrNull(PartitionRouter router, Instant t) {
    try {
      return router.resolve(TABLE, t);
    } catch (PartitionNotFoundException e) {
      return null;
    }
  }

  private static String loadAverage() {
    try {
      return java.nio.file.Files.readString(java.nio.file.Path.of("/proc/loadavg")).trim().split(" ")[0];
    } catch (java.io.IOException e) {
      return "?";
    }
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
