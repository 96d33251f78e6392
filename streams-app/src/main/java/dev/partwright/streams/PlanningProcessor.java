package dev.partwright.streams;

import dev.partwright.schemas.AggregateId;
import dev.partwright.schemas.CapacityAlert;
import dev.partwright.schemas.CommandLogEntry;
import dev.partwright.schemas.ManagedTablePolicy;
import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.Rejected;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.WindowStore;
import org.apache.kafka.streams.state.WindowStoreIterator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One task's planner, over the aggregates its partition owns. Per demand summary (one or many
 * events of one aggregate, see {@link DemandTopology.AggregateKeyer}): count it in the tumbling
 * windows, refresh the aggregate's buffer depth from the forecast when a day has passed, plan, and
 * — if the plan needs partitions — pass it through the rate limit and the quotas before it becomes
 * a command. Two wall-clock punctuations: deferred demand is flushed when tokens are back, and
 * every aggregate's runway is kept at now + buffer as time passes, events or not.
 *
 * <p>Emits {@link CommandLogEntry} (a command, or a {@code Rejected} outcome) and {@link CapacityAlert}.
 */
final class PlanningProcessor implements Processor<String, DemandSummary, String, SpecificRecord> {

  private static final Logger LOG = LoggerFactory.getLogger(PlanningProcessor.class);
  private static final long DAY_MS = Duration.ofDays(1).toMillis();

  private final PlannerConfig config;
  private final PolicyBook policyBook;
  private final PlannerMetrics metrics;
  /** Registers the output topics' schemas: see {@link #init}. */
  private final Runnable prepareOutputs;
  private ProcessorContext<String, SpecificRecord> context;
  private KeyValueStore<String, Coverage> coverage;
  private KeyValueStore<String, PlannerState> states;
  private KeyValueStore<String, Coverage> deferred;
  private WindowStore<String, Demand> velocity;
  private WindowStore<String, Demand> daily;
  private PolicyBook.View policies;
  /**
   * Read-through copies of the stores' values, so the per-summary path deserializes nothing; every
   * write goes to the store too (which stays the truth: changelogged, restored on failover).
   */
  private final Map<String, PlannerState> stateCache = lru(CACHED_AGGREGATES);
  private final Map<String, Optional<Coverage>> coverageCache = lru(CACHED_AGGREGATES);
  /**
   * Counts of the open velocity window and day per aggregate, written to the window stores when the
   * window rolls over, before they are read, and every {@link #FLUSH_EVERY}: an aggregate read by
   * several tasks sends a summary from each, and a store read and write per summary would cost more
   * than planning it. A crash loses at most that second of counts, which only feed estimates.
   */
  private final Map<String, Open> open = new HashMap<>();

  private static final int CACHED_AGGREGATES = 100_000;
  private static final Duration FLUSH_EVERY = Duration.ofSeconds(1);

  /** The open windows of one aggregate. */
  private static final class Open {
    long velocityStart;
    Demand velocity;
    long dayStart;
    Demand day;
  }

  PlanningProcessor(PlannerConfig config, PolicyBook policyBook, PlannerMetrics metrics, Runnable prepareOutputs) {
    this.config = config;
    this.policyBook = policyBook;
    this.metrics = metrics;
    this.prepareOutputs = prepareOutputs;
  }

  @Override
  public void init(ProcessorContext<String, SpecificRecord> context) {
    this.context = context;
    coverage = context.getStateStore(DemandTopology.COVERAGE_STORE);
    states = context.getStateStore(DemandTopology.STATE_STORE);
    deferred = context.getStateStore(DemandTopology.DEFERRED_STORE);
    velocity = context.getStateStore(DemandTopology.VELOCITY_STORE);
    daily = context.getStateStore(DemandTopology.DAILY_STORE);
    KeyValueStore<String, ManagedTablePolicy> global =
        config.policiesTopic() == null ? null : context.getStateStore(DemandTopology.POLICIES_STORE);
    policies = policyBook.view(global);
    context.schedule(config.rateLimit().flushEvery(), PunctuationType.WALL_CLOCK_TIME, this::flushDeferred);
    context.schedule(config.sweepEvery(), PunctuationType.WALL_CLOCK_TIME, this::sweep);
    context.schedule(FLUSH_EVERY, PunctuationType.WALL_CLOCK_TIME, now -> flushWindows());
    // The first command would otherwise register its schema with the registry on its way out: a
    // round trip (hundreds of ms on a busy registry) between a new tenant's first event and its
    // command. Done here, before the task reads anything; if the registry cannot be reached now,
    // the first command registers as before (and its failure is handled there, record by record).
    try {
      prepareOutputs.run();
    } catch (RuntimeException e) {
      LOG.warn("could not register the output schemas at start ({}); the first command will", e.toString());
    }
  }

  @Override
  public void close() {
    flushWindows();
  }

  @Override
  public void process(Record<String, DemandSummary> record) {
    DemandSummary summary = record.value();
    String aggregate = record.key();
    AggregateId id = AggregateId.parse(aggregate);
    TablePolicy policy = policies.of(id.qualifiedTable());
    if (policy == null) {
      return; // unmanaged since its events were read (they were checked then, one by one)
    }
    long nowMs = context.currentSystemTimeMs();
    Instant now = Instant.ofEpochMilli(nowMs);
    observe(aggregate, summary, record.timestamp());
    metrics.events(summary.events());

    PlannerState before = stateOf(aggregate, nowMs);
    PlannerState state = refreshDepth(aggregate, policy, before, nowMs, record.timestamp());
    Coverage current = coverageOf(aggregate);
    if (current != null && coveredNow(current, summary.earliest(), policy, state.bufferDays(), nowMs)
        && summary.latest().isBefore(current.to())) {
      if (state != before) {
        putState(aggregate, state);
      }
      return;
    }
    Coverage desired = Planner.desired(summary.earliest(), summary.latest(), policy, state.bufferDays(), now);
    if (!Planner.covers(current, desired)) {
      int depth = state.bufferDays();
      state = deliver(aggregate, policy, current, desired, state, nowMs,
          () -> Planner.reason(id.tenant(), summary, desired, depth));
    }
    if (state != before) {
      putState(aggregate, state);
    }
  }

  /** Start of the current interval and end of the buffer of one policy and depth, valid until {@code untilMs}. */
  private record Horizon(Instant currentStart, Instant bufferEnd, long untilMs) {}

  private final Map<TablePolicy, Horizon[]> horizons = new java.util.IdentityHashMap<>();

  /**
   * {@link Planner#desired} without its calendar arithmetic, for the common case: the event lies
   * inside the coverage, which spans the current interval to the buffer's end. Both ends are
   * interval boundaries, so comparing instants is enough; the two calendar values are computed
   * once per interval (or buffer-end change) instead of once per event.
   */
  private boolean coveredNow(Coverage current, Instant eventTime, TablePolicy policy, int depth, long nowMs) {
    if (eventTime.isBefore(current.from()) || !eventTime.isBefore(current.to())) {
      return false;
    }
    if (horizons.size() > 1_000) {
      horizons.clear(); // keyed by policy instance: each policy update brings new ones
    }
    Horizon[] byDepth = horizons.computeIfAbsent(policy, p -> new Horizon[BufferPolicy.MAX_DAYS + 1]);
    Horizon h = byDepth[depth];
    if (h == null || nowMs >= h.untilMs()) {
      Instant now = Instant.ofEpochMilli(nowMs);
      Instant start = policy.interval().floor(now, policy.zone());
      Instant end = Planner.bufferEnd(now, policy, depth);
      // the values hold while now stays in the current interval and now + depth stays before the end
      long until = Math.min(policy.interval().next(start, policy.zone()).toEpochMilli(),
          end.minus(Duration.ofDays(depth)).toEpochMilli());
      h = new Horizon(start, end, Math.max(until, nowMs + 1));
      byDepth[depth] = h;
    }
    return !current.from().isAfter(h.currentStart()) && !current.to().isBefore(h.bufferEnd());
  }

  /**
   * Counts the summary in its velocity window and its day, by record (ingestion) time: a summary
   * lies within one velocity window (the keyer cuts it there), and velocity windows divide a day.
   */
  private void observe(String aggregate, DemandSummary summary, long timestamp) {
    Demand demand = summary.demand();
    long size = config.windows().velocity().toMillis();
    long velocityStart = timestamp - Math.floorMod(timestamp, size);
    long dayStart = timestamp - Math.floorMod(timestamp, DAY_MS);
    Open o = open.computeIfAbsent(aggregate, k -> new Open());
    if (o.velocity != null && o.velocityStart != velocityStart || o.day != null && o.dayStart != dayStart) {
      flush(aggregate, o);
    }
    o.velocityStart = velocityStart;
    o.velocity = demand.plus(o.velocity);
    o.dayStart = dayStart;
    o.day = demand.plus(o.day);
  }

  private void flush(String aggregate, Open o) {
    if (o.velocity != null) {
      velocity.put(aggregate, o.velocity.plus(velocity.fetch(aggregate, o.velocityStart)), o.velocityStart);
      o.velocity = null;
    }
    if (o.day != null) {
      daily.put(aggregate, o.day.plus(daily.fetch(aggregate, o.dayStart)), o.dayStart);
      o.day = null;
    }
  }

  private void flushWindows() {
    open.forEach(this::flush);
    open.clear();
  }

  private PlannerState stateOf(String aggregate, long nowMs) {
    PlannerState state = stateCache.get(aggregate);
    if (state == null) {
      state = states.get(aggregate);
      if (state == null) {
        return PlannerState.fresh(config.rateLimit().burst(), nowMs);
      }
      stateCache.put(aggregate, state);
    }
    return state;
  }

  private void putState(String aggregate, PlannerState state) {
    states.put(aggregate, state);
    stateCache.put(aggregate, state);
  }

  private Coverage coverageOf(String aggregate) {
    return coverageCache.computeIfAbsent(aggregate, k -> Optional.ofNullable(coverage.get(k))).orElse(null);
  }

  private static <V> Map<String, V> lru(int max) {
    return new LinkedHashMap<>(1024, 0.75f, true) {
      @Override
      protected boolean removeEldestEntry(Map.Entry<String, V> eldest) {
        return size() > max;
      }
    };
  }

  /**
   * The forecast's buffer depth, recomputed when the wall-clock day or the newest data day changed
   * since the last time (once a day per aggregate in steady state).
   */
  private PlannerState refreshDepth(String aggregate, TablePolicy policy, PlannerState state, long nowMs, long dataMs) {
    long wallDay = Math.floorDiv(nowMs, DAY_MS);
    long dataDay = Math.max(state.depthDataDay(), Math.floorDiv(dataMs, DAY_MS));
    if (state.bufferDays() > 0 && state.depthWallDay() == wallDay && state.depthDataDay() == dataDay) {
      return state;
    }
    Forecast forecast = Forecast.holt(dailyVolumes(aggregate, wallDay), config.windows().smoothing());
    int depth = config.bufferOf(policy).depthDays(forecast);
    AggregateId id = AggregateId.parse(aggregate);
    metrics.buffer(id.tenant(), id.qualifiedTable(), depth);
    return state.withDepth(depth, wallDay, dataDay);
  }

  /** Rows per complete day before {@code wallDay}, oldest first (see {@link Forecast#dailySeries}). */
  private List<Double> dailyVolumes(String aggregate, long wallDay) {
    Open o = open.get(aggregate);
    if (o != null) {
      flush(aggregate, o);
    }
    int history = config.windows().historyDays();
    Map<Long, Double> rows = new HashMap<>();
    try (WindowStoreIterator<Demand> it = daily.fetch(aggregate,
        Instant.ofEpochMilli((wallDay - history) * DAY_MS), Instant.ofEpochMilli((wallDay - 1) * DAY_MS))) {
      while (it.hasNext()) {
        KeyValue<Long, Demand> window = it.next();
        rows.merge(Math.floorDiv(window.key, DAY_MS), (double) window.value.rows(), Double::sum);
      }
    }
    return Forecast.dailySeries(rows, wallDay, history);
  }

  /** Events/s and bytes/s over the newest velocity windows up to {@code atMs}. */
  Demand.Velocity velocityOf(String aggregate, long atMs) {
    Open o = open.get(aggregate);
    if (o != null) {
      flush(aggregate, o);
    }
    long size = config.windows().velocity().toMillis();
    long last = atMs - Math.floorMod(atMs, size);
    long first = last - (config.windows().velocityWindows() - 1) * size;
    Demand sum = null;
    try (WindowStoreIterator<Demand> it = velocity.fetch(aggregate, Instant.ofEpochMilli(first), Instant.ofEpochMilli(last))) {
      while (it.hasNext()) {
        Demand d = it.next().value;
        sum = sum == null ? d : sum.plus(d);
      }
    }
    return Demand.Velocity.of(sum, Duration.ofMillis(size * config.windows().velocityWindows()));
  }

  /**
   * Demand the coverage lacks: rate limit, then the plan, then quotas, then the command. Over the
   * rate limit the demand is deferred (merged with what is already deferred) before any plan is
   * built, so a flood costs a store write per summary, not a plan; over a quota the plan is recorded
   * as {@code Rejected} with a capacity alert, the coverage stays as it was, and demand inside the
   * rejected range is not judged again.
   */
  private PlannerState deliver(String aggregate, TablePolicy policy, Coverage current, Coverage desired,
      PlannerState state, long nowMs, Supplier<String> reason) {
    if (Planner.covers(state.rejected(), desired)) {
      return state; // judged already: no second outcome, no second alert
    }
    double tokens = config.rateLimit().refill(state.tokens(), state.tokensAtMs(), nowMs);
    if (tokens < 1) {
      Coverage wanted = deferred.get(aggregate);
      deferred.put(aggregate, wanted == null ? desired : wanted.union(desired.from(), desired.to()));
      metrics.deferred(policy.qualifiedName());
      return state.withTokens(tokens, nowMs);
    }
    Instant now = Instant.ofEpochMilli(nowMs);
    AggregateId id = AggregateId.parse(aggregate);
    Planner.Plan plan = Planner.planRange(current, id, policy, desired.from(), desired.to(), "demand-topology",
        reason.get(), now);
    if (plan.command().isEmpty()) {
      return state;
    }
    state = state.withTokens(tokens - 1, nowMs);
    ProvisionPartitions command = plan.command().get();
    String key = command.getHeader().getIdempotencyKey();
    Coverage next = plan.coverage();
    Instant heldFrom = Planner.heldFrom(next, policy, now);
    int partitions = Planner.countPartitions(policy, heldFrom, next.to());
    Quota tenantQuota = config.quotaOf(id.tenant());
    long projected = 0;
    if (policy.quota().maxBytes() != Long.MAX_VALUE || tenantQuota.maxBytes() != Long.MAX_VALUE) {
      // a window-store scan: only when a byte limit is there to compare it with
      double bytesPerSecond = velocityOf(aggregate, nowMs).bytesPerSecond();
      projected = (long) Math.min(Long.MAX_VALUE, bytesPerSecond * Duration.between(heldFrom, next.to()).toSeconds());
    }
    Optional<Quota.Violation> violation = Quota.check(aggregate, partitions, projected, policy.quota(), tenantQuota);
    if (violation.isPresent()) {
      Quota.Violation v = violation.get();
      forward(aggregate, CommandLogEntry.newBuilder().setAggregateId(aggregate).setRecordedAt(now)
          .setEntry(Rejected.newBuilder().setIdempotencyKey(key).setCode(v.code())
              .setReason(v.reason() + "; plan not executed: " + command.getHeader().getReason()).build())
          .build(), nowMs);
      forward(aggregate, CapacityAlert.newBuilder().setAggregateId(aggregate).setCode(v.code()).setReason(v.reason())
          .setLimit(v.limit()).setProjected(v.projected()).setIdempotencyKey(key).setRaisedAt(now).build(), nowMs);
      metrics.rejected(policy.qualifiedName(), v.code());
      deferred.delete(aggregate);
      return state.withRejected(desired);
    }

    coverage.put(aggregate, next);
    coverageCache.put(aggregate, Optional.of(next));
    forward(aggregate, CommandLogEntry.newBuilder().setAggregateId(aggregate).setRecordedAt(now).setEntry(command).build(),
        nowMs);
    Coverage wanted = deferred.get(aggregate);
    if (wanted != null && Planner.covers(next, wanted)) {
      deferred.delete(aggregate);
    }
    metrics.command(policy.qualifiedName());
    metrics.covered(id.tenant(), id.qualifiedTable(), next.to());
    return state.withRejected(null);
  }

  private void forward(String aggregate, SpecificRecord value, long nowMs) {
    context.forward(new Record<>(aggregate, value, nowMs));
  }

  /** Deferred demand whose aggregate has a token again becomes one merged command. */
  private void flushDeferred(long nowMs) {
    List<KeyValue<String, Coverage>> waiting = new ArrayList<>();
    try (KeyValueIterator<String, Coverage> it = deferred.all()) {
      it.forEachRemaining(waiting::add);
    }
    Instant now = Instant.ofEpochMilli(nowMs);
    for (KeyValue<String, Coverage> entry : waiting) {
      String aggregate = entry.key;
      PlannerState state = stateOf(aggregate, nowMs);
      if (config.rateLimit().refill(state.tokens(), state.tokensAtMs(), nowMs) < 1) {
        continue;
      }
      AggregateId id = AggregateId.parse(aggregate);
      TablePolicy policy = policies.of(id.qualifiedTable());
      if (policy == null) {
        deferred.delete(aggregate); // unmanaged meanwhile
        continue;
      }
      Coverage current = coverageOf(aggregate);
      Coverage desired = new Coverage(entry.value.from(),
          Planner.max(entry.value.to(), Planner.bufferEnd(now, policy, Math.max(1, state.bufferDays()))));
      if (Planner.covers(current, desired)) {
        deferred.delete(aggregate);
        continue;
      }
      putState(aggregate, deliver(aggregate, policy, current, desired, state, nowMs,
          () -> "deferred demand of " + aggregate + " (rate limit) needs coverage " + desired.from() + " .. " + desired.to()));
    }
  }

  /** Keeps every known aggregate covered to now + its buffer as wall-clock time passes. */
  private void sweep(long nowMs) {
    List<KeyValue<String, Coverage>> all = new ArrayList<>();
    try (KeyValueIterator<String, Coverage> it = coverage.all()) {
      it.forEachRemaining(all::add);
    }
    Instant now = Instant.ofEpochMilli(nowMs);
    for (KeyValue<String, Coverage> entry : all) {
      String aggregate = entry.key;
      AggregateId id = AggregateId.parse(aggregate);
      TablePolicy policy = policies.of(id.qualifiedTable());
      if (policy == null) {
        continue;
      }
      metrics.covered(id.tenant(), id.qualifiedTable(), entry.value.to());
      PlannerState state = refreshDepth(aggregate, policy, stateOf(aggregate, nowMs), nowMs, Long.MIN_VALUE);
      Instant from = policy.interval().floor(now, policy.zone());
      Instant to = Planner.bufferEnd(now, policy, state.bufferDays());
      if (!entry.value.to().isBefore(to)) {
        putState(aggregate, state);
        continue;
      }
      int depth = state.bufferDays();
      state = deliver(aggregate, policy, entry.value, new Coverage(Planner.min(from, entry.value.from()), to), state,
          nowMs, () -> "runway of " + aggregate + " below now + " + depth + " days");
      putState(aggregate, state);
    }
  }
}
