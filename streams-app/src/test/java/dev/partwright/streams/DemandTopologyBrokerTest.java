package dev.partwright.streams;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.partwright.embedded.KafkaEndpoint;
import dev.partwright.embedded.Servers;
import dev.partwright.schemas.CommandLogEntry;
import dev.partwright.schemas.IngestionEvent;
import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.RegistryAvroSerde;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The topology on the real broker: a never-seen tenant's first event becomes its command (and so
 * does a surge's, within 200 ms), and a tenant flooding the topology does not bury another
 * tenant's command under its own. One
 * partition everywhere, so both tenants share one task and one command-log partition: the worst
 * case for isolation.
 */
class DemandTopologyBrokerTest {

  private static final TablePolicy HOURLY = new TablePolicy("public", "metrics", Interval.HOUR, ZoneId.of("UTC"), false)
      .perTenant("recorded_at");
  private final RegistryAvroSerde<IngestionEvent> events = TestSerdes.get().serde(IngestionEvent.class);
  private final RegistryAvroSerde<CommandLogEntry> log = TestSerdes.get().serde(CommandLogEntry.class);
  private KafkaEndpoint kafka;
  private PlannerConfig config;
  private KafkaStreams streams;
  private Path stateDir;

  @BeforeEach
  void start() throws Exception {
    kafka = Servers.kafka();
    String run = UUID.randomUUID().toString().substring(0, 8);
    config = PlannerConfig.defaults(Map.of(HOURLY.qualifiedName(), HOURLY))
        .withTopics("it-" + run + ".ingestion", "it-" + run + ".commands", "it-" + run + ".dlq", "it-" + run + ".alerts")
        .withRateLimit(new RateLimit(3, Duration.ofMinutes(10), Duration.ofMillis(200)));
    Properties admin = new Properties();
    admin.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    try (Admin a = Admin.create(admin)) {
      DemandTopology.ensureTopics(a, config, 1, (short) 1);
      a.createTopics(List.of(new NewTopic(config.commandsTopic(), 1, (short) 1))).all().get();
    }
    stateDir = Files.createTempDirectory("demand-it");
    Properties props = DemandTopology.streamsProperties(kafka.bootstrapServers(), "demand-it-" + run, config);
    props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
    streams = new KafkaStreams(DemandTopology.build(new StreamsBuilder(), config, TestSerdes.get(), new SimpleMeterRegistry()), props);
    CountDownLatch running = new CountDownLatch(1);
    streams.setStateListener((now, before) -> {
      if (now == KafkaStreams.State.RUNNING) {
        running.countDown();
      }
    });
    streams.start();
    assertThat(running.await(60, TimeUnit.SECONDS)).as("topology running").isTrue();
  }

  @AfterEach
  void stop() {
    if (streams != null) {
      streams.close(CloseOptions.groupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP)
          .withTimeout(Duration.ofSeconds(10)));
      streams.cleanUp();
    }
  }

  @Test
  void aNeverSeenTenantsFirstEventBecomesItsCommandOnTheLog() {
    Instant now = Instant.now();
    try (KafkaProducer<String, byte[]> producer = producer()) {
      send(producer, "newcomer", now);
    }
    List<CommandLogEntry> out = new ArrayList<>();
    try (KafkaConsumer<String, byte[]> consumer = consumer()) {
      await().atMost(Duration.ofSeconds(60)).until(() -> {
        poll(consumer, out);
        return !out.isEmpty();
      });
    }
    ProvisionPartitions command = (ProvisionPartitions) out.get(0).getEntry();
    assertThat(out.get(0).getAggregateId()).isEqualTo("newcomer/public.metrics");
    assertThat(command.getPartitions().get(0).getName()).isEqualTo("metrics_newcomer");
    assertThat(Harness.end(command)).isAfterOrEqualTo(now.plus(Duration.ofDays(30)));
  }

  /**
   * The reaction bound on the real broker: first event of a never-seen tenant, and first
   * event beyond a tenant's coverage, to its command read from the log. Sent one at a time after
   * one unmeasured warm-up; p90 of 10 must be within 200 ms (the machine is shared, so one slow
   * sample is tolerated) and every one within the commit interval (1 s).
   */
  @Test
  void surgeAndNewTenantCommandsAreOnTheLogWithin200Ms() {
    Properties pp = new Properties();
    pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    pp.put(ProducerConfig.LINGER_MS_CONFIG, 0);
    Properties cp = new Properties();
    cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    cp.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 10);
    List<Double> millis = new ArrayList<>();
    try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(pp, new StringSerializer(), new ByteArraySerializer());
         KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(cp, new StringDeserializer(), new ByteArrayDeserializer())) {
      org.apache.kafka.common.TopicPartition partition = new org.apache.kafka.common.TopicPartition(config.commandsTopic(), 0);
      consumer.assign(List.of(partition));
      consumer.seekToEnd(List.of(partition));
      consumer.position(partition);
      Instant now = Instant.now();
      commandLatency(producer, consumer, "warmup", now);
      for (int i = 0; i < 5; i++) {
        millis.add(commandLatency(producer, consumer, "surge" + i, now));
        millis.add(commandLatency(producer, consumer, "surge" + i, now.plus(Duration.ofDays(45))));
      }
    }
    List<Double> sorted = millis.stream().sorted().toList();
    assertThat(sorted.get(8)).as("p90 first event -> command on the log, ms: %s", millis).isLessThanOrEqualTo(200.0);
    assertThat(sorted.get(9)).as("slowest, ms: %s", millis).isLessThanOrEqualTo(1000.0);
  }

  /** Sends one event and reads the log until its aggregate's command arrives; milliseconds in between. */
  private double commandLatency(KafkaProducer<String, byte[]> producer, KafkaConsumer<String, byte[]> consumer,
      String tenant, Instant eventTime) {
    long sent = System.nanoTime();
    send(producer, tenant, eventTime);
    producer.flush();
    String aggregate = tenant + "/public.metrics";
    long[] arrived = {0};
    await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ZERO).pollDelay(Duration.ZERO).until(() -> {
      for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(5))) {
        if (aggregate.equals(r.key()) && log.decode(r.topic(), r.value()).getEntry() instanceof ProvisionPartitions) {
          arrived[0] = System.nanoTime();
        }
      }
      return arrived[0] != 0;
    });
    return (arrived[0] - sent) / 1e6;
  }

  @Test
  void unreadablePayloadsGoToTheDeadLetterTopicWithTheReasonAndTheNextEventIsPlanned() throws Exception {
    Instant now = Instant.now();
    IngestionEvent event = IngestionEvent.newBuilder().setTenant("after-bad").setSchemaName("public").setTable("metrics")
        .setEventTime(now.truncatedTo(ChronoUnit.MICROS)).build();
    byte[] good = events.encode(config.ingestionTopic(), event);
    // what a producer without the registry writes: Avro single-object encoding, C3 01 + fingerprint
    java.nio.ByteBuffer singleObject = IngestionEvent.getEncoder().encode(event);
    byte[] unknownId = good.clone();
    unknownId[1] = 0x7f; // an id this registry never gave out
    byte[] truncated = java.util.Arrays.copyOf(good, good.length - 4);
    List<byte[]> bad = List.of(java.util.Arrays.copyOf(singleObject.array(), singleObject.limit()), unknownId, truncated);
    try (KafkaProducer<String, byte[]> producer = producer()) {
      for (byte[] payload : bad) {
        producer.send(new ProducerRecord<>(config.ingestionTopic(), "after-bad", payload));
      }
      producer.send(new ProducerRecord<>(config.ingestionTopic(), "after-bad", good));
    }

    List<CommandLogEntry> out = new ArrayList<>();
    try (KafkaConsumer<String, byte[]> consumer = consumer()) {
      await().atMost(Duration.ofSeconds(60)).until(() -> {
        poll(consumer, out);
        return !out.isEmpty();
      });
    }
    assertThat(out.get(0).getAggregateId()).as("the good event after the bad ones is planned")
        .isEqualTo("after-bad/public.metrics");

    List<ConsumerRecord<byte[], byte[]>> dead = new ArrayList<>();
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    p.put(ConsumerConfig.GROUP_ID_CONFIG, "it-dlq-" + UUID.randomUUID());
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      c.subscribe(List.of(config.deadLetterTopic()));
      await().atMost(Duration.ofSeconds(60)).until(() -> {
        c.poll(Duration.ofMillis(200)).forEach(dead::add);
        return dead.size() >= bad.size();
      });
    }
    assertThat(dead).hasSize(bad.size());
    for (int i = 0; i < bad.size(); i++) {
      assertThat(dead.get(i).value()).as("the dead letter carries the payload as it came").isEqualTo(bad.get(i));
    }
    assertThat(header(dead.get(0), "__streams.errors.exception")).endsWith("PayloadException$WrongMagicByte");
    assertThat(header(dead.get(0), "__streams.errors.message"))
        .contains("topic " + config.ingestionTopic() + " partition 0 offset 0").contains("single-object encoding");
    assertThat(header(dead.get(1), "__streams.errors.exception")).endsWith("PayloadException$UnknownSchemaId");
    assertThat(header(dead.get(1), "__streams.errors.message")).contains("partition 0 offset 1").contains("does not know");
    assertThat(header(dead.get(2), "__streams.errors.exception")).endsWith("PayloadException$Truncated");
    assertThat(header(dead.get(2), "__streams.errors.message")).contains("partition 0 offset 2").contains("truncated");
  }

  private static String header(ConsumerRecord<byte[], byte[]> record, String key) {
    org.apache.kafka.common.header.Header h = record.headers().lastHeader(key);
    return h == null ? null : new String(h.value(), java.nio.charset.StandardCharsets.UTF_8);
  }

  @Test
  void aFloodingTenantDoesNotBuryAnotherTenantsCommand() {
    Instant now = Instant.now().truncatedTo(ChronoUnit.HOURS);
    int flood = 2000;
    try (KafkaProducer<String, byte[]> producer = producer()) {
      for (int i = 0; i < flood; i++) {
        send(producer, "noisy", now.plus(Duration.ofDays(31)).plus(Duration.ofHours(i)));
      }
      send(producer, "quiet", now);
    }
    List<CommandLogEntry> out = new ArrayList<>();
    try (KafkaConsumer<String, byte[]> consumer = consumer()) {
      await().atMost(Duration.ofSeconds(60)).until(() -> {
        poll(consumer, out);
        return out.stream().anyMatch(e -> e.getAggregateId().startsWith("quiet/"));
      });
    }
    long noisyAhead = out.stream().takeWhile(e -> !e.getAggregateId().startsWith("quiet/"))
        .filter(e -> e.getAggregateId().startsWith("noisy/")).count();
    // without the rate limit, every one of noisy's events would have put a command ahead of quiet's
    assertThat(noisyAhead).isLessThanOrEqualTo(3);
  }

  @Test
  void eventsOfOneAggregateMeetInOneTaskWhateverTheirKey() throws Exception {
    stop();
    String run = UUID.randomUUID().toString().substring(0, 8);
    config = config.withTopics("it-" + run + ".ingestion", "it-" + run + ".commands", "it-" + run + ".dlq",
        "it-" + run + ".alerts");
    Properties admin = new Properties();
    admin.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    try (Admin a = Admin.create(admin)) {
      DemandTopology.ensureTopics(a, config, 3, (short) 1);
      a.createTopics(List.of(new NewTopic(config.commandsTopic(), 1, (short) 1))).all().get();
    }
    Properties props = DemandTopology.streamsProperties(kafka.bootstrapServers(), "demand-it-" + run, config);
    props.put(StreamsConfig.STATE_DIR_CONFIG, Files.createTempDirectory("demand-it").toString());
    streams = new KafkaStreams(DemandTopology.build(new StreamsBuilder(), config, TestSerdes.get(), new SimpleMeterRegistry()), props);
    CountDownLatch running = new CountDownLatch(1);
    streams.setStateListener((now, before) -> {
      if (now == KafkaStreams.State.RUNNING) {
        running.countDown();
      }
    });
    streams.start();
    assertThat(running.await(60, TimeUnit.SECONDS)).isTrue();

    // the same tenant under keys that land in each of the 3 partitions: locally routed or moved,
    // the events must meet in one task, so the aggregate gets one first command, not one per task
    Instant now = Instant.now();
    try (KafkaProducer<String, byte[]> producer = producer()) {
      for (String key : List.of("acme", "k1", "k2", "k3", "k4", "k5")) {
        IngestionEvent e = IngestionEvent.newBuilder().setTenant("acme").setSchemaName("public").setTable("metrics")
            .setEventTime(now.truncatedTo(ChronoUnit.MICROS)).build();
        producer.send(new ProducerRecord<>(config.ingestionTopic(), key, events.encode(config.ingestionTopic(), e)));
      }
      send(producer, "marker", now);
    }
    List<CommandLogEntry> out = new ArrayList<>();
    try (KafkaConsumer<String, byte[]> consumer = consumer()) {
      await().atMost(Duration.ofSeconds(60)).until(() -> {
        poll(consumer, out);
        return out.stream().anyMatch(e -> e.getAggregateId().startsWith("marker/"))
            && out.stream().anyMatch(e -> e.getAggregateId().startsWith("acme/"));
      });
      consumer.poll(Duration.ofSeconds(1)).forEach(r -> out.add(log.decode(r.topic(), r.value())));
    }
    assertThat(out.stream().filter(e -> e.getAggregateId().equals("acme/public.metrics"))).hasSize(1);
    for (int p = 1; p <= 12; p++) {
      assertThat(DemandTopology.ownerOf("t", "tenant" + p + "/public.metrics", null, 7).orElseThrow())
          .as("the partition Kafka's default partitioner picks for the tenant key")
          .containsExactly(org.apache.kafka.clients.producer.internals.BuiltInPartitioner.partitionForKey(
              ("tenant" + p).getBytes(java.nio.charset.StandardCharsets.UTF_8), 7));
    }
  }

  private void send(KafkaProducer<String, byte[]> producer, String tenant, Instant eventTime) {
    IngestionEvent e = IngestionEvent.newBuilder().setTenant(tenant).setSchemaName("public").setTable("metrics")
        .setEventTime(eventTime.truncatedTo(ChronoUnit.MICROS)).build();
    producer.send(new ProducerRecord<>(config.ingestionTopic(), tenant, events.encode(config.ingestionTopic(), e)));
  }

  private KafkaProducer<String, byte[]> producer() {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
    return new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
  }

  private KafkaConsumer<String, byte[]> consumer() {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    p.put(ConsumerConfig.GROUP_ID_CONFIG, "it-reader-" + UUID.randomUUID());
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
    c.subscribe(List.of(config.commandsTopic()));
    return c;
  }

  private void poll(KafkaConsumer<String, byte[]> consumer, List<CommandLogEntry> out) {
    for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
      out.add(log.decode(r.topic(), r.value()));
    }
  }
}
