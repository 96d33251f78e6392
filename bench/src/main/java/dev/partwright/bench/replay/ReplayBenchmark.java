package dev.partwright.bench.replay;

import dev.partwright.commandstore.CatalogReplay;
import dev.partwright.commandstore.CommandStoreConfig;
import dev.partwright.commandstore.CommandTopics;
import dev.partwright.commandstore.PartitionCatalog;
import dev.partwright.commandstore.SnapshotWriter;
import dev.partwright.embedded.EmbeddedKafka;
import dev.partwright.schemas.AggregateId;
import dev.partwright.embedded.Servers;
import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.schemas.RegistryAvroSerde;
import dev.partwright.schemas.SchemaRegistryConfig;
import dev.partwright.schemas.Bounds;
import dev.partwright.schemas.CommandHeader;
import dev.partwright.schemas.CommandLogEntry;
import dev.partwright.schemas.Failed;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.Provisioned;
import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.Rejected;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
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
 * Replay of the command log into the catalog, measured against its baselines in the same run on
 * an embedded broker:
 *
 * <ol>
 *   <li>from offset 0 vs. a raw {@code KafkaConsumer} that only reads and deserializes the same
 *       topic with the same consumer settings (goal: at least 0.7x its throughput);
 *   <li>from a snapshot + 1 % tail vs. from offset 0 (goal: at least 10x faster).
 * </ol>
 *
 * The log: {@code --aggregates} tables, each a run of ProvisionPartitions commands (3 daily
 * partitions, the newest one new) answered mostly by Provisioned, some Rejected, some Failed
 * (retryable) and then Provisioned; {@code --records} records in all, 6 partitions.
 *
 * <p>{@code mvn -q -pl bench exec:exec -Dexec.executable=java -Dexec.args="-Xmx3g -cp %classpath
 * dev.partwright.bench.replay.ReplayBenchmark"} (after {@code mvn -q -pl bench -am install -DskipTests}).
 */
public final class ReplayBenchmark {

  /** The registry of PARTWRIGHT_SCHEMA_REGISTRY_URL, else an embedded one: the log is in the Confluent wire format. */
  private static final PartwrightSerdes SERDES =
      PartwrightSerdes.create(SchemaRegistryConfig.of(Servers.schemaRegistry().url()));
  private static final RegistryAvroSerde<CommandLogEntry> LOG = SERDES.serde(CommandLogEntry.class);

  private ReplayBenchmark() {}

  public static void main(String[] args) throws Exception {
    // client INFO logs (a config dump per consumer) would drown the figures; before any logger exists
    System.setProperty("org.slf4j.simpleLogger.log.org.apache.kafka", System.getProperty(
        "org.slf4j.simpleLogger.log.org.apache.kafka", "warn"));
    int records = intArg(args, "--records", 1_000_000);
    int aggregates = intArg(args, "--aggregates", 2_000);
    int rounds = intArg(args, "--rounds", 3);
    double tailShare = 0.01;
    Path dir = Files.createTempDirectory("partwright-replay-bench-");
    try (EmbeddedKafka kafka = EmbeddedKafka.start(dir)) {
      CommandStoreConfig config = new CommandStoreConfig(kafka.bootstrapServers(), "bench.commands", "bench.boundaries",
          6, (short) 1, 1, "bench.snapshots", "bench.commands.dlq", SERDES);
      Properties ap = new Properties();
      ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
      try (Admin admin = Admin.create(ap)) {
        CommandTopics.ensure(admin, config);
      }
      System.out.printf("replay benchmark: %,d records, %,d aggregates, %d partitions, tail %.0f %%, %d rounds, %d cpus, max heap %,d MB%n",
          records, aggregates, config.partitions(), tailShare * 100, rounds, Runtime.getRuntime().availableProcessors(),
          Runtime.getRuntime().maxMemory() >> 20);

      Log log = new Log(aggregates);
      int head = records - (int) Math.round(records * tailShare);
      long t0 = System.nanoTime();
      long bytes = log.write(config, head);
      System.out.printf("wrote %,d records (%,d MB) in %.1f s%n", head, bytes >> 20, seconds(t0));

      t0 = System.nanoTime();
      PartitionCatalog atHead = CatalogReplay.fromZero(config, CatalogReplay.Progress.NONE).catalog();
      SnapshotWriter.write(config, atHead);
      System.out.printf("snapshot of %,d records written in %.1f s (replay included)%n", atHead.recordsRead(), seconds(t0));
      atHead = null;
      t0 = System.nanoTime();
      bytes += log.write(config, records - head);
      System.out.printf("wrote the tail: %,d records in %.1f s%n", records - head, seconds(t0));

      double[] raw = new double[rounds];
      double[] zero = new double[rounds];
      double[] snap = new double[rounds];
      long checksum = 0;
      for (int r = 0; r < rounds; r++) {
        System.gc();
        t0 = System.nanoTime();
        checksum += rawRead(config, records);
        raw[r] = seconds(t0);
        System.gc();
        t0 = System.nanoTime();
        CatalogReplay.Result z = CatalogReplay.fromZero(config, CatalogReplay.Progress.NONE);
        zero[r] = seconds(t0);
        check(z.recordsRead() == records, "replay from 0 read " + z.recordsRead() + " records, expected " + records);
        byte[] full = z.catalog().canonicalBytes();
        z = null;
        System.gc();
        t0 = System.nanoTime();
        CatalogReplay.Result s = CatalogReplay.fromSnapshots(config, CatalogReplay.Progress.NONE);
        snap[r] = seconds(t0);
        check(s.recordsRead() == records - head, "replay from snapshot read " + s.recordsRead() + " tail records");
        check(Arrays.equals(full, s.catalog().canonicalBytes()), "snapshot + tail catalog differs from the full replay");
        s = null;
        System.out.printf("round %d: raw read %.2f s, replay from 0 %.2f s, snapshot + tail %.3f s%n", r + 1, raw[r],
            zero[r], snap[r]);
      }
      double rawBest = min(raw);
      double zeroBest = min(zero);
      double snapBest = min(snap);
      System.out.println();
      System.out.printf("raw KafkaConsumer read + deserialize: %,.0f records/s (best of %d, %.2f s)  [baseline]%n",
          records / rawBest, rounds, rawBest);
      System.out.printf("replay from offset 0 into the catalog: %,.0f records/s (best of %d, %.2f s) = %.2fx the raw baseline (goal >= 0.70x)%n",
          records / zeroBest, rounds, zeroBest, rawBest / zeroBest);
      System.out.printf("replay from snapshot + 1 %% tail:        %.3f s = %.1fx faster than from offset 0 (%.2f s, baseline; goal >= 10x)%n",
          snapBest, zeroBest / snapBest, zeroBest);
      System.out.printf("(checksum %d, log %,d MB)%n", checksum, bytes >> 20);
    }
  }

  /** The baseline: read every record of the log and deserialize it, nothing else. */
  private static long rawRead(CommandStoreConfig config, int expected) {
    Properties p = CatalogReplay.consumerProperties(config.bootstrapServers());
    long checksum = 0;
    int read = 0;
    try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> tps = c.partitionsFor(config.commandsTopic(), Duration.ofSeconds(30)).stream()
          .map(i -> new TopicPartition(i.topic(), i.partition())).toList();
      c.assign(tps);
      c.seekToBeginning(tps);
      Map<TopicPartition, Long> end = c.endOffsets(tps);
      while (tps.stream().anyMatch(tp -> c.position(tp) < end.get(tp))) {
        for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(200))) {
          CommandLogEntry e = LOG.decode(r.topic(), r.value());
          checksum += e.getAggregateId().length() + (e.getEntry() instanceof Provisioned ? 1 : 0);
          read++;
        }
      }
    }
    check(read == expected, "raw read " + read + " records, expected " + expected);
    return checksum;
  }

  /**
   * The generated command log: each aggregate walks forward one day per command. {@link #step} is
   * shared with {@link FoldBenchmark}, which folds the same log without a broker.
   */
  static final class Log {
    static final Instant DAY0 = Instant.parse("2026-01-01T00:00:00Z");
    private final List<AggregateId> aggregates = new ArrayList<>();
    private final int[] step;
    private int next;

    Log(int count) {
      for (int i = 0; i < count; i++) {
        aggregates.add(new AggregateId("tenant-" + (i / 10), "app", "events_" + (i % 10)));
      }
      step = new int[count];
    }

    /** Appends {@code count} records, aggregates round-robin; returns the bytes written. */
    long write(CommandStoreConfig config, int count) throws Exception {
      Properties p = new Properties();
      p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
      p.put(ProducerConfig.ACKS_CONFIG, "all");
      p.put(ProducerConfig.LINGER_MS_CONFIG, 20);
      p.put(ProducerConfig.BATCH_SIZE_CONFIG, 256 * 1024);
      p.put(ProducerConfig.BUFFER_MEMORY_CONFIG, 128L * 1024 * 1024);
      long bytes = 0;
      int written = 0;
      try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer())) {
        while (written < count) {
          int i = next++ % aggregates.size();
          AggregateId a = aggregates.get(i);
          for (Object e : step(a, step[i]++)) {
            if (written == count) {
              break;
            }
            byte[] value = LOG.encode(config.commandsTopic(), new CommandLogEntry(a.toString(), DAY0, e));
            producer.send(new ProducerRecord<>(config.commandsTopic(), a.toString(), value));
            bytes += value.length;
            written++;
          }
        }
        producer.flush();
      }
      return bytes;
    }

    /** The records of aggregate {@code a}'s step {@code s}: a command and its outcomes. */
    static List<Object> step(AggregateId a, int s) {
      String key = a + "#" + s;
      ProvisionPartitions command = ProvisionPartitions.newBuilder()
          .setHeader(CommandHeader.newBuilder().setIdempotencyKey(key).setAggregateId(a.toString()).setExpectedVersion(-1)
              .setIssuedAt(DAY0.plus(Duration.ofHours(s))).setIssuedBy("demand-topology")
              .setReason("buffer below 2 days ahead").build())
          .setPartitions(List.of(day(a, s), day(a, s + 1), day(a, s + 2)))
          .build();
      List<Object> out = new ArrayList<>(List.of(command));
      if (s % 20 == 7) {
        out.add(Rejected.newBuilder().setIdempotencyKey(key).setCode("QUOTA_PARTITIONS")
            .setReason("tenant quota of 400 partitions reached").build());
        return out;
      }
      if (s % 20 == 13) {
        out.add(Failed.newBuilder().setIdempotencyKey(key).setRetryable(true).setAttempts(3).setSqlState("55P03")
            .setReason("lock timeout").build());
      }
      out.add(Provisioned.newBuilder().setIdempotencyKey(key).setCreated(List.of(day(a, s + 2)))
          .setAlreadyPresent(List.of(day(a, s), day(a, s + 1))).setWorker("worker-1").setDurationMicros(12_345).build());
      return out;
    }

    private static PartitionSpec day(AggregateId a, int d) {
      Instant from = DAY0.plus(Duration.ofDays(d));
      return PartitionSpec.newBuilder().setParent(a.qualifiedTable()).setSchemaName(a.schema())
          .setName(a.table() + "_" + a.tenant() + "_d" + d).setBound(Bounds.timeRange(from, from.plus(Duration.ofDays(1))))
          .build();
    }
  }

  private static double seconds(long since) {
    return (System.nanoTime() - since) / 1e9;
  }

  private static double min(double[] xs) {
    return Arrays.stream(xs).min().orElseThrow();
  }

  private static void check(boolean ok, String what) {
    if (!ok) {
      throw new IllegalStateException(what);
    }
  }

  private static int intArg(String[] args, String name, int fallback) {
    for (int i = 0; i + 1 < args.length; i++) {
      if (args[i].equals(name)) {
        return Integer.parseInt(args[i + 1].replace("_", "").replace(",", ""));
      }
    }
    return fallback;
  }
}
