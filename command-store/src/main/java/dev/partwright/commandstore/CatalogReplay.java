package dev.partwright.commandstore;

import dev.partwright.schemas.CatalogSnapshot;
import dev.partwright.schemas.CommandLogEntry;
import dev.partwright.schemas.RegistryAvroSerde;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Rebuilds the {@link PartitionCatalog} from the command log: from offset 0, or from the latest
 * snapshot of each partition plus the records after it (the tail). Both give the same catalog,
 * byte for byte; the second reads only the tail. Committed records only ({@code read_committed}).
 * Records the fold refuses are reported as {@link DeadLetter}s and skipped.
 */
public final class CatalogReplay {

  /** Receives progress while a replay runs (from the replaying thread, once per fetched batch). */
  @FunctionalInterface
  public interface Progress {
    Progress NONE = (read, total) -> {};

    void update(long recordsRead, long recordsTotal);
  }

  /**
   * What a replay produced.
   *
   * @param catalog the rebuilt catalog
   * @param deadLetters the records refused during this replay (not those already covered by a snapshot), in log order per partition
   * @param recordsRead records read by this replay (the tail only, when starting from snapshots)
   * @param snapshotOffsets per commands partition, the offset the loaded snapshot covered up to; empty from offset 0
   * @param warnings facts an operator should know (ignored snapshots, records lost to retention)
   * @param took wall time
   */
  public record Result(PartitionCatalog catalog, List<DeadLetter> deadLetters, long recordsRead,
      SortedMap<Integer, Long> snapshotOffsets, List<String> warnings, Duration took) {
    public Result {
      deadLetters = List.copyOf(deadLetters);
      snapshotOffsets = Collections.unmodifiableSortedMap(new TreeMap<>(snapshotOffsets));
      warnings = List.copyOf(warnings);
    }
  }

  /** Parallel fold lanes at most; beyond a few, fetching from the broker is the limit. */
  private static final int MAX_LANES = 4;

  private CatalogReplay() {}

  /** Folds the whole log from each partition's first offset. */
  public static Result fromZero(CommandStoreConfig config, Progress progress) {
    return run(config, false, progress);
  }

  /** Loads each partition's latest snapshot and folds the records after it; partitions without one from 0. */
  public static Result fromSnapshots(CommandStoreConfig config, Progress progress) {
    return run(config, true, progress);
  }

  private static Result run(CommandStoreConfig config, boolean useSnapshots, Progress progress) {
    Instant started = Instant.now();
    List<DeadLetter> dead = new ArrayList<>();
    try (Reader reader = Reader.open(config, useSnapshots)) {
      long read = reader.foldToEnd(progress, dead::add);
      dead.sort(Comparator.comparingInt(DeadLetter::partition).thenComparingLong(DeadLetter::offset));
      return new Result(reader.catalog, dead, read, new TreeMap<>(reader.snapshotOffsets), reader.warnings,
          Duration.between(started, Instant.now()));
    }
  }

  /**
   * Consumer settings for reading the log fast: large fetches, large polls, committed records only,
   * no group (positions are the catalog's business). The benchmark's raw baseline uses the same.
   */
  public static Properties consumerProperties(String bootstrapServers) {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 10_000);
    p.put(ConsumerConfig.FETCH_MAX_BYTES_CONFIG, 64 * 1024 * 1024);
    p.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 16 * 1024 * 1024);
    p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 100);
    p.put(ConsumerConfig.RECEIVE_BUFFER_CONFIG, 1024 * 1024);
    p.put(ConsumerConfig.CLIENT_ID_CONFIG, "partwright-replay");
    // looking for a topic must not create it with broker defaults (a snapshots topic that is not compacted)
    p.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, false);
    return p;
  }

  /**
   * {@link #consumerProperties} for a consumer that reads only records known to exist (a range up to
   * an end offset already looked up, or up to another consumer's position): it never long-polls. A
   * fetch sent ahead past the last record would be held by the broker for {@code fetch.max.wait.ms},
   * and a consumer sends no fetch to a broker while one to it is in flight, so the next read — of
   * another topic or partition — would wait that long.
   */
  static Properties boundedReadProperties(String bootstrapServers) {
    Properties p = consumerProperties(bootstrapServers);
    p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 0);
    return p;
  }

  /**
   * A catalog and the consumer that feeds it, positioned where the catalog ends: replay reads to the
   * end once; the store and the snapshot writer keep reading.
   */
  static final class Reader implements AutoCloseable {
    final KafkaConsumer<String, byte[]> consumer;
    final PartitionCatalog catalog;
    /** Decodes the log's records; shared by the lanes (thread-safe, ids and readers cached). */
    final RegistryAvroSerde<CommandLogEntry> log;
    final List<TopicPartition> partitions;
    final Map<Integer, Long> snapshotOffsets = new HashMap<>();
    final List<String> warnings = new ArrayList<>();

    private Reader(KafkaConsumer<String, byte[]> consumer, PartitionCatalog catalog, RegistryAvroSerde<CommandLogEntry> log,
        List<TopicPartition> partitions) {
      this.consumer = consumer;
      this.catalog = catalog;
      this.log = log;
      this.partitions = partitions;
    }

    static Reader open(CommandStoreConfig config, boolean useSnapshots) {
      // the snapshots are searched while this consumer finds the log's partitions and offsets
      CompletableFuture<Snapshots.Found> search = useSnapshots ? Snapshots.searchAsync(config) : null;
      KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(consumerProperties(config.bootstrapServers()),
          new StringDeserializer(), new ByteArrayDeserializer());
      try {
        List<PartitionInfo> infos = c.partitionsFor(config.commandsTopic(), Duration.ofSeconds(30));
        if (infos == null || infos.isEmpty()) {
          throw new CommandStoreException("topic " + config.commandsTopic() + " does not exist on " + config.bootstrapServers());
        }
        List<TopicPartition> tps = infos.stream().map(i -> new TopicPartition(i.topic(), i.partition()))
            .sorted(Comparator.comparingInt(TopicPartition::partition)).toList();
        Reader r = new Reader(c, new PartitionCatalog(config.commandsTopic(), tps.size()),
            config.serdes().serde(CommandLogEntry.class), tps);
        Map<TopicPartition, Long> begin = c.beginningOffsets(tps);
        Map<TopicPartition, Long> end = c.endOffsets(tps);
        Map<Integer, CatalogSnapshot> snapshots = Map.of();
        if (search != null) {
          Snapshots.Found found = await(search, "searching the snapshots");
          r.warnings.addAll(found.warnings());
          snapshots = found.snapshots();
        }
        c.assign(tps);
        for (CatalogSnapshot s : snapshots.values()) {
          if (s.getPartition() >= tps.size()) {
            r.warnings.add("snapshot of partition " + s.getPartition() + " but " + config.commandsTopic() + " has "
                + tps.size() + " partitions: snapshots ignored, replaying from offset 0");
            snapshots = Map.of();
            break;
          }
          TopicPartition tp = tps.get(s.getPartition());
          if (s.getNextOffset() > end.get(tp)) {
            // the log is shorter than the snapshot: the topic was re-created, the snapshots are of another log
            r.warnings.add("snapshot of " + tp + " covers up to offset " + s.getNextOffset() + " but the log ends at "
                + end.get(tp) + ": snapshots ignored, replaying from offset 0");
            snapshots = Map.of();
            break;
          }
        }
        for (TopicPartition tp : tps) {
          CatalogSnapshot s = snapshots.get(tp.partition());
          long from = begin.get(tp);
          if (s != null) {
            r.catalog.restore(s);
            r.snapshotOffsets.put(tp.partition(), s.getNextOffset());
            if (s.getNextOffset() < from) {
              r.warnings.add("records " + s.getNextOffset() + ".." + (from - 1) + " of " + tp
                  + " were deleted before any snapshot covered them");
            }
            from = Math.max(from, s.getNextOffset());
          } else if (from > 0) {
            r.warnings.add("the log of " + tp + " starts at offset " + from + ": earlier records were deleted");
          }
          c.seek(tp, from);
          r.catalog.advance(tp.partition(), from);
        }
        return r;
      } catch (RuntimeException e) {
        c.close(Duration.ZERO);
        throw e;
      }
    }

    /**
     * Folds until every partition reaches the end offsets of the moment of the call; returns records
     * read. With more than one core, partitions are folded on parallel lanes (a partition always on
     * the same lane, in offset order): decoding dominates replay, and partitions share no state.
     */
    long foldToEnd(Progress progress, Consumer<DeadLetter> deadLetters) {
      Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
      long total = 0;
      for (TopicPartition tp : partitions) {
        total += Math.max(0, end.get(tp) - consumer.position(tp));
      }
      int lanes = Math.min(Math.min(Runtime.getRuntime().availableProcessors(), MAX_LANES), partitions.size());
      if (lanes < 2) {
        return foldUntil(end, total, progress, deadLetters, null, Duration.ofMinutes(30));
      }
      return foldInLanes(end, total, progress, deadLetters, lanes);
    }

    private long foldInLanes(Map<TopicPartition, Long> end, long total, Progress progress,
        Consumer<DeadLetter> deadLetters, int laneCount) {
      ExecutorService[] lanes = new ExecutorService[laneCount];
      for (int i = 0; i < laneCount; i++) {
        String name = "partwright-replay-lane-" + i;
        lanes[i] = Executors.newSingleThreadExecutor(r -> {
          Thread t = new Thread(r, name);
          t.setDaemon(true);
          return t;
        });
      }
      List<DeadLetter> dead = Collections.synchronizedList(new ArrayList<>());
      Deque<Future<?>> inFlight = new ArrayDeque<>();
      long read = 0;
      try {
        progress.update(0, total);
        while (!reached(end)) {
          ConsumerRecords<String, byte[]> records = consumer.poll(Duration.ofMillis(200));
          for (TopicPartition tp : records.partitions()) {
            List<ConsumerRecord<String, byte[]>> batch = records.records(tp);
            inFlight.add(lanes[tp.partition() % laneCount].submit(() -> {
              for (ConsumerRecord<String, byte[]> r : batch) {
                if (catalog.apply(r, log) instanceof PartitionCatalog.Refused refused) {
                  dead.add(new DeadLetter(r.topic(), r.partition(), r.offset(), r.key(), refused.reason()));
                }
              }
            }));
          }
          read += records.count();
          // bounded read-ahead: polled records wait in memory until a lane takes them
          while (inFlight.size() > 4 * laneCount) {
            await(inFlight.poll(), "a replay lane");
          }
          if (!records.isEmpty()) {
            progress.update(Math.min(read, total), total);
          }
        }
        while (!inFlight.isEmpty()) {
          await(inFlight.poll(), "a replay lane");
        }
      } finally {
        for (ExecutorService lane : lanes) {
          lane.shutdownNow();
        }
      }
      for (TopicPartition tp : partitions) {
        catalog.advance(tp.partition(), consumer.position(tp));
      }
      dead.forEach(deadLetters);
      return read;
    }

    /** The result of {@code f}; its failure rethrown as it was when unchecked, else wrapped; {@code what} failed names it. */
    private static <T> T await(Future<T> f, String what) {
      try {
        return f.get();
      } catch (ExecutionException e) {
        if (e.getCause() instanceof RuntimeException r) {
          throw r;
        }
        throw new CommandStoreException(what + " failed: " + e.getCause(), e.getCause());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new CommandStoreException("interrupted: " + what, e);
      }
    }

    /**
     * Polls and folds until each partition in {@code until} has position {@code >=} its offset.
     * Records of every assigned partition are folded as they come, so positions and catalog stay
     * together. {@code watch}, when given, sees every record's verdict.
     */
    long foldUntil(Map<TopicPartition, Long> until, long total, Progress progress, Consumer<DeadLetter> deadLetters,
        VerdictWatch watch, Duration timeout) {
      long deadline = System.nanoTime() + timeout.toNanos();
      long read = 0;
      progress.update(0, total);
      while (!reached(until)) {
        if (System.nanoTime() > deadline) {
          throw new CommandStoreException("timed out after " + timeout + " reading " + catalog.commandsTopic()
              + " up to " + until + " (positions " + positions(until) + ")");
        }
        ConsumerRecords<String, byte[]> records = consumer.poll(Duration.ofMillis(200));
        for (ConsumerRecord<String, byte[]> r : records) {
          PartitionCatalog.Verdict v = catalog.apply(r, log);
          if (v instanceof PartitionCatalog.Refused refused) {
            deadLetters.accept(new DeadLetter(r.topic(), r.partition(), r.offset(), r.key(), refused.reason()));
          }
          if (watch != null) {
            watch.seen(r, v);
          }
        }
        read += records.count();
        if (!records.isEmpty()) {
          for (TopicPartition tp : records.partitions()) {
            catalog.advance(tp.partition(), consumer.position(tp));
          }
          progress.update(Math.min(read, total), total);
        }
      }
      // positions can pass transaction markers and aborted records without returning anything
      for (TopicPartition tp : partitions) {
        catalog.advance(tp.partition(), consumer.position(tp));
      }
      return read;
    }

    private boolean reached(Map<TopicPartition, Long> until) {
      for (Map.Entry<TopicPartition, Long> e : until.entrySet()) {
        if (consumer.position(e.getKey()) < e.getValue()) {
          return false;
        }
      }
      return true;
    }

    private Map<TopicPartition, Long> positions(Map<TopicPartition, Long> of) {
      Map<TopicPartition, Long> out = new HashMap<>();
      of.keySet().forEach(tp -> out.put(tp, consumer.position(tp)));
      return out;
    }

    @Override
    public void close() {
      consumer.close(Duration.ofSeconds(5));
    }
  }

  /** Sees each record the reader folds and the fold's verdict on it. */
  @FunctionalInterface
  interface VerdictWatch {
    void seen(ConsumerRecord<String, byte[]> record, PartitionCatalog.Verdict verdict);
  }
}
