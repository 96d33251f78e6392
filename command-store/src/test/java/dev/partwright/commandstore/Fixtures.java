package dev.partwright.commandstore;

import dev.partwright.embedded.Servers;
import dev.partwright.schemas.AggregateId;
import dev.partwright.schemas.Bounds;
import dev.partwright.schemas.CommandHeader;
import dev.partwright.schemas.CommandLogEntry;
import dev.partwright.schemas.Failed;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.schemas.Provisioned;
import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.RegistryAvroSerde;
import dev.partwright.schemas.Rejected;
import dev.partwright.schemas.RolledBack;
import dev.partwright.schemas.SchemaRegistryConfig;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.awaitility.Awaitility;

/** Commands, outcomes and topics for the tests. */
final class Fixtures {

  static final Instant DAY0 = Instant.parse("2026-03-01T00:00:00Z");

  private Fixtures() {}

  private static PartwrightSerdes serdes;

  /** The serdes of this test JVM, on the embedded schema registry ({@link Servers#schemaRegistry()}). */
  static synchronized PartwrightSerdes serdes() {
    if (serdes == null) {
      serdes = PartwrightSerdes.create(SchemaRegistryConfig.of(Servers.schemaRegistry().url()));
    }
    return serdes;
  }

  /** A store of its own on the broker: every topic name carries a fresh prefix. */
  static CommandStoreConfig isolated(String bootstrap, int partitions) {
    return new CommandStoreConfig(bootstrap, "partwright.commands", "partwright.boundaries", partitions, (short) 1, 1,
        serdes()).withTopicPrefix("t" + UUID.randomUUID().toString().substring(0, 8));
  }

  static CommandStoreConfig ensured(String bootstrap, int partitions) {
    CommandStoreConfig c = isolated(bootstrap, partitions);
    try (Admin admin = admin(bootstrap)) {
      CommandTopics.ensure(admin, c);
    }
    return c;
  }

  static Admin admin(String bootstrap) {
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    return Admin.create(p);
  }

  static AggregateId aggregate(String tenant, String table) {
    return new AggregateId(tenant, "app", table);
  }

  static PartitionSpec day(AggregateId a, int day) {
    Instant from = DAY0.plus(Duration.ofDays(day));
    return PartitionSpec.newBuilder()
        .setParent(a.qualifiedTable()).setSchemaName(a.schema()).setName(a.table() + "_d" + day)
        .setBound(Bounds.timeRange(from, from.plus(Duration.ofDays(1)))).build();
  }

  static ProvisionPartitions provision(AggregateId a, String key, int... days) {
    List<PartitionSpec> specs = new ArrayList<>();
    for (int d : days) {
      specs.add(day(a, d));
    }
    return ProvisionPartitions.newBuilder()
        .setHeader(CommandHeader.newBuilder().setIdempotencyKey(key).setAggregateId(a.toString())
            .setExpectedVersion(-1).setIssuedAt(DAY0).setIssuedBy("test").setReason("because " + key).build())
        .setPartitions(specs).build();
  }

  static Provisioned provisioned(AggregateId a, String key, int... days) {
    List<PartitionSpec> specs = new ArrayList<>();
    for (int d : days) {
      specs.add(day(a, d));
    }
    return Provisioned.newBuilder().setIdempotencyKey(key).setCreated(specs).setAlreadyPresent(List.of())
        .setWorker("w1").setDurationMicros(1000).build();
  }

  static Rejected rejected(String key) {
    return Rejected.newBuilder().setIdempotencyKey(key).setCode("QUOTA_PARTITIONS").setReason("too many").build();
  }

  static Failed failed(String key, boolean retryable) {
    return Failed.newBuilder().setIdempotencyKey(key).setRetryable(retryable).setAttempts(3).setReason("lock timeout").build();
  }

  static RolledBack rolledBack(String key, String... dropped) {
    return RolledBack.newBuilder().setIdempotencyKey(key).setDropped(List.of(dropped)).setReason("verify failed").build();
  }

  static CommandLogEntry entry(AggregateId a, Object e) {
    return new CommandLogEntry(a.toString(), DAY0, e);
  }

  /**
   * Writes, per aggregate, {@code commands} provisioning commands starting at day {@code firstDay},
   * each followed by its outcome (mostly Provisioned, some Rejected, a retryable Failure before
   * success, a duplicate command), through a plain producer as the topology and worker would.
   * Returns the number of records written.
   */
  static int writeLog(String bootstrap, CommandStoreConfig config, int aggregates, int firstDay, int commands) {
    RegistryAvroSerde<CommandLogEntry> log = serdes().serde(CommandLogEntry.class);
    int written = 0;
    List<Future<RecordMetadata>> sent = new ArrayList<>();
    try (KafkaProducer<String, byte[]> p = rawProducer(bootstrap)) {
      for (int day = firstDay; day < firstDay + commands; day++) {
        for (int i = 0; i < aggregates; i++) {
          AggregateId a = aggregate("tenant-" + i, "events");
          String key = a + "#" + day;
          List<Object> entries = new ArrayList<>();
          entries.add(provision(a, key, day, day + 1));
          if (day % 7 == 3) {
            entries.add(rejected(key));
          } else {
            if (day % 5 == 1) {
              entries.add(failed(key, true));
              entries.add(provision(a, key, day, day + 1)); // re-delivered by an at-least-once writer
            }
            entries.add(provisioned(a, key, day, day + 1));
          }
          for (Object e : entries) {
            sent.add(p.send(new ProducerRecord<>(config.commandsTopic(), a.toString(),
                log.encode(config.commandsTopic(), entry(a, e)))));
            written++;
          }
        }
      }
      p.flush();
      for (Future<RecordMetadata> f : sent) {
        f.get(); // a lost record would make every count in the tests wrong in confusing ways
      }
    } catch (ExecutionException | InterruptedException e) {
      throw new AssertionError("could not write the test log", e);
    }
    return written;
  }

  /** Size and SHA-256 of a catalog's canonical bytes: equal exactly when the bytes are, and short to print. */
  static String digest(PartitionCatalog catalog) {
    byte[] bytes = catalog.canonicalBytes();
    try {
      return bytes.length + " bytes, sha-256 " + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    } catch (NoSuchAlgorithmException e) {
      throw new AssertionError(e);
    }
  }

  /**
   * Waits until the coordinator has written the markers of every finished transaction on {@code
   * topic}: until then the last stable offset lags, and two replays may stop at different places.
   */
  static void awaitNoOpenTransactions(String bootstrap, String topic) {
    Properties committed = new Properties();
    committed.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    committed.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    Properties all = new Properties();
    all.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(committed, new StringDeserializer(), new ByteArrayDeserializer());
         KafkaConsumer<String, byte[]> u = new KafkaConsumer<>(all, new StringDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> tps = c.partitionsFor(topic, Duration.ofSeconds(30)).stream()
          .map(i -> new TopicPartition(i.topic(), i.partition())).toList();
      Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> c.endOffsets(tps).equals(u.endOffsets(tps)));
    }
  }

  static KafkaProducer<String, byte[]> rawProducer(String bootstrap) {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
    p.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, 1);
    return new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
  }

  /** Every record of {@code topic} (all partitions, in partition then offset order), as the isolation level sees it. */
  static List<ConsumerRecord<String, byte[]>> readAll(String bootstrap, String topic, boolean committedOnly) {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, committedOnly ? "read_committed" : "read_uncommitted");
    try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> tps = c.partitionsFor(topic, Duration.ofSeconds(30)).stream()
          .map(i -> new TopicPartition(i.topic(), i.partition()))
          .sorted((x, y) -> Integer.compare(x.partition(), y.partition())).toList();
      c.assign(tps);
      c.seekToBeginning(tps);
      Map<TopicPartition, Long> end = c.endOffsets(tps);
      List<ConsumerRecord<String, byte[]>> out = new ArrayList<>();
      long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
      while (tps.stream().anyMatch(tp -> c.position(tp) < end.get(tp))) {
        if (System.nanoTime() > deadline) {
          throw new AssertionError("could not read " + topic + " to its end " + end);
        }
        c.poll(Duration.ofMillis(200)).forEach(out::add);
      }
      out.sort((x, y) -> x.partition() != y.partition() ? Integer.compare(x.partition(), y.partition())
          : Long.compare(x.offset(), y.offset()));
      return out;
    }
  }
}
