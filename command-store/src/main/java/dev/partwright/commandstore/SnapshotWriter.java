package dev.partwright.commandstore;

import dev.partwright.schemas.CatalogSnapshot;
import dev.partwright.schemas.Topics;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.TreeSet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Follows the command log, keeps the catalog, and writes a snapshot of each partition that moved
 * to the compacted snapshots topic as the {@link SnapshotPolicy} says. Records the fold refuses go
 * to the dead-letter topic (header {@value Topics#REASON_HEADER}) in the same transaction as the
 * snapshot that covers them: a restarted writer resumes from that snapshot, so each refused record
 * is dead-lettered exactly once. A second instance with the same id fences the first.
 */
public final class SnapshotWriter implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(SnapshotWriter.class);
  /** Header of a dead-letter record: {@code topic-partition@offset} of the refused record. */
  public static final String SOURCE_HEADER = "partwright.source";

  private final CommandStoreConfig config;
  private final SnapshotPolicy policy;
  private final String transactionalId;
  private final AtomicBoolean running = new AtomicBoolean(true);
  private final AtomicLong snapshotsWritten = new AtomicLong();
  private final AtomicLong deadLettersWritten = new AtomicLong();
  private final CountDownLatch stopped = new CountDownLatch(1);
  private final CountDownLatch caughtUp = new CountDownLatch(1);
  private final Thread thread;
  private volatile CatalogReplay.Reader reader;
  private volatile Throwable failure;

  private SnapshotWriter(CommandStoreConfig config, SnapshotPolicy policy, String instanceId) {
    this.config = config;
    this.policy = policy;
    this.transactionalId = "partwright-snapshots-" + config.commandsTopic() + "-" + instanceId;
    this.thread = new Thread(this::run, "partwright-snapshots-" + instanceId);
    this.thread.setDaemon(true);
  }

  /** Starts a writer on its own thread; {@code instanceId} is stable across restarts of the same instance. */
  public static SnapshotWriter start(CommandStoreConfig config, SnapshotPolicy policy, String instanceId) {
    SnapshotWriter w = new SnapshotWriter(config, policy, instanceId);
    w.thread.start();
    return w;
  }

  /**
   * Writes a snapshot of every partition of {@code catalog} now, outside any writer (e.g. after a
   * one-off replay). Snapshots are facts about a prefix of the log, so writing them twice is harmless.
   */
  public static void write(CommandStoreConfig config, PartitionCatalog catalog) {
    Instant now = Instant.now().truncatedTo(ChronoUnit.MICROS);
    List<CatalogSnapshot> all = new ArrayList<>();
    for (int p = 0; p < catalog.partitionCount(); p++) {
      all.add(catalog.snapshot(p, now));
    }
    try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(producerProperties(config, null),
        new StringSerializer(), new ByteArraySerializer())) {
      for (ProducerRecord<String, byte[]> r : Snapshots.records(config.snapshotsTopic(), config.serdes(), all)) {
        producer.send(r).get();
      }
    } catch (java.util.concurrent.ExecutionException e) {
      throw new CommandStoreException("cannot write snapshots to " + config.snapshotsTopic() + ": " + e.getCause(), e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CommandStoreException("interrupted while writing snapshots", e);
    }
  }

  /** Snapshot records written so far (one per partition per round). */
  public long snapshotsWritten() {
    return snapshotsWritten.get();
  }

  /** Records forwarded to the dead-letter topic so far. */
  public long deadLettersWritten() {
    return deadLettersWritten.get();
  }

  /** The error that stopped the writer ({@link WriterFencedException} when a newer instance took over), or null. */
  public Throwable failure() {
    return failure;
  }

  /**
   * Waits until the writer has fenced older instances with its id and folded the log as it was
   * when it started; false when that did not happen within {@code timeout} (see {@link #failure()}).
   */
  public boolean awaitCaughtUp(Duration timeout) throws InterruptedException {
    return caughtUp.await(timeout.toMillis(), TimeUnit.MILLISECONDS) && caughtUp.getCount() == 0 && failure == null;
  }

  public boolean isRunning() {
    return stopped.getCount() > 0;
  }

  private void run() {
    KafkaProducer<String, byte[]> producer = null;
    try {
      producer = new KafkaProducer<>(producerProperties(config, transactionalId), new StringSerializer(),
          new ByteArraySerializer());
      producer.initTransactions();
      List<ProducerRecord<String, byte[]>> dead = new ArrayList<>();
      TreeSet<Integer> moved = new TreeSet<>();
      CatalogReplay.VerdictWatch watch = (r, v) -> {
        moved.add(r.partition());
        if (v instanceof PartitionCatalog.Refused refused) {
          dead.add(DeadLetter.toRecord(config.deadLetterTopic(), r, refused.reason()));
        }
      };
      reader = CatalogReplay.Reader.open(config, true);
      if (!running.get()) {
        return;
      }
      // the tail after the last snapshots, and its refused records, are owed to the topics
      long sinceSnapshot = reader.foldUntil(reader.consumer.endOffsets(reader.partitions), 0,
          CatalogReplay.Progress.NONE, d -> {}, watch, Duration.ofHours(1));
      caughtUp.countDown();
      long lastSnapshot = System.nanoTime();
      while (running.get()) {
        if (!dead.isEmpty() || sinceSnapshot >= policy.everyRecords()
            || (sinceSnapshot > 0 && System.nanoTime() - lastSnapshot >= policy.every().toNanos())) {
          writeRound(producer, moved, dead);
          moved.clear();
          dead.clear();
          sinceSnapshot = 0;
          lastSnapshot = System.nanoTime();
        }
        ConsumerRecords<String, byte[]> records = reader.consumer.poll(Duration.ofMillis(200));
        for (ConsumerRecord<String, byte[]> r : records) {
          watch.seen(r, reader.catalog.apply(r, reader.log));
        }
        sinceSnapshot += records.count();
        for (var tp : records.partitions()) {
          reader.catalog.advance(tp.partition(), reader.consumer.position(tp));
        }
      }
    } catch (WakeupException e) {
      // close() asked us to stop
    } catch (ProducerFencedException | InvalidProducerEpochException e) {
      failure = new WriterFencedException(transactionalId, e);
      LOG.warn("snapshot writer {} fenced by a newer instance; stopping", transactionalId);
    } catch (Throwable e) {
      failure = e;
      LOG.error("snapshot writer {} stopped", transactionalId, e);
    } finally {
      if (producer != null) {
        producer.close(failure instanceof WriterFencedException ? Duration.ZERO : Duration.ofSeconds(5));
      }
      CatalogReplay.Reader r = reader;
      if (r != null) {
        r.close();
      }
      stopped.countDown();
    }
  }

  private void writeRound(KafkaProducer<String, byte[]> producer, TreeSet<Integer> moved,
      List<ProducerRecord<String, byte[]>> dead) {
    Instant now = Instant.now().truncatedTo(ChronoUnit.MICROS);
    // positions may have passed markers since the last record: the snapshot covers up to them
    for (int p : moved) {
      reader.catalog.advance(p, reader.consumer.position(reader.partitions.get(p)));
    }
    producer.beginTransaction();
    try {
      for (ProducerRecord<String, byte[]> d : dead) {
        producer.send(d);
      }
      for (int p : moved) {
        producer.send(Snapshots.record(config.snapshotsTopic(), config.serdes(), reader.catalog.snapshot(p, now)));
      }
      producer.commitTransaction();
    } catch (ProducerFencedException | InvalidProducerEpochException e) {
      throw e;
    } catch (KafkaException e) {
      producer.abortTransaction();
      throw e;
    }
    snapshotsWritten.addAndGet(moved.size());
    deadLettersWritten.addAndGet(dead.size());
    LOG.debug("snapshot of {} partitions of {}, {} dead letters", moved.size(), config.commandsTopic(), dead.size());
  }

  static Properties producerProperties(CommandStoreConfig config, String transactionalId) {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    // a snapshot is one large record: allow it; its bulk (history, partitions) is compressed already
    p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, CommandTopics.SNAPSHOT_MAX_BYTES);
    p.put(ProducerConfig.BUFFER_MEMORY_CONFIG, 2L * CommandTopics.SNAPSHOT_MAX_BYTES);
    p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "none");
    if (transactionalId != null) {
      p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
    }
    return p;
  }

  @Override
  public void close() {
    running.set(false);
    CatalogReplay.Reader r = reader;
    if (r != null && isRunning()) {
      try {
        r.consumer.wakeup();
      } catch (IllegalStateException alreadyClosed) {
        // the writer stopped on its own meanwhile
      }
    }
    try {
      if (!stopped.await(30, TimeUnit.SECONDS)) {
        LOG.warn("snapshot writer {} did not stop within 30 s", transactionalId);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
