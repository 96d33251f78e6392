package dev.partwright.bench.topology;

import dev.partwright.bench.Stats;
import dev.partwright.embedded.EmbeddedKafka;
import dev.partwright.embedded.Servers;
import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.schemas.RegistryAvroSerde;
import dev.partwright.schemas.SchemaRegistryConfig;
import dev.partwright.schemas.CommandLogEntry;
import dev.partwright.schemas.IngestionEvent;
import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.streams.DemandTopology;
import dev.partwright.streams.Interval;
import dev.partwright.streams.PlannerConfig;
import dev.partwright.streams.TablePolicy;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
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
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;

/**
 * The demand topology on an embedded broker, each figure beside its baseline from the same run:
 *
 * <ol>
 *   <li><b>throughput</b>: {@code --events} ingestion events of {@code --tenants} tenants (a
 *       tenant-scoped daily table, event times within the buffer; keyed by tenant, or with
 *       {@code --no-key} without a key) through the topology, from its first event read until its
 *       last was read and processed (Kafka Streams' {@code records-consumed-total} of the ingestion
 *       topic, which the source node counts once a record went through everything it feeds on the
 *       stream thread: the keyer, and on the surge path the planner); beside it, the span until every event was planned (the planner's counter: held events
 *       count once their summary, which goes on each second, reached the planner); baseline: one raw
 *       {@code KafkaConsumer} reading and
 *       Avro-decoding the same topic with the topology's deserializer, from its first record to its
 *       last; and the floor: the cheapest Kafka Streams application on the same topic (source,
 *       decode, nothing else). The three run in {@code --rounds R} rounds (default 3) over the same
 *       events, in an order that rotates from round to round; each round gives its ratios and the
 *       figures are their medians (one round of each moved up to 2x between runs on this 2-core
 *       machine). Beside each rate, the process CPU time per event over the same span (every thread
 *       of this JVM, the embedded broker's included), which moves much less with the machine's
 *       load. Goal: topology ≥ 0.5× raw.</li>
 *   <li><b>surge → command latency</b>: one at a time, an event for a range no command covers yet (a
 *       never-seen tenant, or a known tenant's event 60 days ahead) is sent, and the time until its
 *       command is read from the command log is taken; baseline: the same producer → consumer round
 *       trip through a plain topic. Goal: p99 ≤ 200 ms.</li>
 * </ol>
 *
 * <p>Before both, a JIT warm-up alike for every contender ({@code --warmup N} events of other
 * tenants, default as many as {@code --events}: after a quarter, the topology's longer code path was
 * still being compiled in the first round; {@code 0} for none). Streams settings can be tried
 * without a rebuild, for the floor and the topology alike: {@code -Dbench.streams.<setting>=<value>}.
 *
 * <pre>
 * ./mvnw -B -q -pl bench -am install -DskipTests
 * ./mvnw -B -q -pl bench exec:java -Dexec.mainClass=dev.partwright.bench.topology.TopologyBenchmark \
 *     -Dexec.args="--events 2000000 --tenants 1000 --surges 100 --partitions 4 --threads 2"
 * </pre>
 */
public final class TopologyBenchmark {

  private static final TablePolicy USAGE =
      new TablePolicy("public", "usage", Interval.DAY, ZoneId.of("UTC"), false).perTenant("recorded_at");
  /** The registry of PARTWRIGHT_SCHEMA_REGISTRY_URL, else an embedded one: the pipeline's topics need one. */
  private static final PartwrightSerdes SERDES =
      PartwrightSerdes.create(SchemaRegistryConfig.of(Servers.schemaRegistry().url()));
  private static final RegistryAvroSerde<IngestionEvent> EVENTS = SERDES.serde(IngestionEvent.class);

  private TopologyBenchmark() {}

  public static void main(String[] args) throws Exception {
    int events = intArg(args, "--events", 300_000);
    int tenants = intArg(args, "--tenants", 1_000);
    int surges = intArg(args, "--surges", 200);
    int partitions = intArg(args, "--partitions", 4);
    int threads = intArg(args, "--threads", 2);
    boolean keyed = !Arrays.asList(args).contains("--no-key");
    int warmup = intArg(args, "--warmup", events);
    int rounds = intArg(args, "--rounds", 3);
    Path work = Files.createTempDirectory("topology-bench");
    // Kafka's own default (the embedded broker's is 0, for tests): the stream threads of an
    // application join its group's first generation together. With 0 the first thread took every
    // task and began while the second joined; tasks then moved between threads mid-measurement, and
    // a moved task's count of consumed records (a metric of its thread) could vanish before it was
    // read, leaving the count short of the events for good: runs that "stalled" at ~half the events.
    try (EmbeddedKafka kafka = EmbeddedKafka.start(work.resolve("kafka"), Map.of("group.initial.rebalance.delay.ms", "3000"))) {
      String run = UUID.randomUUID().toString().substring(0, 8);
      PlannerConfig config = PlannerConfig.defaults(Map.of(USAGE.qualifiedName(), USAGE))
          .withTopics("bench-" + run + ".ingestion", "bench-" + run + ".commands", "bench-" + run + ".dlq",
              "bench-" + run + ".alerts");
      String ping = "bench-" + run + ".ping";
      Properties admin = new Properties();
      admin.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
      try (Admin a = Admin.create(admin)) {
        DemandTopology.ensureTopics(a, config, partitions, (short) 1);
        a.createTopics(List.of(new NewTopic(config.commandsTopic(), partitions, (short) 1),
            new NewTopic(ping, 1, (short) 1))).all().get();
      }

      if (warmup > 0) {
        warmUp(kafka.bootstrapServers(), run, warmup, tenants, partitions, threads, keyed, work);
      }

      System.out.printf("producing %,d events of %,d tenants to %d partitions, %s...%n", events, tenants, partitions,
          keyed ? "keyed by tenant" : "without key");
      produce(kafka.bootstrapServers(), config.ingestionTopic(), events, tenants, "tenant", keyed);

      // rounds of the three contenders over the same events, in an order that rotates from round to
      // round (none always reads first, or right after another's work): one run of each moved up to
      // 2x between runs on this machine, the median of the rounds' ratios much less
      List<double[]> ratios = new ArrayList<>(); // topology/raw, floor/raw, topology/floor, planned/raw, cpu raw/topology
      for (int r = 0; r < rounds; r++) {
        Rate raw = null;
        Rate floor = null;
        Rate topology = null;
        Rate planned = null;
        long[] plannerCounts = new long[2]; // commands, deferred
        for (int k = 0; k < 3; k++) {
          switch ((r + k) % 3) {
            case 0 -> raw = rawConsumer(kafka.bootstrapServers(), config.ingestionTopic(), events);
            case 1 -> floor = streamsFloor(kafka.bootstrapServers(), config, run + "-" + r, threads, events, work);
            default -> {
              SimpleMeterRegistry meters = new SimpleMeterRegistry();
              KafkaStreams streams = startTopology(kafka.bootstrapServers(), config, "bench-demand-" + run + "-" + r,
                  threads, work, meters);
              try {
                // ends like the raw consumer's and the floor's: when the last event was read and processed
                // (the keyer's work on it done); the planner's counter, which also waits for the held
                // summaries' next period (up to a second of idling, not of work), is shown beside it
                List<Rate> spans = Rate.measure(events, consumed(streams, config.ingestionTopic()),
                    () -> (long) meters.get("partwright.planner.events").counter().count());
                topology = spans.get(0);
                planned = spans.get(1);
                plannerCounts[0] = count(meters, "partwright.planner.commands");
                plannerCounts[1] = count(meters, "partwright.planner.deferred");
              } finally {
                close(streams);
              }
            }
          }
        }
        ratios.add(new double[] {topology.eventsPerSecond() / raw.eventsPerSecond(),
            floor.eventsPerSecond() / raw.eventsPerSecond(), topology.eventsPerSecond() / floor.eventsPerSecond(),
            planned.eventsPerSecond() / raw.eventsPerSecond(), raw.cpuMicrosPerEvent() / topology.cpuMicrosPerEvent()});
        String line = String.format("round %d (order %s): raw %s; floor %s; topology %s; every event planned %s"
                + " (planner: %d commands, %d deferred) -> topology/raw %.2f, floor/raw %.2f, topology/floor %.2f", r + 1,
            List.of("raw", "floor", "topology", "raw", "floor").subList(r % 3, r % 3 + 3), raw, floor, topology, planned,
            plannerCounts[0], plannerCounts[1], ratios.get(r)[0], ratios.get(r)[1], ratios.get(r)[2]);
        System.out.println(line);
      }

      // the surge phase on a topology that has caught up with the events (commands for them sent)
      SimpleMeterRegistry meters = new SimpleMeterRegistry();
      KafkaStreams streams = startTopology(kafka.bootstrapServers(), config, "bench-demand-" + run + "-surges", threads,
          work, meters);
      try {
        Rate.measure(events, consumed(streams, config.ingestionTopic()));
        List<Double> surge = surgeLatencies(kafka.bootstrapServers(), config, surges, tenants);
        List<Double> roundTrip = roundTrips(kafka.bootstrapServers(), ping, surges);

        System.out.println();
        System.out.printf("%d rounds; figures are medians of the rounds' ratios (lowest-highest)%n", rounds);
        System.out.println("| what | figure | baseline (same run) | goal |");
        System.out.println("|---|---|---|---|");
        System.out.printf("| topology throughput, %d threads, %d partitions, events %s, vs raw KafkaConsumer + Avro decode in the same round | ratio %s | - | >= 0.5x raw |%n",
            threads, partitions, keyed ? "keyed by tenant" : "without key", medianOf(ratios, 0));
        System.out.printf("| the same until every event was planned (held summaries go on each second) | ratio %s | - | - |%n",
            medianOf(ratios, 3));
        System.out.printf("| process CPU per event, raw / topology (all threads of this JVM, broker included) | %s | - | - |%n",
            medianOf(ratios, 4));
        System.out.printf("| Kafka Streams floor (source, decode, no state) vs raw | ratio %s | topology / floor %s | - |%n",
            medianOf(ratios, 1), medianOf(ratios, 2));
        System.out.printf("| surge -> command on the log, %d surges | p50 %.1f ms, p99 %.1f ms | produce -> consume round trip p50 %.1f ms, p99 %.1f ms | p99 <= 200 ms |%n",
            surges, percentile(surge, 50), percentile(surge, 99), percentile(roundTrip, 50), percentile(roundTrip, 99));
      } finally {
        close(streams);
      }
    }
  }

  /** The sum of every counter named {@code name} (all tags), 0 when none was registered. */
  private static long count(SimpleMeterRegistry meters, String name) {
    return (long) meters.find(name).counters().stream().mapToDouble(c -> c.count()).sum();
  }

  private static void close(KafkaStreams streams) {
    streams.close(CloseOptions.groupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP)
        .withTimeout(Duration.ofSeconds(10)));
  }

  /** "median (lowest-highest)" of column {@code i}. */
  private static String medianOf(List<double[]> rows, int i) {
    double[] v = rows.stream().mapToDouble(r -> r[i]).sorted().toArray();
    return String.format("%.2f (%.2f-%.2f)", Stats.median(v), v[0], v[v.length - 1]);
  }

  /**
   * The JIT warm-up, alike for every contender: {@code events} events of other tenants (so the
   * measured topology still sends its own first command per tenant) through the raw consumer, the
   * floor and the topology, each its own application on its own topics. Without it the raw
   * baseline — the better of a run before and one after the topology — is warm and the topology
   * cold: at a few million events the topology's first seconds, while its code is compiled, are
   * a large part of its span. The topology's rate in this phase (cold) is printed for the record.
   */
  private static void warmUp(String bootstrap, String run, int events, int tenants, int partitions, int threads,
      boolean keyed, Path work) throws Exception {
    String prefix = "bench-" + run + "-warm";
    PlannerConfig config = PlannerConfig.defaults(Map.of(USAGE.qualifiedName(), USAGE))
        .withTopics(prefix + ".ingestion", prefix + ".commands", prefix + ".dlq", prefix + ".alerts");
    Properties admin = new Properties();
    admin.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    try (Admin a = Admin.create(admin)) {
      DemandTopology.ensureTopics(a, config, partitions, (short) 1);
      a.createTopics(List.of(new NewTopic(config.commandsTopic(), partitions, (short) 1))).all().get();
    }
    System.out.printf("warm-up: %,d events of %,d other tenants through each contender...%n", events, tenants);
    produce(bootstrap, config.ingestionTopic(), events, tenants, "warm", keyed);
    Rate raw = rawConsumer(bootstrap, config.ingestionTopic(), events);
    Rate floor = streamsFloor(bootstrap, config, run + "-warm", threads, events, work);
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    KafkaStreams streams = startTopology(bootstrap, config, "bench-demand-" + run + "-warm", threads, work, meters);
    try {
      Rate topology = Rate.measure(events, consumed(streams, config.ingestionTopic())).get(0);
      System.out.printf("warm-up (cold JVM): raw %s; floor %s; topology %s (ratio %.2f)%n", raw, floor, topology,
          topology.eventsPerSecond() / raw.eventsPerSecond());
    } finally {
      close(streams);
    }
  }

  private static KafkaStreams startTopology(String bootstrap, PlannerConfig config, String applicationId, int threads,
      Path work, SimpleMeterRegistry meters) throws InterruptedException {
    Properties props = DemandTopology.streamsProperties(bootstrap, applicationId, config);
    props.put(StreamsConfig.STATE_DIR_CONFIG, work.resolve("streams").toString());
    props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, threads);
    props.putAll(streamsOverrides());
    KafkaStreams streams = new KafkaStreams(DemandTopology.build(new StreamsBuilder(), config, SERDES, meters), props);
    start(streams);
    return streams;
  }

  private static void produce(String bootstrap, String topic, int events, int tenants, String tenantPrefix,
      boolean keyed) {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.LINGER_MS_CONFIG, 10);
    p.put(ProducerConfig.BATCH_SIZE_CONFIG, 256 * 1024);
    Random random = new Random(42);
    Instant now = Instant.now();
    try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer())) {
      for (int i = 0; i < events; i++) {
        String tenant = tenantPrefix + (i % tenants);
        IngestionEvent e = IngestionEvent.newBuilder().setTenant(tenant).setSchemaName("public").setTable("usage")
            .setEventTime(now.plusSeconds(random.nextInt(20 * 86400)).truncatedTo(ChronoUnit.MICROS))
            .setBytes(200L + random.nextInt(800)).build();
        producer.send(new ProducerRecord<>(topic, keyed ? tenant : null, EVENTS.encode(topic, e)));
      }
      producer.flush();
    }
  }

  private static Rate rawConsumer(String bootstrap, String topic, int events) {
    Properties p = consumerProps(bootstrap);
    p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 5000);
    try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer())) {
      consumer.subscribe(List.of(topic));
      int seen = 0;
      long started = 0;
      long cpuStarted = 0;
      long checksum = 0;
      while (seen < events) {
        for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(100))) {
          if (started == 0) {
            started = System.nanoTime();
            cpuStarted = processCpuNanos();
          }
          checksum += EVENTS.decode(r.topic(), r.value()).getEventTime().getNano();
          seen++;
        }
      }
      Rate rate = new Rate(events, System.nanoTime() - started, processCpuNanos() - cpuStarted);
      if (checksum == 42) {
        System.out.print(""); // keeps the decode from being optimized away
      }
      return rate;
    }
  }

  /**
   * The same topic through the cheapest Kafka Streams application there is: source, decode, nothing
   * else — what Kafka Streams' per-record machinery costs on its own, with the demand topology's settings.
   */
  private static Rate streamsFloor(String bootstrap, PlannerConfig config, String run, int threads, int events, Path work)
      throws InterruptedException {
    StreamsBuilder builder = new StreamsBuilder();
    builder.stream(config.ingestionTopic(), org.apache.kafka.streams.kstream.Consumed.with(
            org.apache.kafka.common.serialization.Serdes.ByteArray(), org.apache.kafka.common.serialization.Serdes.ByteArray()))
        .foreach((k, v) -> EVENTS.decode(config.ingestionTopic(), v));
    Properties props = DemandTopology.streamsProperties(bootstrap, "bench-floor-" + run, config);
    props.put(StreamsConfig.STATE_DIR_CONFIG, work.resolve("floor").toString());
    props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, threads);
    props.putAll(streamsOverrides());
    KafkaStreams streams = new KafkaStreams(builder.build(), props);
    start(streams);
    try {
      return Rate.measure(events, consumed(streams, config.ingestionTopic())).get(0);
    } finally {
      close(streams);
    }
  }

  /** Starts {@code streams} and waits until it runs. */
  private static void start(KafkaStreams streams) throws InterruptedException {
    CountDownLatch running = new CountDownLatch(1);
    streams.setStateListener((now, before) -> {
      if (now == KafkaStreams.State.RUNNING) {
        running.countDown();
      }
    });
    streams.start();
    if (!running.await(120, TimeUnit.SECONDS)) {
      close(streams);
      throw new IllegalStateException("Kafka Streams not RUNNING after 120 s: " + streams.state());
    }
  }

  /**
   * Events through a phase, its wall time from the first event seen to the last, and the process
   * CPU time (every thread of this JVM, the embedded broker's included) over the same span: under
   * load from other processes the CPU per event moves much less than the events per second.
   */
  record Rate(long events, long nanos, long cpuNanos) {
    double eventsPerSecond() {
      return events / (nanos / 1e9);
    }

    double cpuMicrosPerEvent() {
      return cpuNanos / 1e3 / events;
    }

    /**
     * Polls progress counters every millisecond until each reaches {@code events}; one span per
     * counter, all starting at the first counter's first move.
     */
    static List<Rate> measure(long events, java.util.function.LongSupplier... progress) throws InterruptedException {
      long started = 0;
      long cpuStarted = 0;
      long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(10);
      Rate[] spans = new Rate[progress.length];
      int done = 0;
      while (done < progress.length) {
        long first = progress[0].getAsLong();
        if (started == 0 && first > 0) {
          started = System.nanoTime();
          cpuStarted = processCpuNanos();
        }
        for (int i = 0; i < progress.length; i++) {
          if (spans[i] == null && (i == 0 ? first : progress[i].getAsLong()) >= events) {
            spans[i] = started == 0 ? new Rate(events, 1, 0)
                : new Rate(events, System.nanoTime() - started, processCpuNanos() - cpuStarted);
            done++;
          }
        }
        if (done < progress.length) {
          Thread.sleep(1); // a benchmark harness polling a counter, not a test waiting for a condition
        }
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("only " + first + " of " + events + " events after 10 minutes (spans done: "
              + Arrays.toString(spans) + ")");
        }
      }
      return List.of(spans);
    }

    @Override
    public String toString() {
      return String.format("%,.0f events/s, %.2f us process CPU per event", eventsPerSecond(), cpuMicrosPerEvent());
    }
  }

  /**
   * Streams settings to try without a rebuild, for the floor and the topology alike:
   * {@code -Dbench.streams.commit.interval.ms=5000} overrides {@code commit.interval.ms}.
   */
  private static Properties streamsOverrides() {
    Properties overrides = new Properties();
    String prefix = "bench.streams.";
    for (String name : System.getProperties().stringPropertyNames()) {
      if (name.startsWith(prefix)) {
        overrides.put(name.substring(prefix.length()), System.getProperty(name));
      }
    }
    if (!overrides.isEmpty()) {
      System.out.println("Streams settings overridden: " + overrides);
    }
    return overrides;
  }

  private static long processCpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean())
        .getProcessCpuTime();
  }

  /**
   * Records of {@code topic} read and processed by the application's stream threads (Kafka Streams'
   * topic-level {@code records-consumed-total}, counted by the source node after the record went
   * through all it feeds on the stream thread): the ingestion events alone, not the summaries the
   * topology reads back from its repartition topic. Polled every millisecond, so it does not copy
   * the application's whole metrics map each time (hundreds of metrics: CPU taken from the stream
   * threads, which the raw consumer, counting inline, does not pay): the matching metrics are looked
   * up every 100 ms, in case a task's appear late, and only read in between.
   */
  private static java.util.function.LongSupplier consumed(KafkaStreams streams, String topic) {
    return new java.util.function.LongSupplier() {
      private final Map<MetricName, Metric> live = new java.util.HashMap<>();
      /** Each task's last count: a task closed (its metric gone) keeps what it had processed. */
      private final Map<MetricName, Long> counted = new java.util.HashMap<>();
      private long lookedUp = System.nanoTime() - TimeUnit.SECONDS.toNanos(1);

      @Override
      public long getAsLong() {
        long now = System.nanoTime();
        if (now - lookedUp > TimeUnit.MILLISECONDS.toNanos(100)) {
          live.clear();
          for (Map.Entry<MetricName, ? extends Metric> m : streams.metrics().entrySet()) {
            if (m.getKey().name().equals("records-consumed-total") && m.getKey().group().equals("stream-topic-metrics")
                && topic.equals(m.getKey().tags().get("topic"))) {
              live.put(m.getKey(), m.getValue());
            }
          }
          lookedUp = now;
        }
        long total = 0;
        for (Map.Entry<MetricName, Metric> m : live.entrySet()) {
          counted.put(m.getKey(), ((Number) m.getValue().metricValue()).longValue());
        }
        for (long c : counted.values()) {
          total += c;
        }
        return total;
      }
    };
  }

  /** Sends one uncovered event at a time and waits for its command on the log. */
  private static List<Double> surgeLatencies(String bootstrap, PlannerConfig config, int surges, int tenants)
      throws InterruptedException {
    Map<String, Long> arrived = new ConcurrentHashMap<>();
    RegistryAvroSerde<CommandLogEntry> log = SERDES.serde(CommandLogEntry.class);
    CountDownLatch positioned = new CountDownLatch(1);
    AtomicBoolean done = new AtomicBoolean();
    AtomicReference<KafkaConsumer<String, byte[]>> readerConsumer = new AtomicReference<>();
    Thread reader = new Thread(() -> {
      Properties p = consumerProps(bootstrap);
      try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer())) {
        readerConsumer.set(consumer);
        // no group: assigned and at the end before the first surge is sent
        List<TopicPartition> tps = consumer.partitionsFor(config.commandsTopic(), Duration.ofSeconds(30)).stream()
            .map(i -> new TopicPartition(i.topic(), i.partition())).toList();
        consumer.assign(tps);
        consumer.seekToEnd(tps);
        tps.forEach(consumer::position);
        positioned.countDown();
        while (!done.get()) {
          for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(50))) {
            long at = System.nanoTime();
            if (log.decode(r.topic(), r.value()).getEntry() instanceof ProvisionPartitions) {
              arrived.put(r.key(), at);
            }
          }
        }
      } catch (org.apache.kafka.common.errors.WakeupException e) {
        // done: woken out of its poll (an interrupt instead left the consumer unable to close cleanly)
      }
    }, "surge-reader");
    reader.start();
    if (!positioned.await(60, TimeUnit.SECONDS)) {
      throw new IllegalStateException("the command log reader found no end of " + config.commandsTopic() + " in 60 s");
    }
    List<Double> latencies = new ArrayList<>();
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.LINGER_MS_CONFIG, 0);
    try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer())) {
      Instant now = Instant.now();
      for (int i = 0; i < surges; i++) {
        boolean newTenant = i % 2 == 0;
        String tenant = newTenant ? "surge" + i : "tenant" + (i % tenants);
        Instant at = newTenant ? now : now.plus(Duration.ofDays(60));
        String key = tenant + "/public.usage";
        arrived.remove(key);
        IngestionEvent e = IngestionEvent.newBuilder().setTenant(tenant).setSchemaName("public").setTable("usage")
            .setEventTime(at.truncatedTo(ChronoUnit.MICROS)).build();
        long sent = System.nanoTime();
        producer.send(new ProducerRecord<>(config.ingestionTopic(), tenant, EVENTS.encode(config.ingestionTopic(), e)));
        while (!arrived.containsKey(key)) {
          Thread.onSpinWait();
          if (System.nanoTime() - sent > TimeUnit.SECONDS.toNanos(30)) {
            throw new IllegalStateException("no command for " + key + " within 30 s");
          }
        }
        latencies.add((arrived.get(key) - sent) / 1e6);
      }
    } finally {
      done.set(true);
      KafkaConsumer<String, byte[]> c = readerConsumer.get();
      if (c != null) {
        c.wakeup();
      }
      reader.join(5000);
    }
    return latencies;
  }

  /** The floor: one record produced and read back through a plain topic, one at a time. */
  private static List<Double> roundTrips(String bootstrap, String topic, int count) throws InterruptedException {
    List<Double> latencies = new ArrayList<>();
    Properties pp = new Properties();
    pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    pp.put(ProducerConfig.LINGER_MS_CONFIG, 0);
    Properties cp = consumerProps(bootstrap);
    cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "latest");
    try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(pp, new StringSerializer(), new ByteArraySerializer());
         KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(cp, new StringDeserializer(), new ByteArrayDeserializer())) {
      consumer.subscribe(List.of(topic));
      while (consumer.assignment().isEmpty()) {
        consumer.poll(Duration.ofMillis(50));
      }
      consumer.seekToEnd(consumer.assignment());
      consumer.poll(Duration.ofMillis(50));
      for (int i = 0; i < count; i++) {
        long sent = System.nanoTime();
        producer.send(new ProducerRecord<>(topic, "ping", new byte[64]));
        boolean got = false;
        while (!got) {
          got = !consumer.poll(Duration.ofMillis(50)).isEmpty();
        }
        latencies.add((System.nanoTime() - sent) / 1e6);
      }
    }
    return latencies;
  }

  private static Properties consumerProps(String bootstrap) {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ConsumerConfig.GROUP_ID_CONFIG, "bench-" + UUID.randomUUID());
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 20);
    return p;
  }

  private static double percentile(List<Double> values, int p) {
    List<Double> sorted = new ArrayList<>(values);
    Collections.sort(sorted);
    int index = (int) Math.ceil(p / 100.0 * sorted.size()) - 1;
    return sorted.get(Math.max(0, Math.min(sorted.size() - 1, index)));
  }

  private static int intArg(String[] args, String name, int fallback) {
    int i = Arrays.asList(args).indexOf(name);
    return i >= 0 && i + 1 < args.length ? Integer.parseInt(args[i + 1]) : fallback;
  }
}
