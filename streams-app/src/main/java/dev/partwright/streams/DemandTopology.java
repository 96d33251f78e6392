package dev.partwright.streams;

import dev.partwright.schemas.CapacityAlert;
import dev.partwright.schemas.CommandLogEntry;
import dev.partwright.schemas.IngestionEvent;
import dev.partwright.schemas.ManagedTablePolicy;
import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.schemas.PayloadException;
import dev.partwright.schemas.RegistryAvroSerde;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Metrics;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Arrays;
import java.util.Optional;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Utils;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.LogAndContinueExceptionHandler;
import org.apache.kafka.streams.kstream.Branched;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.Stores;

/**
 * Ingestion events in; {@code ProvisionPartitions} commands, {@code Rejected} outcomes and capacity
 * alerts out. Events are keyed by aggregate and summarized per aggregate (events, rows, bytes,
 * earliest and latest event time) where they are read; the summaries are brought to the task that
 * owns the aggregate — through the repartition topic only when they are not already there — so one
 * task owns one aggregate's windows, forecast, rate limit and coverage; the planner decides, per
 * summary, what the aggregate lacks. An event that may need new partitions is not held: it goes on
 * as its own summary the moment it is read (see {@link AggregateKeyer}); the result
 * goes to the command store keyed by aggregate, alerts to the alerts topic. Policies come from the
 * compacted policies topic (a global store: every instance knows every table) with the config's
 * static policies as fallback. Unreadable and unplannable events go to the dead-letter topic with
 * the reason (Kafka Streams' own DLQ support, KIP-1034: headers {@code __streams.errors.exception}
 * / {@code __streams.errors.message}); the topology never stops on bad input.
 */
public final class DemandTopology {

  /** Per-aggregate coverage already commanded (changelogged, restorable). */
  public static final String COVERAGE_STORE = "coverage";
  /** Per-aggregate rate-limit tokens, buffer depth, last rejection. */
  public static final String STATE_STORE = "planner-state";
  /** Per-aggregate demand held back by the rate limit. */
  public static final String DEFERRED_STORE = "deferred-demand";
  /** Tumbling velocity windows per aggregate: events, rows, bytes, horizon. */
  public static final String VELOCITY_STORE = "demand-velocity";
  /** Tumbling daily windows per aggregate: the forecast's input. */
  public static final String DAILY_STORE = "demand-daily";
  /** Global store of the policies topic. */
  public static final String POLICIES_STORE = "policies";

  private DemandTopology() {}

  /** The topology, with meters on Micrometer's global registry. */
  public static Topology build(StreamsBuilder builder, PlannerConfig config, PartwrightSerdes serdes) {
    return build(builder, config, serdes, Metrics.globalRegistry);
  }

  /**
   * The topology. {@code serdes} (the schema registry's) are used on every topic that leaves the
   * application or is shared with it: ingestion, commands, alerts, policies. The repartition topic
   * carries demand summaries, written and read only here, in their own fixed 40-byte layout.
   */
  public static Topology build(StreamsBuilder builder, PlannerConfig config, PartwrightSerdes serdes,
      MeterRegistry meters) {
    PolicyBook policyBook = new PolicyBook(config.policies());
    PlannerMetrics metrics = new PlannerMetrics(meters);
    addStores(builder, config, serdes, policyBook);

    // Each aggregate is owned by the task of partition hash(routing key): its tenant, or for a table
    // shared by all tenants the aggregate id. Events already in that partition (produced with the
    // tenant as key, default partitioner) stay local; the others cross the repartition topic.
    // Per event, only the source and the keyer run: it decodes, validates (bad events fail here, so
    // the dead-letter topic gets the event itself) and adds the event to its aggregate's summary.
    // An event that may need a range the planner has not been told about yet (a never-seen
    // aggregate, an event time outside what was already sent) goes on at once, with what was held:
    // the surge path. Everything else goes on as one summary per aggregate and summary period.
    KStream<Routed, DemandSummary> keyed = builder
        .stream(config.ingestionTopic(), Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()).withName("ingestion-events"))
        .process(() -> new AggregateKeyer(config, serdes.serde(IngestionEvent.class), policyBook), Named.as("key-by-aggregate"));
    Map<String, KStream<Routed, DemandSummary>> routes = keyed.split(Named.as("route-"))
        .branch((routed, summary) -> routed.local(), Branched.as("local"))
        .defaultBranch(Branched.as("remote"));
    KStream<String, DemandSummary> local = routes.get("route-local")
        .selectKey((routed, summary) -> routed.aggregate(), Named.as("local-aggregate"));
    KStream<String, DemandSummary> moved = routes.get("route-remote")
        .selectKey((routed, summary) -> routed.aggregate(), Named.as("remote-aggregate"))
        // a new name for a new record format: an upgraded instance never reads an old instance's events as summaries
        .repartition(Repartitioned.with(Serdes.String(), DemandSummary.serde()).withName("summaries-by-aggregate")
            .withStreamPartitioner(DemandTopology::ownerOf));
    RegistryAvroSerde<CommandLogEntry> commands = serdes.serde(CommandLogEntry.class);
    RegistryAvroSerde<CapacityAlert> alerts = serdes.serde(CapacityAlert.class);
    Runnable prepareOutputs = () -> {
      commands.prepare(config.commandsTopic());
      alerts.prepare(config.alertsTopic());
    };
    KStream<String, SpecificRecord> planned = local.merge(moved, Named.as("owned-summaries"))
        .process(() -> new PlanningProcessor(config, policyBook, metrics, prepareOutputs), Named.as("planner"),
            COVERAGE_STORE, STATE_STORE, DEFERRED_STORE, VELOCITY_STORE, DAILY_STORE);

    Map<String, KStream<String, SpecificRecord>> outputs = planned.split(Named.as("planned-"))
        .branch((aggregate, value) -> value instanceof CapacityAlert, Branched.as("alerts"))
        .defaultBranch(Branched.as("log"));
    outputs.get("planned-log")
        .mapValues(value -> (CommandLogEntry) value, Named.as("as-log-entry"))
        .to(config.commandsTopic(), Produced.with(Serdes.String(), commands).withName("commands"));
    outputs.get("planned-alerts")
        .mapValues(value -> (CapacityAlert) value, Named.as("as-alert"))
        .to(config.alertsTopic(), Produced.with(Serdes.String(), alerts).withName("alerts"));
    return builder.build();
  }

  /**
   * The state stores. Their serdes stay Partwright's own compact encodings: the stores and their
   * changelogs are private to this application, nobody else reads them.
   */
  private static void addStores(StreamsBuilder builder, PlannerConfig config, PartwrightSerdes serdes,
      PolicyBook policyBook) {
    // cached like the others: the planner reads coverage through its own object cache, and a
    // command goes out by forward() the moment it is decided, not when the store cache flushes
    builder.addStateStore(Stores.keyValueStoreBuilder(
        Stores.persistentKeyValueStore(COVERAGE_STORE), Serdes.String(), Coverage.serde()).withCachingEnabled());
    builder.addStateStore(Stores.keyValueStoreBuilder(
        Stores.persistentKeyValueStore(STATE_STORE), Serdes.String(), PlannerState.serde()).withCachingEnabled());
    builder.addStateStore(Stores.keyValueStoreBuilder(
        Stores.persistentKeyValueStore(DEFERRED_STORE), Serdes.String(), Coverage.serde()));
    // Written on every event: the cache turns one changelog record per event into one per aggregate
    // and commit, and holds nothing back from the output (commands are forwarded, not cache-flushed).
    Duration velocity = config.windows().velocity();
    Duration velocityRetention = max(Duration.ofHours(1), velocity.multipliedBy(config.windows().velocityWindows() * 2L));
    builder.addStateStore(Stores.windowStoreBuilder(
        Stores.persistentWindowStore(VELOCITY_STORE, velocityRetention, velocity, false),
        Serdes.String(), Demand.serde()).withCachingEnabled());
    builder.addStateStore(Stores.windowStoreBuilder(
        Stores.persistentWindowStore(DAILY_STORE, Duration.ofDays(config.windows().historyDays() + 2L), Duration.ofDays(1), false),
        Serdes.String(), Demand.serde()).withCachingEnabled());
    if (config.policiesTopic() != null) {
      RegistryAvroSerde<ManagedTablePolicy> policies = serdes.serde(ManagedTablePolicy.class);
      builder.addGlobalStore(
          Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(POLICIES_STORE), Serdes.String(), policies)
              .withLoggingDisabled(),
          config.policiesTopic(),
          Consumed.with(Serdes.String(), policies).withName("policies"),
          () -> policyBook.updater(POLICIES_STORE));
    }
  }

  /**
   * Streams settings tuned for reaction time: the planner forwards each command the moment it
   * decides it (no cache holds it, no transaction hides it: at-least-once, producer linger 0), so
   * a command is on the log a produce round trip after its event was read, whatever the commit
   * interval. The commit interval (1 s) then only bounds how much is re-planned after a crash —
   * idempotently: commands carry deterministic keys — and how often stores are flushed; at 100 ms
   * the RocksDB flushes cost more than the planning. DLQ on bad input, never for a registry outage
   * ({@link DeadLetterHandler}).
   */
  public static Properties streamsProperties(String bootstrapServers, String applicationId, PlannerConfig config) {
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, applicationId);
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);
    p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 1000);
    p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 10 * 1024 * 1024L);
    p.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), 0);
    p.put(StreamsConfig.consumerPrefix("fetch.max.wait.ms"), 20);
    // bigger polls under backlog: Kafka Streams' per-poll work (punctuation, commit checks) is paid less often
    p.put(StreamsConfig.consumerPrefix("max.poll.records"), 5000);
    p.put(StreamsConfig.BUFFERED_RECORDS_PER_PARTITION_CONFIG, 5000);
    // nothing here joins: the planner needs no ordering between the ingestion and the repartition
    // partition of a task, so a task never waits for an empty one (and skips that check per record)
    p.put(StreamsConfig.MAX_TASK_IDLE_MS_CONFIG, StreamsConfig.MAX_TASK_IDLE_MS_DISABLED);
    p.put(StreamsConfig.DESERIALIZATION_EXCEPTION_HANDLER_CLASS_CONFIG, LogAndContinueExceptionHandler.class);
    p.put(StreamsConfig.PROCESSING_EXCEPTION_HANDLER_CLASS_CONFIG, DeadLetterHandler.class);
    p.put(StreamsConfig.PROCESSING_EXCEPTION_HANDLER_GLOBAL_ENABLED_CONFIG, true);
    p.put(StreamsConfig.ERRORS_DEAD_LETTER_QUEUE_TOPIC_NAME_CONFIG, config.deadLetterTopic());
    return p;
  }

  /**
   * Creates the topics the topology reads and writes besides the command store's: the ingestion
   * topic ({@code partitions}), the compacted policies topic (1 partition: it is small and read
   * whole by every instance), the alerts and dead-letter topics. Existing topics are left as they are.
   */
  public static void ensureTopics(Admin admin, PlannerConfig config, int partitions, short replicationFactor) {
    List<NewTopic> wanted = new ArrayList<>();
    wanted.add(new NewTopic(config.ingestionTopic(), partitions, replicationFactor));
    wanted.add(new NewTopic(config.alertsTopic(), 1, replicationFactor));
    wanted.add(new NewTopic(config.deadLetterTopic(), 1, replicationFactor));
    if (config.policiesTopic() != null) {
      wanted.add(new NewTopic(config.policiesTopic(), 1, replicationFactor)
          .configs(Map.of(TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT)));
    }
    try {
      Set<String> existing = admin.listTopics().names().get();
      List<NewTopic> missing = wanted.stream().filter(t -> !existing.contains(t.name())).toList();
      if (!missing.isEmpty()) {
        admin.createTopics(missing).all().get();
      }
    } catch (ExecutionException e) {
      if (!(e.getCause() instanceof TopicExistsException)) {
        throw new IllegalStateException("cannot create the demand topology's topics: " + e.getCause(), e.getCause());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while creating topics", e);
    }
  }

  /** An event's aggregate, and whether the event already sits in the partition that owns it. */
  record Routed(String aggregate, boolean local) {}

  /**
   * The routing key of an aggregate: its tenant, so that events produced with the tenant as key
   * are already where they belong; for a table shared by all tenants, the aggregate id itself.
   */
  static byte[] routingKey(String aggregate) {
    int slash = aggregate.indexOf('/');
    String tenant = aggregate.substring(0, slash);
    return (tenant.equals(dev.partwright.schemas.AggregateId.SHARED) ? aggregate : tenant).getBytes(StandardCharsets.UTF_8);
  }

  /** The partition that owns an aggregate: what Kafka's default partitioner does with its routing key. */
  static Optional<Set<Integer>> ownerOf(String topic, String aggregate, DemandSummary value, int partitions) {
    return Optional.of(Set.of(Utils.toPositive(Utils.murmur2(routingKey(aggregate))) % partitions));
  }

  /**
   * Keys each event by its aggregate and summarizes it. The aggregate depends on the table's policy
   * (shared or tenant-scoped), hence a processor: it reads the global policies store. Events of
   * unmanaged tables and bogus timestamps fail here, per event, and go to the dead-letter topic.
   *
   * <p>Per aggregate it remembers the event-time range it already sent on, widened to what the
   * planner then wants covered at the minimum buffer; the planner covers at least that (its
   * buffer is never below the minimum) or has deferred or rejected it. An event inside that range
   * needs nothing new: it is added to the held summary, which goes on every {@link #SUMMARIZE_EVERY}
   * or when its velocity window ends. An event outside it — a never-seen aggregate, a surge, a late
   * event — goes on at once with what was held, so it reaches the planner within the same poll.
   * Held counts lost in a crash are counts only (they feed estimates), never a needed command.
   */
  static final class AggregateKeyer implements Processor<byte[], byte[], Routed, DemandSummary> {
    /** Held summaries go on this often: bounds how stale velocity and forecast inputs are. */
    static final Duration SUMMARIZE_EVERY = Duration.ofSeconds(1);
    /** Aggregates remembered per task; beyond, all is flushed and forgotten (first events are sent again). */
    private static final int MAX_AGGREGATES = 100_000;
    private static final long DAY_SECONDS = Duration.ofDays(1).toSeconds();

    private final RegistryAvroSerde<IngestionEvent> events;
    private final PlannerConfig config;
    private final PolicyBook policyBook;
    private final long windowMs;
    /** Per policy instance (a policy update brings a new one, and fresh ranges), per tenant ("" for shared tables). */
    private final Map<TablePolicy, Map<String, Held>> held = new java.util.IdentityHashMap<>();
    private int aggregates;
    /** The last event's policy and its tenants: consecutive events of one table skip the policy map. */
    private TablePolicy lastPolicy;
    private Map<String, Held> lastByTenant;
    private ProcessorContext<Routed, DemandSummary> context;
    private PolicyBook.View policies;

    AggregateKeyer(PlannerConfig config, RegistryAvroSerde<IngestionEvent> events, PolicyBook policyBook) {
      this.config = config;
      this.events = events;
      this.policyBook = policyBook;
      this.windowMs = config.windows().velocity().toMillis();
    }

    /**
     * One aggregate as this task sees it: the range already sent on, and the summary held since.
     * Times in epoch microseconds, not {@code Instant}s: one object to touch per event, not five.
     */
    private static final class Held {
      final String aggregate;
      final byte[] routingKey;
      /** {@code [sentFrom, sentTo)}; empty until the first event went on. */
      long sentFrom = Long.MAX_VALUE;
      long sentTo = Long.MIN_VALUE;
      long events;
      long rows;
      long bytes;
      long earliest;
      long latest;
      long windowStart;
      long timestamp;
      boolean local;

      Held(String aggregate) {
        this.aggregate = aggregate;
        this.routingKey = routingKey(aggregate);
      }
    }

    @Override
    public void init(ProcessorContext<Routed, DemandSummary> context) {
      this.context = context;
      policies = policyBook.view(config.policiesTopic() == null ? null : context.getStateStore(POLICIES_STORE));
      context.schedule(SUMMARIZE_EVERY, PunctuationType.WALL_CLOCK_TIME, now -> sendAll());
    }

    @Override
    public void process(Record<byte[], byte[]> record) {
      IngestionEvent event;
      try {
        event = events.decode(config.ingestionTopic(), record.value());
      } catch (PayloadException e) {
        // the dead letter's reason names the record; the deserializer alone knows only the topic
        throw context.recordMetadata().map(m -> e.at(m.partition(), m.offset())).orElse(e);
      }
      if (event == null) {
        throw new UnplannableEventException("empty ingestion event (null payload)");
      }
      TablePolicy policy = policyOf(event, policies);
      long nowMs = context.currentSystemTimeMs();
      Instant eventTime = event.getEventTime();
      checkEventTime(event, eventTime, nowMs);
      Held h = heldOf(event, policy);
      // same key bytes, same partitioner, same partition count (Kafka Streams sizes the repartition
      // topic like the ingestion topic): the event is already in its owner's partition
      boolean local = record.key() != null && Arrays.equals(record.key(), h.routingKey);
      long timestamp = record.timestamp();
      long windowStart = timestamp - Math.floorMod(timestamp, windowMs);
      if (h.events > 0 && (h.windowStart != windowStart || h.local != local)) {
        send(h); // one summary, one window, one route
      }
      long rows = event.getRowCount() == null ? 1 : Math.max(1, event.getRowCount());
      long bytes = event.getBytes() == null ? 0 : Math.max(0, event.getBytes());
      long micros = Coverage.micros(eventTime);
      if (h.events == 0) {
        h.earliest = micros;
        h.latest = micros;
        h.windowStart = windowStart;
        h.local = local;
      } else if (micros < h.earliest) {
        h.earliest = micros;
      } else if (micros > h.latest) {
        h.latest = micros;
      }
      h.events++;
      h.rows += rows;
      h.bytes += bytes;
      h.timestamp = Math.max(h.timestamp, timestamp);
      if (micros < h.sentFrom || micros >= h.sentTo) {
        Coverage wanted = Planner.desired(event, policy, config.bufferOf(policy).minDays(), Instant.ofEpochMilli(nowMs));
        h.sentFrom = Math.min(h.sentFrom, Coverage.micros(wanted.from()));
        h.sentTo = Math.max(h.sentTo, Coverage.micros(wanted.to()));
        send(h); // the surge path: no waiting for the period
      }
    }

    private Held heldOf(IngestionEvent event, TablePolicy policy) {
      Map<String, Held> byTenant = policy == lastPolicy ? lastByTenant : held.get(policy);
      if (byTenant == null) {
        byTenant = new HashMap<>();
        held.put(policy, byTenant);
      }
      lastPolicy = policy;
      lastByTenant = byTenant;
      String tenant = policy.tenantScoped() ? event.getTenant() : "";
      Held h = byTenant.get(tenant);
      if (h == null) {
        if (aggregates >= MAX_AGGREGATES) {
          sendAll();
          held.clear();
          aggregates = 0;
          byTenant = new HashMap<>();
          held.put(policy, byTenant);
          lastByTenant = byTenant;
        }
        h = new Held(Planner.aggregateOf(event, policy).toString());
        byTenant.put(tenant, h);
        aggregates++;
      }
      return h;
    }

    /**
     * {@link Planner#checkEventTime} at a second's resolution first: allocation-free for the
     * events well inside the caps, exact (and with the facts) for the rest.
     */
    private void checkEventTime(IngestionEvent event, Instant eventTime, long nowMs) {
      long t = eventTime.getEpochSecond();
      long now = Math.floorDiv(nowMs, 1000);
      if (t >= now + config.maxAheadDays() * DAY_SECONDS - 2 || t <= now - config.maxBehindDays() * DAY_SECONDS + 2) {
        Planner.checkEventTime(event, config, Instant.ofEpochMilli(nowMs));
      }
    }

    private void send(Held h) {
      context.forward(new Record<>(new Routed(h.aggregate, h.local),
          new DemandSummary(h.events, h.rows, h.bytes, Coverage.ofMicros(h.earliest), Coverage.ofMicros(h.latest)),
          h.timestamp));
      h.events = 0;
      h.rows = 0;
      h.bytes = 0;
      h.timestamp = 0;
    }

    private void sendAll() {
      for (Map<String, Held> byTenant : held.values()) {
        for (Held h : byTenant.values()) {
          if (h.events > 0) {
            send(h);
          }
        }
      }
    }
  }

  static TablePolicy policyOf(IngestionEvent event, PolicyBook.View policies) {
    TablePolicy policy = policies.of(event.getSchemaName(), event.getTable());
    if (policy == null) {
      String table = event.getSchemaName() + "." + event.getTable();
      throw new UnplannableEventException("table " + table + " is not managed by partwright (tenant "
          + event.getTenant() + "); register it with 'partwright manage'");
    }
    return policy;
  }

  private static Duration max(Duration a, Duration b) {
    return a.compareTo(b) >= 0 ? a : b;
  }
}
