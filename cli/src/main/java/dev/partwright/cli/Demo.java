package dev.partwright.cli;

import dev.partwright.schemas.IngestionEvent;
import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.schemas.PayloadException;
import dev.partwright.schemas.RegistryAvroSerde;
import dev.partwright.schemas.SchemaRegistryException;
import dev.partwright.router.PartitionNotFoundException;
import dev.partwright.streams.Interval;
import dev.partwright.streams.Planner;
import dev.partwright.streams.PlannerConfig;
import dev.partwright.streams.TablePolicy;
import java.io.PrintStream;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.TreeMap;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The walking skeleton, end to end: a burst of ingestion events for three tenants over the next
 * {@code days} days goes through the demand topology, the command store and the worker; the demo
 * then waits until PostgreSQL holds contiguous daily partitions from today to today + days,
 * inserts the events' rows through the parent and reports where they landed.
 */
final class Demo {

  static final String SCHEMA = "public";
  static final String TABLE = "events";
  static final String DEFAULT_PARTITION = "events_default";
  static final List<String> TENANTS = List.of("acme", "globex", "initech");

  /** What the demo observed; printed as text or JSON. */
  record Report(
      String kafka,
      String postgres,
      String schemaRegistry,
      String runId,
      int eventsSent,
      int partitionsExpected,
      int partitionsCreatedThisRun,
      int partitionsTotal,
      long firstEventToReadyMillis,
      long firstEventToRouterMillis,
      int rowsInserted,
      Map<String, Integer> rowsPerPartition,
      int rowsInDefault,
      int routerAgreed,
      int routerDisagreed,
      boolean contiguous,
      boolean indexOnEveryPartition,
      List<String> wireFormatProblems,
      long wallMillis) {

    boolean ok() {
      return rowsInDefault == 0 && routerDisagreed == 0 && contiguous && indexOnEveryPartition
          && wireFormatProblems.isEmpty();
    }
  }

  private final String bootstrapServers;
  private final PartwrightSerdes serdes;
  private final Pipeline.Database db;
  private final int events;
  private final int days;
  private final Duration timeout;
  private final PrintStream progress;

  Demo(String bootstrapServers, PartwrightSerdes serdes, Pipeline.Database db, int events, int days, Duration timeout,
      PrintStream progress) {
    this.bootstrapServers = bootstrapServers;
    this.serdes = serdes;
    this.db = db;
    this.events = events;
    this.days = days;
    this.timeout = timeout;
    this.progress = progress;
  }

  Report run(Path stateDir) throws Exception {
    Instant started = Instant.now();
    String runId = UUID.randomUUID().toString().substring(0, 8);
    TablePolicy policy = TablePolicy.dailyShared(SCHEMA, TABLE);
    PlannerConfig planner = PlannerConfig.defaults(Map.of(policy.qualifiedName(), policy)).withBufferDays(days);

    try (Connection c = connect()) {
      createDemoTable(c);
      int before = partitionNames(c).size();
      progress.println("table public.events ready (" + before + " partitions before this run)");

      try (Pipeline pipeline = Pipeline.start(bootstrapServers, serdes, db, planner, "partwright-demand-demo",
          "demo", stateDir)) {
        pipeline.awaitReady(timeout);
        progress.println("pipeline running: demand topology, provisioning worker, router");

        Instant now = Instant.now();
        Instant today = Interval.DAY.floor(now, ZoneOffset.UTC);
        List<IngestionEvent> sent = sendEvents(now, planner.ingestionTopic(), runId);
        Instant firstEvent = Instant.now();
        progress.println("sent " + sent.size() + " ingestion events for " + TENANTS + " over " + days + " days");

        List<String> expected = new ArrayList<>();
        for (Instant d = today; !d.isAfter(today.plus(Duration.ofDays(days))); d = Interval.DAY.next(d, ZoneOffset.UTC)) {
          expected.add(Planner.partitionName(policy, d));
        }
        long readyMillis = awaitPartitions(c, expected, firstEvent);
        progress.println("PostgreSQL holds all " + expected.size() + " daily partitions " + expected.get(0) + " .. "
            + expected.get(expected.size() - 1) + " (" + readyMillis + " ms after the first event)");
        long routerMillis = awaitRouter(pipeline, expected.size(), firstEvent);

        Map<String, Integer> perPartition = new TreeMap<>();
        int[] agreement = insertRows(c, sent, runId, pipeline, perPartition);
        int inDefault = perPartition.getOrDefault(SCHEMA + "." + DEFAULT_PARTITION, 0);
        List<String> all = partitionNames(c);
        boolean contiguous = contiguous(c, expected);
        boolean indexed = indexOnEvery(c, expected);
        List<String> wireFormat = wireFormatProblems(pipeline.store.commandsTopic(), pipeline.store.boundariesTopic());
        return new Report(bootstrapServers, redact(db.jdbcUrl()), serdes.registry().config().displayUrl(), runId, sent.size(), expected.size(),
            Math.max(0, all.size() - before), all.size(), readyMillis, routerMillis, sent.size(),
            perPartition, inDefault, agreement[0], agreement[1], contiguous, indexed, wireFormat,
            Duration.between(started, Instant.now()).toMillis());
      }
    }
  }

  private Connection connect() throws SQLException {
    Properties p = new Properties();
    if (db.user() != null) {
      p.setProperty("user", db.user());
    }
    if (db.password() != null) {
      p.setProperty("password", db.password());
    }
    Connection c = DriverManager.getConnection(db.jdbcUrl(), p);
    try (Statement s = c.createStatement()) {
      s.execute("SET TimeZone = 'UTC'");
    }
    return c;
  }

  static void createDemoTable(Connection c) throws SQLException {
    try (Statement s = c.createStatement()) {
      s.execute("""
          CREATE TABLE IF NOT EXISTS public.events (
            tenant_id  text        NOT NULL,
            created_at timestamptz NOT NULL,
            payload    jsonb
          ) PARTITION BY RANGE (created_at)""");
      s.execute("CREATE INDEX IF NOT EXISTS events_created_at_idx ON public.events (created_at)");
      s.execute("CREATE TABLE IF NOT EXISTS public.events_default PARTITION OF public.events DEFAULT");
    }
  }

  private List<IngestionEvent> sendEvents(Instant now, String topic, String runId) {
    Random random = new Random(42);
    RegistryAvroSerde<IngestionEvent> serde = serdes.serde(IngestionEvent.class);
    List<IngestionEvent> sent = new ArrayList<>();
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
    try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(p, new StringSerializer(),
        new org.apache.kafka.common.serialization.ByteArraySerializer())) {
      for (int i = 0; i < events; i++) {
        String tenant = TENANTS.get(i % TENANTS.size());
        // first event now, last at the far end of the window, the rest spread uniformly between
        long offsetMillis = i == 0 ? 0 : i == events - 1 ? Duration.ofDays(days).toMillis()
            : (long) (random.nextDouble() * Duration.ofDays(days).toMillis());
        IngestionEvent e = IngestionEvent.newBuilder()
            .setTenant(tenant)
            .setSchemaName(SCHEMA)
            .setTable(TABLE)
            .setEventTime(now.plusMillis(offsetMillis).truncatedTo(java.time.temporal.ChronoUnit.MICROS))
            .setBytes(256L)
            .build();
        producer.send(new ProducerRecord<>(topic, tenant, serde.encode(topic, e)));
        sent.add(e);
      }
      producer.flush();
    }
    return sent;
  }

  private long awaitPartitions(Connection c, List<String> expected, Instant since) throws Exception {
    Instant deadline = Instant.now().plus(timeout);
    while (true) {
      List<String> present = partitionNames(c);
      if (present.containsAll(expected)) {
        return Duration.between(since, Instant.now()).toMillis();
      }
      if (Instant.now().isAfter(deadline)) {
        List<String> missing = new ArrayList<>(expected);
        missing.removeAll(present);
        throw new IllegalStateException("after " + timeout.toSeconds() + " s PostgreSQL still lacks " + missing.size()
            + " partitions, first " + missing.get(0) + "; is the worker running? (see its log above)");
      }
      Thread.sleep(25); // the demo observes the database from outside, as an operator would
    }
  }

  private long awaitRouter(Pipeline pipeline, int partitions, Instant since) throws InterruptedException {
    Instant deadline = Instant.now().plus(timeout);
    while (pipeline.router.partitionCount(SCHEMA + "." + TABLE) < partitions) {
      if (Instant.now().isAfter(deadline)) {
        throw new IllegalStateException("router saw only " + pipeline.router.partitionCount(SCHEMA + "." + TABLE)
            + " of " + partitions + " partitions within " + timeout.toSeconds() + " s");
      }
      Thread.sleep(10);
    }
    return Duration.between(since, Instant.now()).toMillis();
  }

  /**
   * The last record of every partition of each topic must be in the Confluent wire format (magic
   * byte 0) with a schema id the registry knows; returns what is not. The last, not the first: on
   * existing servers the topics may hold records of older versions.
   */
  private List<String> wireFormatProblems(String... topics) {
    List<String> problems = new ArrayList<>();
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer())) {
      for (String topic : topics) {
        List<TopicPartition> parts = c.partitionsFor(topic, Duration.ofSeconds(30)).stream()
            .map(i -> new TopicPartition(topic, i.partition())).toList();
        Map<TopicPartition, Long> begin = c.beginningOffsets(parts);
        Map<TopicPartition, Long> end = c.endOffsets(parts);
        Map<TopicPartition, ConsumerRecord<String, byte[]>> last = new LinkedHashMap<>();
        c.assign(parts);
        for (TopicPartition tp : parts) {
          c.seek(tp, Math.max(begin.get(tp), end.get(tp) - 20)); // a few back: transaction markers take offsets
        }
        Instant deadline = Instant.now().plus(Duration.ofSeconds(30));
        while (parts.stream().anyMatch(tp -> c.position(tp) < end.get(tp)) && Instant.now().isBefore(deadline)) {
          for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(100))) {
            last.put(new TopicPartition(r.topic(), r.partition()), r);
          }
        }
        if (last.isEmpty()) {
          problems.add(topic + " holds no record");
        }
        for (ConsumerRecord<String, byte[]> r : last.values()) {
          String where = r.topic() + "-" + r.partition() + "@" + r.offset();
          try {
            int id = RegistryAvroSerde.schemaIdOf(r.topic(), r.value());
            serdes.registry().schemaById(id);
          } catch (PayloadException | SchemaRegistryException e) {
            problems.add(where + ": " + e.getMessage());
          }
        }
      }
    }
    return problems;
  }

  /** Inserts one row per event through the parent; returns {agreed, disagreed} router answers. */
  private int[] insertRows(Connection c, List<IngestionEvent> sent, String runId, Pipeline pipeline,
      Map<String, Integer> perPartition) throws SQLException {
    int agreed = 0;
    int disagreed = 0;
    String sql = """
        WITH ins AS (INSERT INTO public.events (tenant_id, created_at, payload) VALUES (?, ?, ?::jsonb) RETURNING tableoid)
        SELECT n.nspname || '.' || cl.relname FROM ins JOIN pg_class cl ON cl.oid = ins.tableoid
          JOIN pg_namespace n ON n.oid = cl.relnamespace""";
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      for (IngestionEvent e : sent) {
        ps.setString(1, e.getTenant());
        ps.setObject(2, e.getEventTime().atOffset(ZoneOffset.UTC));
        ps.setString(3, "{\"run\":\"" + runId + "\"}");
        try (ResultSet rs = ps.executeQuery()) {
          rs.next();
          String actual = rs.getString(1);
          perPartition.merge(actual, 1, Integer::sum);
          String routed;
          try {
            routed = pipeline.router.resolve(SCHEMA + "." + TABLE, e.getEventTime());
          } catch (PartitionNotFoundException notFound) {
            routed = null;
          }
          if (actual.equals(routed)) {
            agreed++;
          } else {
            disagreed++;
            progress.println("router disagrees for " + e.getEventTime() + ": router " + routed + ", PostgreSQL " + actual);
          }
        }
      }
    }
    return new int[] {agreed, disagreed};
  }

  static List<String> partitionNames(Connection c) throws SQLException {
    List<String> names = new ArrayList<>();
    try (Statement s = c.createStatement();
         ResultSet rs = s.executeQuery("""
             SELECT cl.relname FROM pg_inherits i JOIN pg_class cl ON cl.oid = i.inhrelid
              WHERE i.inhparent = 'public.events'::regclass ORDER BY 1""")) {
      while (rs.next()) {
        names.add(rs.getString(1));
      }
    }
    return names;
  }

  /** Each expected partition's upper bound is the next one's lower bound (no gap, no overlap). */
  private static boolean contiguous(Connection c, List<String> expected) throws SQLException {
    Map<String, String[]> bounds = new LinkedHashMap<>();
    try (PreparedStatement ps = c.prepareStatement("""
        SELECT cl.relname, pg_get_expr(cl.relpartbound, cl.oid)
          FROM pg_inherits i JOIN pg_class cl ON cl.oid = i.inhrelid
         WHERE i.inhparent = 'public.events'::regclass""");
         ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        String expr = rs.getString(2);
        int from = expr.indexOf("FROM ('");
        int to = expr.indexOf("TO ('");
        if (from >= 0 && to >= 0) {
          bounds.put(rs.getString(1), new String[] {
              expr.substring(from + 7, expr.indexOf('\'', from + 7)), expr.substring(to + 5, expr.indexOf('\'', to + 5))});
        }
      }
    }
    for (int i = 1; i < expected.size(); i++) {
      String[] prev = bounds.get(expected.get(i - 1));
      String[] cur = bounds.get(expected.get(i));
      if (prev == null || cur == null || !prev[1].equals(cur[0])) {
        return false;
      }
    }
    return true;
  }

  private static boolean indexOnEvery(Connection c, List<String> expected) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement("""
        SELECT count(*) FROM pg_index ci
          JOIN pg_inherits ih ON ih.inhrelid = ci.indexrelid
         WHERE ih.inhparent = 'public.events_created_at_idx'::regclass
           AND ci.indisvalid AND ci.indisready
           AND ci.indrelid IN (SELECT cl.oid FROM pg_class cl
                                WHERE cl.relnamespace = 'public'::regnamespace AND cl.relname = ANY (?))""")) {
      ps.setArray(1, c.createArrayOf("text", expected.toArray()));
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getInt(1) == expected.size();
      }
    }
  }

  static String redact(String jdbcUrl) {
    return jdbcUrl.replaceAll("password=[^&]*", "password=***");
  }
}
