package dev.partwright.commandstore;

import dev.partwright.schemas.AvroSerde;
import dev.partwright.schemas.CommandLogEntry;
import dev.partwright.schemas.Failed;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.Provisioned;
import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.Rejected;
import dev.partwright.schemas.RetirePartitions;
import dev.partwright.schemas.Rollback;
import dev.partwright.schemas.RolledBack;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * The projection of the command log: for each aggregate, its version, its live partitions, the
 * commands still waiting for an outcome, and its history. Built by folding the log in order, so the
 * same log always yields the same catalog.
 */
public final class PartitionCatalog {

  /** One aggregate's state. */
  public static final class Aggregate {
    private final String id;
    private long version;
    private final SortedMap<String, PartitionSpec> partitions = new TreeMap<>();
    private final SortedMap<String, ProvisionPartitions> pending = new TreeMap<>();
    private final List<String> history = new ArrayList<>();

    Aggregate(String id) {
      this.id = id;
    }

    public String id() {
      return id;
    }

    /** Number of log entries (commands and outcomes) applied to this aggregate. */
    public long version() {
      return version;
    }

    /** Live partitions by qualified name. */
    public SortedMap<String, PartitionSpec> partitions() {
      return Collections.unmodifiableSortedMap(partitions);
    }

    /** Provisioning commands without an outcome yet, by idempotency key. */
    public SortedMap<String, ProvisionPartitions> pending() {
      return Collections.unmodifiableSortedMap(pending);
    }

    /** One line per log entry, oldest first. */
    public List<String> history() {
      return Collections.unmodifiableList(history);
    }
  }

  private final SortedMap<String, Aggregate> aggregates = new TreeMap<>();

  public SortedMap<String, Aggregate> aggregates() {
    return Collections.unmodifiableSortedMap(aggregates);
  }

  /** Folds one log entry into the catalog. */
  public void apply(CommandLogEntry entry) {
    Aggregate a = aggregates.computeIfAbsent(entry.getAggregateId(), Aggregate::new);
    a.version++;
    Object e = entry.getEntry();
    String line = entry.getRecordedAt() + " ";
    if (e instanceof ProvisionPartitions c) {
      a.pending.put(c.getHeader().getIdempotencyKey(), c);
      line += "ProvisionPartitions " + c.getHeader().getIdempotencyKey() + " x" + c.getPartitions().size()
          + " by " + c.getHeader().getIssuedBy() + ": " + c.getHeader().getReason();
    } else if (e instanceof Provisioned o) {
      a.pending.remove(o.getIdempotencyKey());
      for (PartitionSpec p : o.getCreated()) {
        a.partitions.put(p.getSchemaName() + "." + p.getName(), p);
      }
      for (PartitionSpec p : o.getAlreadyPresent()) {
        a.partitions.put(p.getSchemaName() + "." + p.getName(), p);
      }
      line += "Provisioned " + o.getIdempotencyKey() + " created " + o.getCreated().size() + ", already present "
          + o.getAlreadyPresent().size() + " (worker " + o.getWorker() + ")";
    } else if (e instanceof Rejected o) {
      a.pending.remove(o.getIdempotencyKey());
      line += "Rejected " + o.getIdempotencyKey() + " " + o.getCode() + ": " + o.getReason();
    } else if (e instanceof Failed o) {
      if (!o.getRetryable()) {
        a.pending.remove(o.getIdempotencyKey());
      }
      line += "Failed " + o.getIdempotencyKey() + (o.getRetryable() ? " (retryable)" : "") + ": " + o.getReason();
    } else if (e instanceof RolledBack o) {
      a.pending.remove(o.getIdempotencyKey());
      o.getDropped().forEach(a.partitions::remove);
      line += "RolledBack " + o.getIdempotencyKey() + " dropped " + o.getDropped();
    } else if (e instanceof RetirePartitions c) {
      line += "RetirePartitions " + c.getHeader().getIdempotencyKey() + " " + c.getPartitions();
    } else if (e instanceof Rollback c) {
      line += "Rollback " + c.getHeader().getIdempotencyKey() + " of " + c.getTargetIdempotencyKey();
    } else {
      line += "unknown entry " + e.getClass().getSimpleName();
    }
    a.history.add(line);
  }

  /** Every live partition of every aggregate, by qualified name. */
  public Map<String, PartitionSpec> livePartitions() {
    return aggregates.values().stream()
        .flatMap(a -> a.partitions.entrySet().stream())
        .collect(Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue, (x, y) -> x, TreeMap::new));
  }

  /**
   * Replays the whole log (committed records only) up to its end at the time of the call.
   */
  public static PartitionCatalog replay(CommandStoreConfig config) {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 5000);
    AvroSerde<CommandLogEntry> serde = AvroSerde.of(CommandLogEntry.class);
    PartitionCatalog catalog = new PartitionCatalog();
    try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(p, new StringDeserializer(),
        new org.apache.kafka.common.serialization.ByteArrayDeserializer())) {
      List<TopicPartition> partitions = consumer.partitionsFor(config.commandsTopic(), Duration.ofSeconds(30)).stream()
          .map(i -> new TopicPartition(i.topic(), i.partition()))
          .sorted((x, y) -> Integer.compare(x.partition(), y.partition()))
          .toList();
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
      // Partition by partition, in offset order: an aggregate lives in one partition, so this order
      // is the log's order for every aggregate and the fold is deterministic.
      for (TopicPartition tp : partitions) {
        consumer.assign(List.of(tp));
        consumer.seekToBeginning(List.of(tp));
        while (consumer.position(tp) < end.get(tp)) {
          for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(500))) {
            catalog.apply(serde.decode(r.topic(), r.value()));
          }
        }
      }
    }
    return catalog;
  }
}
