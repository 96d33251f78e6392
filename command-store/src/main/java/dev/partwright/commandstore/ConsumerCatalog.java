package dev.partwright.commandstore;

import dev.partwright.schemas.CatalogSnapshot;
import dev.partwright.schemas.CommandLogEntry;
import dev.partwright.schemas.RegistryAvroSerde;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * The catalog of the command-log partitions one group consumer owns, kept at the consumer's
 * position: a consumer that acts on commands (the worker) asks it, record by record, what the fold
 * makes of each, and acts only on what it {@link PartitionCatalog.Applied applied}. A stale command
 * is a {@link PartitionCatalog.Conflict} here exactly as for every other reader of the log.
 *
 * <p>When the group assigns a partition, its state is rebuilt up to the consumer's position (the
 * committed offset): from the latest snapshot when that snapshot does not go past the position,
 * otherwise from the partition's start. A record folded already (the consumer rewound to it, e.g.
 * while the worker's circuit breaker was open) gets the verdict it got the first time.
 *
 * <p>Used from the consumer's thread only (its rebalance callbacks included).
 */
public final class ConsumerCatalog implements AutoCloseable {

  private static final Duration REBUILD_TIMEOUT = Duration.ofMinutes(10);

  private final CommandStoreConfig config;
  private final RegistryAvroSerde<CommandLogEntry> log;
  private KafkaConsumer<String, byte[]> reader;
  private PartitionCatalog catalog;
  /** Per partition, the last record folded and its verdict. */
  private final Map<Integer, Folded> last = new HashMap<>();

  private record Folded(long offset, PartitionCatalog.Verdict verdict) {}

  public ConsumerCatalog(CommandStoreConfig config) {
    this.config = config;
    this.log = config.serdes().serde(CommandLogEntry.class);
  }

  /**
   * Rebuilds each partition's state up to its position (the next offset the consumer reads).
   * Call from {@code onPartitionsAssigned} with {@code consumer.position(tp)} of each partition.
   */
  public void assigned(Map<TopicPartition, Long> positions) {
    if (positions.isEmpty()) {
      return;
    }
    KafkaConsumer<String, byte[]> c = reader();
    Map<Integer, CatalogSnapshot> snapshots = Snapshots.latest(config, catalog.partitionCount(), new ArrayList<>());
    for (Map.Entry<TopicPartition, Long> e : positions.entrySet()) {
      int p = e.getKey().partition();
      long position = e.getValue();
      catalog.clear(p);
      last.remove(p);
      CatalogSnapshot s = snapshots.get(p);
      long from = 0;
      if (s != null && s.getNextOffset() <= position) {
        catalog.restore(s);
        from = s.getNextOffset();
      }
      fold(c, e.getKey(), from, position);
    }
  }

  /** Forgets partitions the consumer no longer owns. */
  public void revoked(Collection<TopicPartition> partitions) {
    if (catalog == null) {
      return;
    }
    for (TopicPartition tp : partitions) {
      catalog.clear(tp.partition());
      last.remove(tp.partition());
    }
  }

  /**
   * The fold's verdict on a consumed record, folding it if it is new. {@code entry} is the record
   * decoded, or null when it could not be decoded (then it is refused).
   */
  public PartitionCatalog.Verdict apply(ConsumerRecord<String, byte[]> record, CommandLogEntry entry) {
    if (catalog == null) {
      reader();
    }
    int p = record.partition();
    Folded f = last.get(p);
    if (f != null && f.offset() == record.offset()) {
      return f.verdict();
    }
    if (record.offset() < catalog.nextOffset(p)) {
      throw new IllegalStateException(record.topic() + "-" + p + "@" + record.offset() + " was folded already (the catalog is at "
          + catalog.nextOffset(p) + "): the consumer went back further than one record");
    }
    PartitionCatalog.Verdict v = entry == null ? catalog.apply(record, log)
        : catalog.apply(p, record.offset(), record.key(), entry);
    last.put(p, new Folded(record.offset(), v));
    return v;
  }

  /** The catalog of the owned partitions (others are empty). */
  public PartitionCatalog catalog() {
    if (catalog == null) {
      reader();
    }
    return catalog;
  }

  private KafkaConsumer<String, byte[]> reader() {
    if (reader == null) {
      // it reads up to the worker's position only: no wait for more before the next partition's rebuild
      KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(CatalogReplay.boundedReadProperties(config.bootstrapServers()),
          new StringDeserializer(), new ByteArrayDeserializer());
      List<PartitionInfo> infos = c.partitionsFor(config.commandsTopic(), Duration.ofSeconds(30));
      if (infos == null || infos.isEmpty()) {
        c.close(Duration.ZERO);
        throw new CommandStoreException("topic " + config.commandsTopic() + " does not exist on " + config.bootstrapServers());
      }
      reader = c;
      catalog = new PartitionCatalog(config.commandsTopic(), infos.size());
    }
    return reader;
  }

  /** Folds records [from, to) of one partition: exactly up to the consumer's position, not one record further. */
  private void fold(KafkaConsumer<String, byte[]> c, TopicPartition tp, long from, long to) {
    c.assign(List.of(tp));
    long begin = c.beginningOffsets(List.of(tp)).get(tp);
    from = Math.max(from, begin);
    c.seek(tp, from);
    catalog.advance(tp.partition(), from);
    long deadline = System.nanoTime() + REBUILD_TIMEOUT.toNanos();
    while (c.position(tp) < to) {
      if (System.nanoTime() > deadline) {
        throw new CommandStoreException("timed out after " + REBUILD_TIMEOUT + " rebuilding the catalog of " + tp
            + " up to offset " + to + " (at " + c.position(tp) + ")");
      }
      for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(200))) {
        if (r.offset() < to) {
          catalog.apply(r, log);
        }
      }
    }
    catalog.advance(tp.partition(), to);
  }

  @Override
  public void close() {
    if (reader != null) {
      reader.close(Duration.ofSeconds(5));
      reader = null;
    }
  }
}
