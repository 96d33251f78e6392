package dev.partwright.connectors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.partwright.commandstore.PartitionCatalog;
import dev.partwright.connectors.postgres.PartitionProvisioner;
import dev.partwright.embedded.KafkaEndpoint;
import dev.partwright.embedded.Servers;
import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.CapacityAlert;
import dev.partwright.schemas.CommandLogEntry;
import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.schemas.PayloadException;
import dev.partwright.schemas.RegistryAvroSerde;
import dev.partwright.schemas.SchemaRegistryConfig;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.function.Function;
import java.util.function.Predicate;
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
 * A worker on the JVM's shared broker with topics of its own (so test classes sharing the broker
 * do not see each other's records), a producer for commands and committed-only readers of what the
 * worker publishes.
 */
final class WorkerFixture implements AutoCloseable {

  final KafkaEndpoint kafka = Servers.kafka();
  final String commands;
  final String boundaries;
  final String alerts;
  final String deadLetters;
  private final String suffix;
  final RegistryAvroSerde<CommandLogEntry> log = serdes().serde(CommandLogEntry.class);
  private final RegistryAvroSerde<BoundaryChange> changes = serdes().serde(BoundaryChange.class);
  private final KafkaProducer<String, byte[]> producer;
  private final List<ProvisioningWorker> workers = new ArrayList<>();
  private final List<Reader> readers = new ArrayList<>();

  private static PartwrightSerdes serdes;

  /** The serdes of this test JVM, on the real schema registry ({@link Servers#schemaRegistry()}). */
  static synchronized PartwrightSerdes serdes() {
    if (serdes == null) {
      serdes = PartwrightSerdes.create(SchemaRegistryConfig.of(Servers.schemaRegistry().url()));
    }
    return serdes;
  }

  WorkerFixture(String prefix) throws Exception {
    suffix = prefix + "." + UUID.randomUUID().toString().substring(0, 8);
    commands = "commands." + suffix;
    boundaries = "boundaries." + suffix;
    alerts = "alerts." + suffix;
    deadLetters = "dlq." + suffix;
    Properties admin = new Properties();
    admin.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    try (Admin a = Admin.create(admin)) {
      a.createTopics(List.of(new NewTopic(commands, 2, (short) 1), new NewTopic(boundaries, 2, (short) 1),
          new NewTopic(alerts, 1, (short) 1), new NewTopic(deadLetters, 1, (short) 1))).all().get();
    }
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
  }

  WorkerConfig config(PartitionProvisioner.Limits limits) {
    return new WorkerConfig(kafka.bootstrapServers(), commands, boundaries, deadLetters, "group-" + suffix,
        "worker-" + suffix, limits).withAlertsTopic(alerts);
  }

  /** Starts a worker and waits until it owns the command topic's partitions. */
  ProvisioningWorker start(WorkerConfig config, PartitionProvisioner provisioner, MeterRegistry meters)
      throws InterruptedException {
    ProvisioningWorker w = new ProvisioningWorker(config, serdes(), provisioner, meters).start();
    workers.add(w);
    assertThat(w.awaitAssignment(Duration.ofSeconds(60))).as("worker joined its group").isTrue();
    return w;
  }

  /** Appends a command to the log, keyed by its aggregate. */
  void send(String aggregate, Object command) throws Exception {
    CommandLogEntry entry = CommandLogEntry.newBuilder().setAggregateId(aggregate).setRecordedAt(Instant.now())
        .setEntry(command).build();
    producer.send(new ProducerRecord<>(commands, aggregate, log.encode(commands, entry))).get();
  }

  /** Appends raw bytes to the command log, keyed by {@code aggregate}; returns the record's offset. */
  long sendRaw(String aggregate, byte[] payload) throws Exception {
    return producer.send(new ProducerRecord<>(commands, aggregate, payload)).get().offset();
  }

  /** The raw records of the dead-letter topic, from the beginning. */
  Reader.Of<ConsumerRecord> deadLetters() {
    Reader r = new Reader(deadLetters);
    readers.add(r);
    return r.records();
  }

  /** Outcomes of the command log (entries of {@code type}), committed ones only, from the beginning. */
  <T> Reader.Of<T> outcomes(Class<T> type) {
    Reader r = new Reader(commands);
    readers.add(r);
    return r.of(bytes -> {
      try {
        return log.decode(commands, bytes).getEntry();
      } catch (PayloadException e) {
        return e; // a record a test wrote unreadable on purpose: no outcome
      }
    }, type);
  }

  Reader.Of<BoundaryChange> boundaryChanges() {
    Reader r = new Reader(boundaries);
    readers.add(r);
    return r.of(bytes -> changes.decode(boundaries, bytes), BoundaryChange.class);
  }

  Reader.Of<CapacityAlert> alertMessages() {
    Reader r = new Reader(alerts);
    readers.add(r);
    RegistryAvroSerde<CapacityAlert> serde = serdes().serde(CapacityAlert.class);
    return r.of(bytes -> serde.decode(alerts, bytes), CapacityAlert.class);
  }

  /** The catalog the command log folds into now: every committed record, from the beginning to the end. */
  PartitionCatalog catalog() {
    PartitionCatalog catalog = new PartitionCatalog(commands, 2);
    try (Reader r = new Reader(commands)) {
      Map<TopicPartition, Long> end = r.consumer.endOffsets(r.consumer.assignment());
      await().atMost(Duration.ofSeconds(30)).until(() -> {
        for (ConsumerRecord<String, byte[]> record : r.consumer.poll(Duration.ofMillis(100))) {
          catalog.apply(record, log);
        }
        return end.entrySet().stream().allMatch(e -> r.consumer.position(e.getKey()) >= e.getValue());
      });
    }
    return catalog;
  }

  @Override
  public void close() {
    workers.forEach(ProvisioningWorker::close);
    readers.forEach(Reader::close);
    producer.close();
  }

  /** A read_committed consumer of every partition of one topic, from the beginning, without a group. */
  static final class Reader implements AutoCloseable {
    private final KafkaConsumer<String, byte[]> consumer;

    Reader(String topic) {
      Properties p = new Properties();
      p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, Servers.kafka().bootstrapServers());
      p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
      p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
      consumer = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
      List<TopicPartition> parts = consumer.partitionsFor(topic).stream()
          .map(i -> new TopicPartition(topic, i.partition())).toList();
      consumer.assign(parts);
      consumer.seekToBeginning(parts);
    }

    <T> Of<T> of(Function<byte[], Object> decode, Class<T> type) {
      return new Of<>(this, decode, type);
    }

    /** The records themselves, headers and all. */
    Of<ConsumerRecord> records() {
      return new Of<>(this, null, ConsumerRecord.class);
    }

    @Override
    public void close() {
      consumer.close();
    }

    /** Decoded records of one type, accumulated across polls. */
    static final class Of<T> {
      private final Reader reader;
      private final Function<byte[], Object> decode;
      private final Class<T> type;
      private final List<T> seen = new ArrayList<>();

      Of(Reader reader, Function<byte[], Object> decode, Class<T> type) {
        this.reader = reader;
        this.decode = decode;
        this.type = type;
      }

      /** Everything read so far, after one more poll. */
      List<T> poll() {
        for (ConsumerRecord<String, byte[]> r : reader.consumer.poll(Duration.ofMillis(100))) {
          Object v = decode == null ? r : decode.apply(r.value());
          if (type.isInstance(v)) {
            seen.add(type.cast(v));
          }
        }
        return List.copyOf(seen);
      }

      /** Polls until one record matches, and returns it. */
      T first(Predicate<T> match, Duration timeout) {
        List<T> found = new ArrayList<>();
        await().atMost(timeout).until(() -> {
          poll().stream().filter(match).findFirst().ifPresent(found::add);
          return !found.isEmpty();
        });
        return found.get(0);
      }
    }
  }
}
