package dev.partwright.commandstore;

import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.schemas.CatalogSnapshot;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Reads and encodes records of the snapshots topic. */
final class Snapshots {

  private static final Logger LOG = LoggerFactory.getLogger(Snapshots.class);
  /** How many records back from the end the search for the latest snapshots starts. */
  private static final long FIRST_WINDOW = 64;

  private Snapshots() {}

  static String key(String commandsTopic, int partition) {
    return commandsTopic + "-" + partition;
  }

  static ProducerRecord<String, byte[]> record(String snapshotsTopic, PartwrightSerdes serdes, CatalogSnapshot s) {
    return new ProducerRecord<>(snapshotsTopic, key(s.getCommandsTopic(), s.getPartition()),
        serdes.serde(CatalogSnapshot.class).encode(snapshotsTopic, s));
  }

  /**
   * The latest snapshot (highest offset covered, current fold version) of each partition of the
   * commands topic, searching the snapshots topic backwards from its end: compaction is lazy, so
   * the topic may still hold many superseded snapshots, and reading from the beginning would cost
   * more than the replay the snapshot saves.
   *
   * <p>On a consumer of its own, which never long-polls ({@link CatalogReplay#boundedReadProperties}):
   * the ranges it reads end where the topic ends, and a fetch left waiting there would hold up the
   * caller's first fetch of the commands topic.
   */
  static Map<Integer, CatalogSnapshot> latest(CommandStoreConfig config, int commandPartitions, List<String> warnings) {
    try (KafkaConsumer<String, byte[]> c = searchConsumer(config)) {
      return latest(c, config, commandPartitions, warnings);
    }
  }

  private static KafkaConsumer<String, byte[]> searchConsumer(CommandStoreConfig config) {
    Properties p = CatalogReplay.boundedReadProperties(config.bootstrapServers());
    p.put(ConsumerConfig.CLIENT_ID_CONFIG, "partwright-snapshot-search");
    return new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
  }

  /** What a search found: the latest snapshot per commands partition, and what an operator should know. */
  record Found(Map<Integer, CatalogSnapshot> snapshots, List<String> warnings) {}

  /**
   * {@link #latest} on a thread of its own (the commands topic's partition count from its own
   * metadata), so that the caller sets up its reading of the commands topic meanwhile.
   */
  static CompletableFuture<Found> searchAsync(CommandStoreConfig config) {
    CompletableFuture<Found> found = new CompletableFuture<>();
    Thread t = new Thread(() -> {
      try {
        List<String> warnings = new ArrayList<>();
        try (KafkaConsumer<String, byte[]> c = searchConsumer(config)) {
          List<PartitionInfo> commands = c.partitionsFor(config.commandsTopic(), Duration.ofSeconds(30));
          Map<Integer, CatalogSnapshot> latest = commands == null || commands.isEmpty()
              ? Map.of() : latest(c, config, commands.size(), warnings);
          found.complete(new Found(latest, warnings));
        }
      } catch (Throwable e) {
        found.completeExceptionally(e);
      }
    }, "partwright-snapshot-search");
    t.setDaemon(true);
    t.start();
    return found;
  }

  private static Map<Integer, CatalogSnapshot> latest(KafkaConsumer<String, byte[]> c, CommandStoreConfig config,
      int commandPartitions, List<String> warnings) {
    Map<Integer, CatalogSnapshot> best = new HashMap<>();
    List<PartitionInfo> infos = c.partitionsFor(config.snapshotsTopic(), Duration.ofSeconds(30));
    if (infos == null || infos.isEmpty()) {
      return best;
    }
    for (PartitionInfo info : infos) {
      TopicPartition tp = new TopicPartition(info.topic(), info.partition());
      c.assign(List.of(tp));
      long begin = c.beginningOffsets(List.of(tp)).get(tp);
      long end = c.endOffsets(List.of(tp)).get(tp);
      Map<Integer, byte[]> found = new HashMap<>();
      long to = end;
      long window = FIRST_WINDOW;
      while (to > begin && found.size() < commandPartitions) {
        long from = Math.max(begin, to - window);
        Map<Integer, byte[]> inRange = read(c, tp, from, to, config.commandsTopic(), commandPartitions);
        // later ranges were read first and hold the newer snapshots
        inRange.forEach(found::putIfAbsent);
        to = from;
        window *= 4;
      }
      for (Map.Entry<Integer, byte[]> e : found.entrySet()) {
        try {
          CatalogSnapshot s = config.serdes().serde(CatalogSnapshot.class).decode(config.snapshotsTopic(), e.getValue());
          if (s.getFoldVersion() != PartitionCatalog.FOLD_VERSION) {
            warnings.add("snapshot of partition " + e.getKey() + " was written with fold version " + s.getFoldVersion()
                + ", this is " + PartitionCatalog.FOLD_VERSION + ": ignored, that partition is replayed from its start");
            continue;
          }
          CatalogSnapshot held = best.get(e.getKey());
          if (held == null || held.getNextOffset() < s.getNextOffset()) {
            best.put(e.getKey(), s);
          }
        } catch (RuntimeException ex) {
          warnings.add("unreadable snapshot of partition " + e.getKey() + " in " + tp + ": " + ex.getMessage()
              + "; that partition is replayed from its start");
          LOG.warn("unreadable snapshot of {}-{}: {}", config.commandsTopic(), e.getKey(), ex.toString());
        }
      }
    }
    return best;
  }

  /** The last snapshot value per commands partition among records [from, to) of the snapshots topic. */
  private static Map<Integer, byte[]> read(KafkaConsumer<String, byte[]> c, TopicPartition tp, long from, long to,
      String commandsTopic, int commandPartitions) {
    Map<Integer, byte[]> last = new HashMap<>();
    String prefix = commandsTopic + "-";
    c.seek(tp, from);
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (c.position(tp) < to) {
      if (System.nanoTime() > deadline) {
        throw new CommandStoreException("timed out reading " + tp + " from " + from + " to " + to);
      }
      for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(200))) {
        if (r.offset() >= to || r.key() == null || r.value() == null || !r.key().startsWith(prefix)) {
          continue;
        }
        try {
          int partition = Integer.parseInt(r.key().substring(prefix.length()));
          if (partition >= 0 && partition < commandPartitions) {
            last.put(partition, r.value());
          }
        } catch (NumberFormatException ignored) {
          // another topic whose name extends ours ("cmds-x-3"): not ours
        }
      }
    }
    return new HashMap<>(last);
  }

  static List<ProducerRecord<String, byte[]>> records(String snapshotsTopic, PartwrightSerdes serdes,
      List<CatalogSnapshot> snapshots) {
    List<ProducerRecord<String, byte[]>> out = new ArrayList<>();
    for (CatalogSnapshot s : snapshots) {
      out.add(record(snapshotsTopic, serdes, s));
    }
    return out;
  }
}
