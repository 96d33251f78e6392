package dev.partwright.connectors;

import dev.partwright.commandstore.CommandStoreConfig;
import dev.partwright.commandstore.ConsumerCatalog;
import dev.partwright.commandstore.DeadLetter;
import dev.partwright.commandstore.PartitionCatalog;
import dev.partwright.connectors.policy.ManagedTable;
import dev.partwright.connectors.policy.PolicyStore;
import dev.partwright.connectors.postgres.InvalidIdentifierException;
import dev.partwright.connectors.postgres.PartitionProvisioner;
import dev.partwright.connectors.postgres.ProvisioningException;
import dev.partwright.connectors.postgres.QualifiedName;
import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.CapacityAlert;
import dev.partwright.schemas.CommandLogEntry;
import dev.partwright.schemas.Failed;
import dev.partwright.schemas.PartitionAdded;
import dev.partwright.schemas.PartitionKey;
import dev.partwright.schemas.PartitionRetired;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.schemas.PayloadException;
import dev.partwright.schemas.Provisioned;
import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.RegistryAvroSerde;
import dev.partwright.schemas.Rejected;
import dev.partwright.schemas.Retired;
import dev.partwright.schemas.RetirePartitions;
import dev.partwright.schemas.Rollback;
import dev.partwright.schemas.RolledBack;
import dev.partwright.schemas.SchemaRegistryException;
import dev.partwright.schemas.Topics;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Optional;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Consumes the command log and applies each command to PostgreSQL, in log order per aggregate:
 * quota gate, circuit breaker, DDL, verification, then publication. After the database work is
 * durable, the outcome (to the command log), the boundary changes ({@code PartitionAdded} per
 * partition, {@code PartitionRetired} per retired one), any capacity alert and the consumed offset
 * are committed in one Kafka transaction: a crash never leaves an outcome without its offset or the
 * other way round, and a re-delivered command is a no-op that re-emits its outcome.
 *
 * <p>While the {@link CircuitBreaker} is open, the command at hand waits: its partition (and every
 * other one the worker owns) is paused and rewound to it, its offset is not committed, and the
 * worker keeps polling so it stays in its group. At start-up, interrupted detaches are finalized and
 * orphan tables dropped ({@code RolledBack} outcomes) before the first command is read.
 */
public final class ProvisioningWorker implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(ProvisioningWorker.class);

  private final WorkerConfig config;
  private final PartitionProvisioner provisioner;
  private final PolicyStore policies;
  private final MeterRegistry meters;
  private final CircuitBreaker breaker;
  private final DatabaseMonitor monitor;
  private final RegistryAvroSerde<CommandLogEntry> log;
  private final RegistryAvroSerde<BoundaryChange> boundaries;
  private final RegistryAvroSerde<CapacityAlert> alerts;
  /** The fold of the partitions this worker owns: it executes only the commands the log applies. */
  private final ConsumerCatalog fold;
  private final AtomicBoolean running = new AtomicBoolean(true);
  private final CountDownLatch stopped = new CountDownLatch(1);
  private final CountDownLatch assigned = new CountDownLatch(1);
  private final Timer provisioningTimer;
  private volatile KafkaConsumer<String, byte[]> consumer;
  private volatile Throwable failure;
  private volatile PartitionProvisioner.Recovery recovery;
  private Thread thread;

  /**
   * @param serdes the application's registry serdes: commands are read, outcomes and boundary
   *     changes and capacity alerts written in the Confluent wire format
   */
  public ProvisioningWorker(WorkerConfig config, PartwrightSerdes serdes, PartitionProvisioner provisioner,
      MeterRegistry meters) {
    this.config = config;
    this.log = serdes.serde(CommandLogEntry.class);
    this.boundaries = serdes.serde(BoundaryChange.class);
    this.alerts = serdes.serde(CapacityAlert.class);
    this.provisioner = provisioner;
    this.policies = new PolicyStore(provisioner.dataSource());
    this.meters = meters;
    this.breaker = new CircuitBreaker(config.breaker(), provisioner::health, meters);
    this.monitor = new DatabaseMonitor(provisioner.dataSource(), meters);
    this.fold = new ConsumerCatalog(storeConfig(config, serdes));
    this.provisioningTimer = Timer.builder("partwright.worker.provisioning")
        .description("Time to apply one ProvisionPartitions: quota gate, DDL, verification")
        .publishPercentiles(0.5, 0.99)
        .register(meters);
  }

  /** Starts the worker on its own thread. */
  public ProvisioningWorker start() {
    thread = new Thread(this::run, "partwright-worker-" + config.workerId());
    thread.setDaemon(true);
    thread.start();
    return this;
  }

  /** Waits until the worker has joined its group and owns partitions of the command log. */
  public boolean awaitAssignment(Duration timeout) throws InterruptedException {
    return assigned.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
  }

  /** The error that stopped the worker, if one did. */
  public Throwable failure() {
    return failure;
  }

  /** The circuit breaker this worker consults before each command. */
  public CircuitBreaker breaker() {
    return breaker;
  }

  /** What start-up recovery did; null until it ran. */
  public PartitionProvisioner.Recovery recovery() {
    return recovery;
  }

  private void run() {
    try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(consumerProperties(), new StringDeserializer(),
             new ByteArrayDeserializer());
         KafkaProducer<String, byte[]> producer = new KafkaProducer<>(producerProperties(), new StringSerializer(),
             new ByteArraySerializer())) {
      consumer = c;
      provisioner.prepare();
      producer.initTransactions();
      recover(producer);
      c.subscribe(List.of(config.commandsTopic()), new ConsumerRebalanceListener() {
        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
          fold.revoked(partitions);
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
          fold.revoked(partitions);
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
          // the fold of each new partition up to where this worker resumes reading it
          Map<TopicPartition, Long> positions = new HashMap<>();
          for (TopicPartition tp : partitions) {
            positions.put(tp, c.position(tp));
          }
          fold.assigned(positions);
          if (!partitions.isEmpty()) {
            assigned.countDown();
          }
        }
      });
      Instant resumeAt = null;
      Instant nextMonitor = Instant.now();
      while (running.get()) {
        if (resumeAt != null && !Instant.now().isBefore(resumeAt)) {
          c.resume(c.paused());
          resumeAt = null;
        }
        if (!Instant.now().isBefore(nextMonitor)) {
          refreshMonitor();
          nextMonitor = Instant.now().plus(config.monitorInterval());
        }
        ConsumerRecords<String, byte[]> records = c.poll(Duration.ofMillis(200));
        Map<TopicPartition, Long> next = new HashMap<>();
        for (ConsumerRecord<String, byte[]> record : records) {
          if (!running.get()) {
            break;
          }
          TopicPartition tp = new TopicPartition(record.topic(), record.partition());
          if (!handle(record, c, producer)) {
            // the breaker is open: rewind to the first record not handled of every partition, and wait
            for (TopicPartition p : records.partitions()) {
              c.seek(p, next.getOrDefault(p, records.records(p).get(0).offset()));
            }
            c.pause(c.assignment());
            resumeAt = Instant.now().plus(breaker.config().openInterval());
            break;
          }
          next.put(tp, record.offset() + 1);
        }
      }
    } catch (WakeupException e) {
      // close() asked us to stop
    } catch (Throwable e) {
      if (fenced(e)) {
        LOG.error("worker {} was fenced by a newer instance with the same transactional id; stopping", config.workerId());
      } else {
        LOG.error("worker {} stopped on an unexpected error", config.workerId(), e);
      }
      failure = e;
    } finally {
      fold.close();
      stopped.countDown();
    }
  }

  /**
   * The command store's view of the worker's topics. Snapshots follow the commands topic's prefix
   * ({@code CommandStoreConfig.withTopicPrefix}); partition counts and replication are not used here.
   */
  private static CommandStoreConfig storeConfig(WorkerConfig config, PartwrightSerdes serdes) {
    String commands = config.commandsTopic();
    String snapshots = commands.endsWith(Topics.COMMANDS)
        ? commands.substring(0, commands.length() - Topics.COMMANDS.length()) + Topics.SNAPSHOTS
        : commands + ".snapshots";
    return new CommandStoreConfig(config.bootstrapServers(), commands, config.boundariesTopic(), 1, (short) 1, 1,
        snapshots, config.deadLetterTopic(), serdes);
  }

  /** Whether a producer error means a newer instance took over (the client sometimes wraps it). */
  private static boolean fenced(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof ProducerFencedException || t instanceof InvalidProducerEpochException) {
        return true;
      }
    }
    return false;
  }

  private void refreshMonitor() {
    try {
      monitor.refresh();
    } catch (SQLException | RuntimeException e) {
      LOG.warn("database monitoring queries failed: {}", e.getMessage());
    }
  }

  /** Start-up recovery, and one {@code RolledBack} outcome per orphan dropped. */
  private void recover(KafkaProducer<String, byte[]> producer) throws ProvisioningException {
    PartitionProvisioner.Recovery r = provisioner.recover();
    recovery = r;
    List<ProducerRecord<String, byte[]>> out = new ArrayList<>();
    for (PartitionProvisioner.Orphan o : r.dropped()) {
      meters.counter("partwright.worker.orphans.dropped").increment();
      if (o.aggregateId().isEmpty()) {
        continue; // no aggregate to answer to; the audit log has the drop
      }
      out.add(outcome(o.aggregateId(), RolledBack.newBuilder()
          .setIdempotencyKey(o.idempotencyKey())
          .setDropped(List.of(o.table()))
          .setReason("orphan found at start-up by worker " + config.workerId() + ": " + o.table()
              + " carried Partwright's creation marker but was attached nowhere; dropped")
          .build()));
    }
    if (!out.isEmpty()) {
      producer.beginTransaction();
      out.forEach(producer::send);
      producer.commitTransaction();
    }
  }

  /** Applies one record; false when the breaker made it wait (nothing was done or committed). */
  private boolean handle(ConsumerRecord<String, byte[]> record, KafkaConsumer<String, byte[]> c,
      KafkaProducer<String, byte[]> producer) {
    List<ProducerRecord<String, byte[]>> out = new ArrayList<>();
    CommandLogEntry entry = null;
    try {
      entry = log.decode(record);
    } catch (SchemaRegistryException e) {
      if (!e.retriable()) {
        throw e; // misconfigured (credentials, URL): no record can be read, stop loudly
      }
      // the registry is down, the record is fine: wait like an open breaker, dead-letter nothing
      LOG.warn("schema registry unavailable reading {}-{}@{}; retrying: {}", record.topic(), record.partition(),
          record.offset(), e.getMessage());
      return false;
    } catch (PayloadException e) {
      // "CODE: message": a stable code to filter on, and a message naming topic, partition and offset
      out.add(DeadLetter.toRecord(config.deadLetterTopic(), record, e.code() + ": " + e.getMessage()));
      LOG.warn("unreadable command-log record {}-{}@{} sent to {}: {}", record.topic(), record.partition(),
          record.offset(), config.deadLetterTopic(), e.getMessage());
    }
    // the fold decides, at this record's position, whether the command takes effect: only then is it executed
    PartitionCatalog.Verdict verdict = fold.apply(record, entry);
    Object command = entry == null ? null : entry.getEntry();
    if (verdict instanceof PartitionCatalog.Refused refused && entry != null) {
      out.add(DeadLetter.toRecord(config.deadLetterTopic(), record,
          refused.reason() + " at " + record.topic() + "-" + record.partition() + "@" + record.offset()));
      LOG.warn("command-log record {}-{}@{} refused by the fold, sent to {}: {}", record.topic(), record.partition(),
          record.offset(), config.deadLetterTopic(), refused.reason());
    }
    if (isCommand(command) && !(verdict instanceof PartitionCatalog.Applied)) {
      skip(entry.getAggregateId(), command, verdict, out);
      command = null;
    }
    QualifiedName gate = gateOf(command);
    if (gate != null && !breaker.allows(gate)) {
      return false;
    }
    boolean success = true;
    if (command instanceof ProvisionPartitions p) {
      success = apply(p, record, out);
    } else if (command instanceof RetirePartitions r) {
      success = retire(r, record, out);
    } else if (command instanceof Rollback r) {
      success = rollback(r, record, out);
    }
    if (gate != null) {
      breaker.completed(success);
    }
    producer.beginTransaction();
    for (ProducerRecord<String, byte[]> r : out) {
      producer.send(r);
    }
    producer.sendOffsetsToTransaction(
        Map.of(new TopicPartition(record.topic(), record.partition()), new OffsetAndMetadata(record.offset() + 1)),
        c.groupMetadata());
    producer.commitTransaction();
    return true;
  }

  private static boolean isCommand(Object entry) {
    return entry instanceof ProvisionPartitions || entry instanceof RetirePartitions || entry instanceof Rollback;
  }

  /**
   * A command the fold did not apply is never executed. A stale one (version conflict) is answered
   * {@code Rejected}, so whoever issued it sees why; a duplicate key needs no answer (the first
   * command with that key has or gets its own); a refused one went to the dead-letter topic.
   */
  private void skip(String aggregate, Object command, PartitionCatalog.Verdict verdict,
      List<ProducerRecord<String, byte[]>> out) {
    String key = command instanceof ProvisionPartitions p ? p.getHeader().getIdempotencyKey()
        : command instanceof RetirePartitions r ? r.getHeader().getIdempotencyKey()
        : ((Rollback) command).getHeader().getIdempotencyKey();
    meters.counter("partwright.worker.skipped", "verdict", verdict.getClass().getSimpleName()).increment();
    if (verdict instanceof PartitionCatalog.Conflict c) {
      String reason = "expected aggregate version " + c.expected() + " but " + aggregate + " was at " + c.actual()
          + " at this command's position in the log; not executed";
      out.add(outcome(aggregate, Rejected.newBuilder().setIdempotencyKey(key).setCode("VERSION_CONFLICT")
          .setReason(reason).build()));
      LOG.warn("{} {}: rejected, {}", aggregate, key, reason);
    } else if (verdict instanceof PartitionCatalog.Duplicate d) {
      LOG.info("{} {}: duplicate of the command at offset {}; not executed again", aggregate, key, d.originalOffset());
    }
  }

  /** The table whose tree a command touches, for the breaker; null when it is not a command or names nothing valid. */
  private static QualifiedName gateOf(Object command) {
    try {
      if (command instanceof ProvisionPartitions p && !p.getPartitions().isEmpty()) {
        return QualifiedName.parse(p.getPartitions().get(0).getParent());
      }
      if (command instanceof RetirePartitions r && !r.getPartitions().isEmpty()) {
        return QualifiedName.parse(r.getPartitions().get(0));
      }
      if (command instanceof Rollback r && !r.getPartitions().isEmpty()) {
        return QualifiedName.parse(r.getPartitions().get(0));
      }
    } catch (InvalidIdentifierException e) {
      return null; // the command will be rejected for it, no database work to protect
    }
    return null;
  }

  /** Quota gate, then provisioning; true unless the database failed. */
  private boolean apply(ProvisionPartitions command, ConsumerRecord<String, byte[]> record,
      List<ProducerRecord<String, byte[]>> out) {
    String aggregate = command.getHeader().getAggregateId();
    String key = command.getHeader().getIdempotencyKey();
    Instant started = Instant.now();
    Object outcome;
    boolean success = true;
    try {
      PartitionProvisioner.Demand demand = provisioner.demand(command);
      Quota quota = quotaFor(aggregate, demand.rootTable());
      String over = overQuota(demand, quota);
      if (over != null) {
        outcome = rejectForQuota(command, demand, quota, over, out);
      } else {
        PartitionProvisioner.Result result = provisioner.provision(command);
        Duration took = Duration.between(started, Instant.now());
        provisioningTimer.record(took);
        outcome = Provisioned.newBuilder()
            .setIdempotencyKey(key)
            .setCreated(result.created())
            .setAlreadyPresent(result.alreadyPresent())
            .setWorker(config.workerId())
            .setDurationMicros(took.toNanos() / 1_000)
            .build();
        if (result.rowsMovedFromDefault() > 0) {
          meters.counter("partwright.worker.default.rows.moved").increment(result.rowsMovedFromDefault());
        }
        // the aggregate lives in one partition of the log, so the command's offset orders its versions
        List<PartitionSpec> specs = command.getPartitions();
        for (int i = 0; i < specs.size(); i++) {
          out.add(added(aggregate, record.offset(), specs.get(i), result.parentKeys().get(i), result.rootTables().get(i)));
        }
        LOG.info("{} {}: created {} partitions, {} already present, {} rows moved from DEFAULT, in {} ms", aggregate, key,
            result.created().size(), result.alreadyPresent().size(), result.rowsMovedFromDefault(), took.toMillis());
      }
    } catch (ProvisioningException e) {
      provisioningTimer.record(Duration.between(started, Instant.now()));
      // partitions verified before the failure exist: routers must know them
      for (ProvisioningException.PartitionKeyed p : e.createdWithKeys()) {
        out.add(added(aggregate, record.offset(), p.spec(), p.parentKey(), p.rootTable()));
      }
      outcome = failureOutcome(key, e);
      success = e.kind() == ProvisioningException.Kind.REJECTED;
      LOG.warn("{} {}: {} {}", aggregate, key, e.kind(), e.getMessage());
    } catch (RuntimeException e) {
      // one broken command must not stop the worker for every other table
      outcome = Failed.newBuilder().setIdempotencyKey(key).setRetryable(false).setAttempts(1)
          .setReason("internal error: " + e).build();
      success = false;
      LOG.error("{} {}: internal error", aggregate, key, e);
    }
    out.add(0, outcome(aggregate, outcome));
    return success;
  }

  /**
   * The tighter of the configured quota and the one registered with the table's policy
   * ({@code partwright manage --max-partitions/--max-bytes}), so a command appended by rotate or the
   * topology is held to the same limits by the worker that executes it.
   */
  private Quota quotaFor(String aggregate, String rootTable) throws ProvisioningException {
    Quota configured = config.quotas().forTable(aggregate, rootTable);
    Optional<ManagedTable> policy;
    try {
      policy = policies.get(QualifiedName.parse(rootTable));
    } catch (SQLException e) {
      throw new ProvisioningException(ProvisioningException.Kind.RETRYABLE, "POLICY_UNREADABLE",
          "cannot read the policy of " + rootTable + ": " + e.getMessage(), e.getSQLState(), e);
    } catch (RuntimeException e) {
      return configured; // not a name a policy can have: the configured quota alone
    }
    if (policy.isEmpty()) {
      return configured;
    }
    ManagedTable t = policy.get();
    long partitions = t.maxPartitions() == null ? Long.MAX_VALUE : t.maxPartitions();
    long bytes = t.maxBytes() == null ? Long.MAX_VALUE : t.maxBytes();
    return new Quota(Math.min(configured.maxPartitions(), partitions), Math.min(configured.maxBytes(), bytes));
  }

  private static String overQuota(PartitionProvisioner.Demand demand, Quota quota) {
    if (demand.requested() == 0) {
      return null; // a redelivered command creates nothing: never rejected for a quota it already fits
    }
    if (demand.partitions() + (long) demand.requested() > quota.maxPartitions()) {
      return "QUOTA_PARTITIONS";
    }
    if (demand.bytes() >= quota.maxBytes()) {
      return "QUOTA_BYTES";
    }
    return null;
  }

  private Rejected rejectForQuota(ProvisionPartitions command, PartitionProvisioner.Demand demand, Quota quota,
      String code, List<ProducerRecord<String, byte[]>> out) {
    String aggregate = command.getHeader().getAggregateId();
    String key = command.getHeader().getIdempotencyKey();
    String reason = code.equals("QUOTA_PARTITIONS")
        ? demand.rootTable() + " has " + demand.partitions() + " partitions, the command adds " + demand.requested()
            + ", quota " + quota.maxPartitions()
        : demand.rootTable() + " holds " + demand.bytes() + " bytes, quota " + quota.maxBytes();
    boolean partitions = code.equals("QUOTA_PARTITIONS");
    // the topology's alerts and ours share the topic, so they share its contract
    CapacityAlert alert = new CapacityAlert(aggregate, code, reason + " (worker " + config.workerId() + ")",
        partitions ? quota.maxPartitions() : quota.maxBytes(),
        partitions ? demand.partitions() + (long) demand.requested() : demand.bytes(), key, Instant.now());
    out.add(new ProducerRecord<>(config.alertsTopic(), aggregate, alerts.encode(config.alertsTopic(), alert)));
    meters.counter("partwright.worker.quota.rejections", "table", demand.rootTable(), "code", code).increment();
    LOG.warn("{} {}: rejected, {}", aggregate, key, reason);
    return Rejected.newBuilder().setIdempotencyKey(key).setCode(code).setReason(reason).build();
  }

  private Object failureOutcome(String key, ProvisioningException e) {
    return switch (e.kind()) {
      case REJECTED -> Rejected.newBuilder().setIdempotencyKey(key).setCode(e.code()).setReason(e.getMessage()).build();
      case RETRYABLE, FAILED -> Failed.newBuilder()
          .setIdempotencyKey(key)
          .setRetryable(e.kind() == ProvisioningException.Kind.RETRYABLE)
          .setAttempts(e.attempts())
          .setSqlState(e.sqlState())
          .setReason(e.getMessage())
          // committed by earlier transactions of the command: the catalog must know they exist
          .setCreated(e.created())
          .build();
    };
  }

  /** Retention: answered {@code Retired} listing the partitions that left (those already gone too): the catalog drops exactly those. */
  private boolean retire(RetirePartitions command, ConsumerRecord<String, byte[]> record,
      List<ProducerRecord<String, byte[]>> out) {
    String key = command.getHeader().getIdempotencyKey();
    return removal(command.getHeader().getAggregateId(), key, record, out,
        () -> provisioner.retire(command), "retired by RetirePartitions"
            + (command.getArchiveSchema() == null ? " (dropped)" : " (archived to " + command.getArchiveSchema() + ")"),
        (names, why) -> Retired.newBuilder().setIdempotencyKey(key).setRetired(names)
            .setArchivedTo(command.getArchiveSchema()).setWorker(config.workerId()).build());
  }

  private boolean rollback(Rollback command, ConsumerRecord<String, byte[]> record,
      List<ProducerRecord<String, byte[]>> out) {
    String key = command.getTargetIdempotencyKey();
    return removal(command.getHeader().getAggregateId(), key, record, out,
        () -> provisioner.rollback(command), "rolled back by Rollback " + command.getHeader().getIdempotencyKey(),
        (names, why) -> RolledBack.newBuilder().setIdempotencyKey(key).setDropped(names).setReason(why).build());
  }

  /** The outcome of a removal that went through: the partitions that left, and a sentence saying so. */
  @FunctionalInterface
  private interface RemovalOutcome {
    Object of(List<String> names, String why);
  }

  @FunctionalInterface
  private interface Removal {
    PartitionProvisioner.Retirement run() throws ProvisioningException;
  }

  private boolean removal(String aggregate, String key, ConsumerRecord<String, byte[]> record,
      List<ProducerRecord<String, byte[]>> out, Removal removal, String why, RemovalOutcome answer) {
    Object outcome;
    boolean success = true;
    try {
      PartitionProvisioner.Retirement r = removal.run();
      List<String> names = new ArrayList<>();
      for (PartitionProvisioner.Removed p : r.removed()) {
        names.add(p.partition());
        out.add(retired(aggregate, record.offset(), p));
      }
      for (PartitionProvisioner.Removed p : r.alreadyGone()) {
        names.add(p.partition());
        if (!p.parent().isEmpty()) {
          out.add(retired(aggregate, record.offset(), p));
        }
      }
      outcome = answer.of(names, why + ": " + r.removed().size() + " removed, " + r.alreadyGone().size() + " already gone");
      LOG.info("{} {}: {} {}", aggregate, key, why, names);
    } catch (ProvisioningException e) {
      outcome = failureOutcome(key, e);
      success = e.kind() == ProvisioningException.Kind.REJECTED;
      LOG.warn("{} {}: {} {}", aggregate, key, e.kind(), e.getMessage());
    } catch (RuntimeException e) {
      outcome = Failed.newBuilder().setIdempotencyKey(key).setRetryable(false).setAttempts(1)
          .setReason("internal error: " + e).build();
      success = false;
      LOG.error("{} {}: internal error", aggregate, key, e);
    }
    out.add(0, outcome(aggregate, outcome));
    return success;
  }

  private ProducerRecord<String, byte[]> outcome(String aggregate, Object outcome) {
    meters.counter("partwright.worker.outcomes", "type", outcome.getClass().getSimpleName()).increment();
    CommandLogEntry entry = CommandLogEntry.newBuilder()
        .setAggregateId(aggregate)
        .setRecordedAt(Instant.now())
        .setEntry(outcome)
        .build();
    return new ProducerRecord<>(config.commandsTopic(), aggregate, log.encode(config.commandsTopic(), entry));
  }

  private ProducerRecord<String, byte[]> added(String aggregate, long version, PartitionSpec spec, PartitionKey key,
      String root) {
    BoundaryChange change = BoundaryChange.newBuilder()
        .setAggregateId(aggregate)
        .setAggregateVersion(version)
        .setRootTable(root)
        .setChangedAt(Instant.now())
        .setChange(PartitionAdded.newBuilder()
            .setPartition(spec.getSchemaName() + "." + spec.getName())
            .setParent(spec.getParent())
            .setParentKey(key)
            .setBound(spec.getBound())
            .setSubpartitionBy(spec.getSubpartitionBy())
            .build())
        .build();
    return new ProducerRecord<>(config.boundariesTopic(), root, boundaries.encode(config.boundariesTopic(), change));
  }

  private ProducerRecord<String, byte[]> retired(String aggregate, long version, PartitionProvisioner.Removed p) {
    BoundaryChange change = BoundaryChange.newBuilder()
        .setAggregateId(aggregate)
        .setAggregateVersion(version)
        .setRootTable(p.rootTable())
        .setChangedAt(Instant.now())
        .setChange(PartitionRetired.newBuilder().setPartition(p.partition()).setParent(p.parent()).build())
        .build();
    return new ProducerRecord<>(config.boundariesTopic(), p.rootTable(), boundaries.encode(config.boundariesTopic(), change));
  }

  private Properties consumerProperties() {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
    p.put(ConsumerConfig.GROUP_ID_CONFIG, config.groupId());
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 50);
    p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 50);
    return p;
  }

  private Properties producerProperties() {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
    p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, config.transactionalId());
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.LINGER_MS_CONFIG, 0);
    return p;
  }

  @Override
  public void close() {
    running.set(false);
    KafkaConsumer<String, byte[]> c = consumer;
    if (c != null) {
      c.wakeup();
    }
    try {
      stopped.await(30, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
