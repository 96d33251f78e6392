package dev.partwright.connectors;

import dev.partwright.connectors.postgres.PartitionProvisioner;
import dev.partwright.connectors.postgres.ProvisioningException;
import dev.partwright.schemas.AvroSerde;
import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.CommandLogEntry;
import dev.partwright.schemas.Failed;
import dev.partwright.schemas.PartitionAdded;
import dev.partwright.schemas.PartitionKey;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.Provisioned;
import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.Rejected;
import dev.partwright.schemas.Topics;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Consumes the command log and applies each {@code ProvisionPartitions} to PostgreSQL, in log
 * order per aggregate. After the database work is durable, the outcome (to the command log), the
 * boundary changes (one {@code PartitionAdded} per new partition) and the consumed offset are
 * committed in one Kafka transaction: a crash never leaves an outcome without its offset or the
 * other way round, and a re-delivered command is a no-op that re-emits its outcome.
 */
public final class ProvisioningWorker implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(ProvisioningWorker.class);

  private final WorkerConfig config;
  private final PartitionProvisioner provisioner;
  private final MeterRegistry meters;
  private final AvroSerde<CommandLogEntry> log = AvroSerde.of(CommandLogEntry.class);
  private final AvroSerde<BoundaryChange> boundaries = AvroSerde.of(BoundaryChange.class);
  private final AtomicBoolean running = new AtomicBoolean(true);
  private final CountDownLatch stopped = new CountDownLatch(1);
  private final CountDownLatch assigned = new CountDownLatch(1);
  private final Timer provisioningTimer;
  private volatile KafkaConsumer<String, byte[]> consumer;
  private volatile Throwable failure;
  private Thread thread;

  public ProvisioningWorker(WorkerConfig config, PartitionProvisioner provisioner, MeterRegistry meters) {
    this.config = config;
    this.provisioner = provisioner;
    this.meters = meters;
    this.provisioningTimer = Timer.builder("partwright.worker.provisioning")
        .description("Time to apply one ProvisionPartitions: DDL, verification, analyze")
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

  private void run() {
    try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(consumerProperties(), new StringDeserializer(),
             new ByteArrayDeserializer());
         KafkaProducer<String, byte[]> producer = new KafkaProducer<>(producerProperties(), new StringSerializer(),
             new ByteArraySerializer())) {
      consumer = c;
      provisioner.prepare();
      producer.initTransactions();
      c.subscribe(List.of(config.commandsTopic()), new org.apache.kafka.clients.consumer.ConsumerRebalanceListener() {
        @Override
        public void onPartitionsRevoked(java.util.Collection<TopicPartition> partitions) {}

        @Override
        public void onPartitionsAssigned(java.util.Collection<TopicPartition> partitions) {
          if (!partitions.isEmpty()) {
            assigned.countDown();
          }
        }
      });
      while (running.get()) {
        ConsumerRecords<String, byte[]> records = c.poll(Duration.ofMillis(200));
        for (ConsumerRecord<String, byte[]> record : records) {
          if (!running.get()) {
            break;
          }
          handle(record, c, producer);
        }
      }
    } catch (WakeupException e) {
      // close() asked us to stop
    } catch (ProducerFencedException e) {
      LOG.error("worker {} was fenced by a newer instance with the same transactional id; stopping", config.workerId());
      failure = e;
    } catch (Throwable e) {
      LOG.error("worker {} stopped on an unexpected error", config.workerId(), e);
      failure = e;
    } finally {
      stopped.countDown();
    }
  }

  private void handle(ConsumerRecord<String, byte[]> record, KafkaConsumer<String, byte[]> c,
      KafkaProducer<String, byte[]> producer) {
    List<ProducerRecord<String, byte[]>> out = new ArrayList<>();
    CommandLogEntry entry = null;
    try {
      entry = log.decode(record.topic(), record.value());
    } catch (RuntimeException e) {
      ProducerRecord<String, byte[]> dead = new ProducerRecord<>(config.deadLetterTopic(), record.key(), record.value());
      dead.headers().add(Topics.REASON_HEADER, (e.getMessage() + " at " + record.topic() + "-" + record.partition()
          + "@" + record.offset()).getBytes(StandardCharsets.UTF_8));
      out.add(dead);
      LOG.warn("unreadable command-log record {}-{}@{} sent to {}: {}", record.topic(), record.partition(),
          record.offset(), config.deadLetterTopic(), e.getMessage());
    }
    if (entry != null && entry.getEntry() instanceof ProvisionPartitions command) {
      out.addAll(apply(command, record));
    }
    producer.beginTransaction();
    for (ProducerRecord<String, byte[]> r : out) {
      producer.send(r);
    }
    producer.sendOffsetsToTransaction(
        Map.of(new TopicPartition(record.topic(), record.partition()), new OffsetAndMetadata(record.offset() + 1)),
        c.groupMetadata());
    producer.commitTransaction();
  }

  private List<ProducerRecord<String, byte[]>> apply(ProvisionPartitions command, ConsumerRecord<String, byte[]> record) {
    String aggregate = command.getHeader().getAggregateId();
    String key = command.getHeader().getIdempotencyKey();
    Instant started = Instant.now();
    List<ProducerRecord<String, byte[]>> out = new ArrayList<>();
    Object outcome;
    try {
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
      // the aggregate lives in one partition of the log, so the command's offset orders its versions
      long version = record.offset();
      List<PartitionSpec> all = new ArrayList<>(result.created());
      all.addAll(result.alreadyPresent());
      for (int i = 0; i < all.size(); i++) {
        out.add(boundaryAdded(aggregate, version, all.get(i), keyOf(result, command, all.get(i))));
      }
      LOG.info("{} {}: created {} partitions, {} already present, in {} ms", aggregate, key, result.created().size(),
          result.alreadyPresent().size(), took.toMillis());
    } catch (ProvisioningException e) {
      outcome = switch (e.kind()) {
        case REJECTED -> Rejected.newBuilder().setIdempotencyKey(key).setCode(e.code()).setReason(e.getMessage()).build();
        case RETRYABLE, FAILED -> Failed.newBuilder()
            .setIdempotencyKey(key)
            .setRetryable(e.kind() == ProvisioningException.Kind.RETRYABLE)
            .setAttempts(config.limits().maxAttempts())
            .setSqlState(e.sqlState())
            .setReason(e.getMessage())
            .build();
      };
      LOG.warn("{} {}: {} {}", aggregate, key, e.kind(), e.getMessage());
    }
    meters.counter("partwright.worker.outcomes", "type", outcome.getClass().getSimpleName()).increment();
    CommandLogEntry entry = CommandLogEntry.newBuilder()
        .setAggregateId(aggregate)
        .setRecordedAt(Instant.now())
        .setEntry(outcome)
        .build();
    out.add(0, new ProducerRecord<>(config.commandsTopic(), aggregate, log.encode(config.commandsTopic(), entry)));
    return out;
  }

  private static PartitionKey keyOf(PartitionProvisioner.Result result, ProvisionPartitions command, PartitionSpec spec) {
    int index = command.getPartitions().indexOf(spec);
    return result.parentKeys().get(index);
  }

  private ProducerRecord<String, byte[]> boundaryAdded(String aggregate, long version, PartitionSpec spec, PartitionKey key) {
    BoundaryChange change = BoundaryChange.newBuilder()
        .setAggregateId(aggregate)
        .setAggregateVersion(version)
        .setRootTable(spec.getParent())
        .setChangedAt(Instant.now())
        .setChange(PartitionAdded.newBuilder()
            .setPartition(spec.getSchemaName() + "." + spec.getName())
            .setParent(spec.getParent())
            .setParentKey(key)
            .setBound(spec.getBound())
            .setSubpartitionBy(spec.getSubpartitionBy())
            .build())
        .build();
    return new ProducerRecord<>(config.boundariesTopic(), spec.getParent(),
        boundaries.encode(config.boundariesTopic(), change));
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
