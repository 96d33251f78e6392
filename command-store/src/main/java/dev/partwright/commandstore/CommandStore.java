package dev.partwright.commandstore;

import dev.partwright.schemas.AggregateId;
import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.CommandHeader;
import dev.partwright.schemas.CommandLogEntry;
import dev.partwright.schemas.Failed;
import dev.partwright.schemas.Provisioned;
import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.RegistryAvroSerde;
import dev.partwright.schemas.Rejected;
import dev.partwright.schemas.Retired;
import dev.partwright.schemas.RetirePartitions;
import dev.partwright.schemas.Rollback;
import dev.partwright.schemas.RolledBack;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.locks.ReentrantLock;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Appends commands and outcomes to the command log, keyed by aggregate id, with an idempotent
 * producer ({@code acks=all}): a retried send is stored once.
 *
 * <p><b>Optimistic concurrency: the log is the arbiter.</b> Kafka has no compare-and-set, and the
 * log has three kinds of writers (the demand topology's {@code to()}, the workers' transactional
 * outcomes, operators through this class). A single writer per aggregate would need every one of
 * them to route its appends through the owner of the aggregate's partition; a check in memory
 * alone would race with the writers that do not. Instead, validity is decided by position: every
 * reader folds the log with the same rules ({@link PartitionCatalog}), and at a command's position
 * either its expected version matches the aggregate's version there, or the command is a conflict
 * that has no effect, for every reader, forever. {@link #append(AggregateId, long,
 * ProvisionPartitions)} therefore
 *
 * <ol>
 *   <li>reads the aggregate's partition up to its end and refuses at once, without writing, a
 *       command whose key the aggregate has (returns the original, {@link Appended#duplicate()}) or
 *       whose expected version is stale ({@link VersionConflictException});
 *   <li>appends, then reads its partition up to its own record and reports the fold's verdict on
 *       it: if another writer got in between, the record is a conflict (or a duplicate) in the log
 *       and the append fails with {@link VersionConflictException}, never silently interleaved.
 * </ol>
 *
 * A zombie appender needs no fencing for this: its stale command is a conflict like any other.
 * Consumers that act on commands (the worker) must skip the ones the fold does not apply.
 *
 * <p><b>Transactions.</b> A store made with {@link #transactional} writes every append in a Kafka
 * transaction under its transactional id, and offers {@link #appendOutcome}: the outcome, its
 * boundary changes and the consumed command offset commit together or not at all. A newer
 * instance with the same id fences this one: the call fails with {@link WriterFencedException},
 * the store closes its producer and refuses further calls.
 *
 * <p>Thread-safe; appends are serialised per store.
 */
public final class CommandStore implements AutoCloseable {

  /** How long an append may wait to read its own record back. */
  private static final Duration CONFIRM_TIMEOUT = Duration.ofMinutes(2);

  private final CommandStoreConfig config;
  private final RegistryAvroSerde<CommandLogEntry> log;
  private final RegistryAvroSerde<BoundaryChange> boundaries;
  private final String transactionalId;
  private final KafkaProducer<String, byte[]> producer;
  private final ReentrantLock lock = new ReentrantLock();
  private CatalogReplay.Reader reader;
  private WriterFencedException fenced;
  private boolean closed;

  /** Test seams: run after the pre-checks and before sending; after sending and before committing. */
  volatile Runnable beforeSend = () -> {};
  volatile Runnable beforeCommit = () -> {};

  public CommandStore(CommandStoreConfig config) {
    this(config, null);
  }

  private CommandStore(CommandStoreConfig config, String transactionalId) {
    this.config = config;
    this.log = config.serdes().serde(CommandLogEntry.class);
    this.boundaries = config.serdes().serde(BoundaryChange.class);
    this.transactionalId = transactionalId;
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.LINGER_MS_CONFIG, 0);
    if (transactionalId != null) {
      p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
    }
    this.producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
    if (transactionalId != null) {
      try {
        // fences every older instance with this id and aborts the transaction it left open
        producer.initTransactions();
      } catch (KafkaException e) {
        producer.close(Duration.ZERO);
        throw new CommandStoreException("cannot initialise transactions for " + transactionalId + " on "
            + config.bootstrapServers() + ": " + e, e);
      }
    }
  }

  /**
   * A store whose writes are Kafka transactions under {@code transactionalId}; starting it fences
   * any older instance with the same id. Use a stable id per logical writer ({@code
   * partwright-worker-<id>}), so that a restarted instance fences its zombie predecessor.
   */
  public static CommandStore transactional(CommandStoreConfig config, String transactionalId) {
    return new CommandStore(config, java.util.Objects.requireNonNull(transactionalId, "transactionalId"));
  }

  /**
   * Appends one entry as it is, without the idempotency and version checks, and waits until the log
   * holds it. For writers that replay what others decided (tests, migrations); commands from a
   * decision should use {@link #append(AggregateId, long, ProvisionPartitions)}.
   */
  public RecordMetadata append(CommandLogEntry entry) {
    lock.lock();
    try {
      ensureOpen();
      return send(new ProducerRecord<>(config.commandsTopic(), entry.getAggregateId(),
          log.encode(config.commandsTopic(), entry)), List.of(), Map.of(), null, entry.getAggregateId());
    } finally {
      lock.unlock();
    }
  }

  /**
   * Appends a command if the aggregate is at {@code expectedVersion} ({@code -1}: any version) and
   * does not have the command's idempotency key yet.
   *
   * @return where the command is; {@link Appended#duplicate()} when the key was already there
   * @throws VersionConflictException when the aggregate is, or another writer made it, at another version
   */
  public Appended append(AggregateId aggregate, long expectedVersion, ProvisionPartitions command) {
    return appendChecked(aggregate, expectedVersion, command);
  }

  /** As {@link #append(AggregateId, long, ProvisionPartitions)}. */
  public Appended append(AggregateId aggregate, long expectedVersion, RetirePartitions command) {
    return appendChecked(aggregate, expectedVersion, command);
  }

  /** As {@link #append(AggregateId, long, ProvisionPartitions)}. */
  public Appended append(AggregateId aggregate, long expectedVersion, Rollback command) {
    return appendChecked(aggregate, expectedVersion, command);
  }

  /** The aggregate's version in the log now (0 for an aggregate the log does not have). */
  public long version(AggregateId aggregate) {
    lock.lock();
    try {
      ensureOpen();
      TopicPartition tp = partitionOf(aggregate);
      catchUp(tp);
      return reader.catalog.aggregate(aggregate).map(PartitionCatalog.Aggregate::version).orElse(0L);
    } finally {
      lock.unlock();
    }
  }

  /**
   * Appends an outcome with its boundary changes and commits the consumed command offset in the
   * same transaction: after a crash either all of it is visible to {@code read_committed} readers
   * or none of it is, and the command is consumed again.
   *
   * @param outcome a {@link Provisioned}, {@link Rejected}, {@link Failed}, {@link RolledBack} or {@link Retired}
   * @param boundaryChanges published to the boundaries topic keyed by root table, in order
   * @param consumed the consumed positions to commit (next offset to read), may be empty
   * @param group the consumer group those positions belong to ({@code consumer.groupMetadata()})
   * @throws WriterFencedException when a newer instance with the same transactional id exists
   */
  public RecordMetadata appendOutcome(AggregateId aggregate, Object outcome, List<BoundaryChange> boundaryChanges,
      Map<TopicPartition, OffsetAndMetadata> consumed, ConsumerGroupMetadata group) {
    if (transactionalId == null) {
      throw new IllegalStateException("appendOutcome needs a transactional store (CommandStore.transactional)");
    }
    if (!(outcome instanceof Provisioned || outcome instanceof Rejected || outcome instanceof Failed
        || outcome instanceof RolledBack || outcome instanceof Retired)) {
      throw new IllegalArgumentException("not an outcome: " + (outcome == null ? "null" : outcome.getClass().getName()));
    }
    if (!consumed.isEmpty() && group == null) {
      throw new IllegalArgumentException("consumed offsets need the consumer group metadata");
    }
    CommandLogEntry entry = new CommandLogEntry(aggregate.toString(), now(), outcome);
    lock.lock();
    try {
      ensureOpen();
      return send(new ProducerRecord<>(config.commandsTopic(), aggregate.toString(),
          log.encode(config.commandsTopic(), entry)), boundaryChanges, consumed, group, aggregate.toString());
    } finally {
      lock.unlock();
    }
  }

  private Appended appendChecked(AggregateId aggregate, long expectedVersion, Object command) {
    CommandHeader h = PartitionCatalog.headerOf(command);
    if (!aggregate.toString().equals(h.getAggregateId())) {
      throw new IllegalArgumentException("command " + h.getIdempotencyKey() + " names aggregate " + h.getAggregateId()
          + ", not " + aggregate);
    }
    if (expectedVersion < -1) {
      throw new IllegalArgumentException("expected version must be -1 (any) or >= 0, got " + expectedVersion);
    }
    String key = h.getIdempotencyKey();
    lock.lock();
    try {
      ensureOpen();
      TopicPartition tp = partitionOf(aggregate);
      catchUp(tp);
      Optional<PartitionCatalog.Aggregate> a = reader.catalog.aggregate(aggregate);
      OptionalLong original = a.map(x -> x.commandOffset(key)).orElse(OptionalLong.empty());
      long actual = a.map(PartitionCatalog.Aggregate::version).orElse(0L);
      if (original.isPresent()) {
        return new Appended(aggregate, key, tp.partition(), original.getAsLong(), actual, true);
      }
      if (expectedVersion >= 0 && expectedVersion != actual) {
        throw new VersionConflictException(aggregate, key, expectedVersion, actual);
      }
      CommandLogEntry entry = new CommandLogEntry(aggregate.toString(), now(), withExpectedVersion(command, expectedVersion));
      beforeSend.run();
      RecordMetadata md = send(new ProducerRecord<>(config.commandsTopic(), tp.partition(), aggregate.toString(),
          log.encode(config.commandsTopic(), entry)), List.of(), Map.of(), null, aggregate.toString());
      PartitionCatalog.Verdict verdict = confirm(tp, md.offset());
      if (verdict instanceof PartitionCatalog.Applied applied) {
        return new Appended(aggregate, key, tp.partition(), md.offset(), applied.version(), false);
      } else if (verdict instanceof PartitionCatalog.Duplicate d) {
        return new Appended(aggregate, key, tp.partition(), d.originalOffset(), d.version(), true);
      } else if (verdict instanceof PartitionCatalog.Conflict c) {
        throw new VersionConflictException(aggregate, key, c.expected(), c.actual());
      } else {
        throw new CommandStoreException("the log refused command " + key + " of " + aggregate + " at " + tp + "@"
            + md.offset() + ": " + ((PartitionCatalog.Refused) verdict).reason());
      }
    } finally {
      lock.unlock();
    }
  }

  private TopicPartition partitionOf(AggregateId aggregate) {
    if (reader == null) {
      reader = CatalogReplay.Reader.open(config, true);
    }
    int p = LogPartitioner.partitionOf(aggregate.toString(), reader.partitions.size());
    return reader.partitions.get(p);
  }

  /** Folds the partition up to its end as of now (the last stable offset: committed records only). */
  private void catchUp(TopicPartition tp) {
    long end = reader.consumer.endOffsets(List.of(tp)).get(tp);
    reader.foldUntil(Map.of(tp, end), 0, CatalogReplay.Progress.NONE, dead -> {}, null, CONFIRM_TIMEOUT);
  }

  /** Folds the partition up to and including {@code offset} and returns the verdict on that record. */
  private PartitionCatalog.Verdict confirm(TopicPartition tp, long offset) {
    PartitionCatalog.Verdict[] verdict = new PartitionCatalog.Verdict[1];
    reader.foldUntil(Map.of(tp, offset + 1), 0, CatalogReplay.Progress.NONE, dead -> {}, (r, v) -> {
      if (r.partition() == tp.partition() && r.offset() == offset) {
        verdict[0] = v;
      }
    }, CONFIRM_TIMEOUT);
    if (verdict[0] == null) {
      throw new CommandStoreException("appended " + tp + "@" + offset + " but could not read it back");
    }
    return verdict[0];
  }

  private RecordMetadata send(ProducerRecord<String, byte[]> record, List<BoundaryChange> boundaryChanges,
      Map<TopicPartition, OffsetAndMetadata> consumed, ConsumerGroupMetadata group, String aggregate) {
    try {
      if (transactionalId == null) {
        return producer.send(record).get();
      }
      producer.beginTransaction();
      Future<RecordMetadata> sent = producer.send(record);
      for (BoundaryChange change : boundaryChanges) {
        producer.send(new ProducerRecord<>(config.boundariesTopic(), change.getRootTable(),
            boundaries.encode(config.boundariesTopic(), change)));
      }
      if (!consumed.isEmpty()) {
        producer.sendOffsetsToTransaction(consumed, group);
      }
      producer.flush();
      beforeCommit.run();
      producer.commitTransaction();
      return sent.get();
    } catch (ExecutionException e) {
      throw failed(aggregate, e.getCause());
    } catch (KafkaException e) {
      throw failed(aggregate, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CommandStoreException("interrupted while appending to " + config.commandsTopic() + " for " + aggregate, e);
    }
  }

  private CommandStoreException failed(String aggregate, Throwable cause) {
    if (transactionalId != null && isFencing(cause)) {
      fenced = new WriterFencedException(transactionalId, cause);
      producer.close(Duration.ZERO);
      return fenced;
    }
    if (transactionalId != null) {
      try {
        producer.abortTransaction();
      } catch (KafkaException abort) {
        if (isFencing(abort)) {
          fenced = new WriterFencedException(transactionalId, abort);
          producer.close(Duration.ZERO);
          return fenced;
        }
        cause.addSuppressed(abort);
      }
    }
    return new CommandStoreException("cannot append to " + config.commandsTopic() + " for " + aggregate + ": " + cause, cause);
  }

  private static boolean isFencing(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof ProducerFencedException || t instanceof InvalidProducerEpochException) {
        return true;
      }
    }
    return false;
  }

  private void ensureOpen() {
    if (fenced != null) {
      throw fenced;
    }
    if (closed) {
      throw new IllegalStateException("command store is closed");
    }
  }

  private static Instant now() {
    return Instant.now().truncatedTo(ChronoUnit.MICROS);
  }

  private static Object withExpectedVersion(Object command, long expectedVersion) {
    if (command instanceof ProvisionPartitions c) {
      return ProvisionPartitions.newBuilder(c).setHeader(stamp(c.getHeader(), expectedVersion)).build();
    } else if (command instanceof RetirePartitions c) {
      return RetirePartitions.newBuilder(c).setHeader(stamp(c.getHeader(), expectedVersion)).build();
    } else if (command instanceof Rollback c) {
      return Rollback.newBuilder(c).setHeader(stamp(c.getHeader(), expectedVersion)).build();
    }
    throw new IllegalArgumentException("not a command: " + command);
  }

  private static CommandHeader stamp(CommandHeader h, long expectedVersion) {
    return CommandHeader.newBuilder(h).setExpectedVersion(expectedVersion).build();
  }

  /** Simulates a crash: drops the producer without committing or aborting (tests only). */
  void crash() {
    lock.lock();
    try {
      producer.close(Duration.ZERO);
      closeReader();
      closed = true;
    } finally {
      lock.unlock();
    }
  }

  @Override
  public void close() {
    lock.lock();
    try {
      if (closed) {
        return;
      }
      closed = true;
      if (fenced == null) {
        producer.close(Duration.ofSeconds(10));
      }
      closeReader();
    } finally {
      lock.unlock();
    }
  }

  private void closeReader() {
    if (reader != null) {
      reader.close();
      reader = null;
    }
  }
}
