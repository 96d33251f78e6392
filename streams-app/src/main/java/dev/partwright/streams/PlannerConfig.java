package dev.partwright.streams;

import dev.partwright.schemas.Topics;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Everything the demand topology and its planner are told.
 *
 * @param ingestionTopic topic of the user's ingestion events
 * @param commandsTopic the command store's topic (commands, and the planner's {@code Rejected} outcomes)
 * @param deadLetterTopic where unreadable or unplannable events go, with the reason
 * @param alertsTopic where capacity alerts go
 * @param policiesTopic compacted topic of {@code ManagedTablePolicy} records ({@code partwright manage}),
 *     read as a global table; null to plan from {@link #policies} only
 * @param buffer forward buffer per aggregate: min / max days (defaults 30 / 90, bounded 1–366) and
 *     how the forecast moves an aggregate between them
 * @param maxAheadDays events further ahead than this are rejected as bogus, not planned (max buffer–3660)
 * @param maxBehindDays events further back than this are rejected, not planned (0–3660)
 * @param windows the tumbling windows demand is counted in, and the forecast's history and smoothing
 * @param rateLimit commands per aggregate (tenant isolation)
 * @param tenantQuota quota of every tenant's aggregates unless {@code tenantQuotas} names the tenant
 * @param tenantQuotas per-tenant quotas
 * @param sweepEvery how often every known aggregate's runway is checked against now + buffer
 *     (wall-clock), so idle aggregates stay covered as time passes
 * @param policies static managed tables by qualified name (schema.table); the policies topic wins
 */
public record PlannerConfig(
    String ingestionTopic,
    String commandsTopic,
    String deadLetterTopic,
    String alertsTopic,
    String policiesTopic,
    BufferPolicy buffer,
    int maxAheadDays,
    int maxBehindDays,
    Windows windows,
    RateLimit rateLimit,
    Quota tenantQuota,
    Map<String, Quota> tenantQuotas,
    Duration sweepEvery,
    Map<String, TablePolicy> policies) {

  public static final int DEFAULT_BUFFER_DAYS = 30;
  public static final int DEFAULT_MAX_BUFFER_DAYS = 90;
  public static final int DEFAULT_MAX_AHEAD_DAYS = 366;
  public static final int DEFAULT_MAX_BEHIND_DAYS = 31;
  /** Growth per day at which an aggregate gets the maximum buffer: 10 %. */
  public static final double DEFAULT_FULL_GROWTH_PER_DAY = 0.10;
  /** Below this forecast daily volume (rows) an aggregate stays at the minimum buffer. */
  public static final double DEFAULT_QUIET_DAILY_ROWS = 1_000;
  /** The compacted topic {@code partwright manage} publishes policies to. */
  public static final String DEFAULT_POLICIES_TOPIC = "partwright.policies";

  /**
   * Tumbling windows of demand.
   *
   * @param velocity width of one velocity window (events/s, bytes/s, horizon)
   * @param velocityWindows how many of the newest velocity windows velocity is averaged over
   * @param historyDays how many complete days (daily windows) the forecast is fitted on
   * @param smoothing the forecast's smoothing factors
   */
  public record Windows(Duration velocity, int velocityWindows, int historyDays, Forecast.Smoothing smoothing) {
    public static final Windows DEFAULT = new Windows(Duration.ofMinutes(1), 5, 28, Forecast.Smoothing.DEFAULT);

    public Windows {
      if (velocity.toMillis() < 1000 || Duration.ofDays(1).toMillis() % velocity.toMillis() != 0) {
        throw new IllegalArgumentException("velocity window must be >= 1 s and divide a day, got " + velocity);
      }
      if (velocityWindows < 1 || historyDays < 2 || historyDays > 366) {
        throw new IllegalArgumentException("need >= 1 velocity window and 2-366 days of history, got "
            + velocityWindows + " and " + historyDays);
      }
      Objects.requireNonNull(smoothing, "smoothing");
    }
  }

  public PlannerConfig {
    Objects.requireNonNull(ingestionTopic, "ingestionTopic");
    Objects.requireNonNull(commandsTopic, "commandsTopic");
    Objects.requireNonNull(deadLetterTopic, "deadLetterTopic");
    Objects.requireNonNull(alertsTopic, "alertsTopic");
    Objects.requireNonNull(buffer, "buffer");
    Objects.requireNonNull(windows, "windows");
    Objects.requireNonNull(rateLimit, "rateLimit");
    Objects.requireNonNull(tenantQuota, "tenantQuota");
    Objects.requireNonNull(sweepEvery, "sweepEvery");
    tenantQuotas = Map.copyOf(tenantQuotas);
    policies = Map.copyOf(policies);
    if (maxAheadDays < buffer.maxDays() || maxAheadDays > 3660) {
      throw new IllegalArgumentException(
          "max ahead days must be between the max buffer (" + buffer.maxDays() + ") and 3660, got " + maxAheadDays);
    }
    if (maxBehindDays < 0 || maxBehindDays > 3660) {
      throw new IllegalArgumentException("max behind days must be between 0 and 3660, got " + maxBehindDays);
    }
    if (sweepEvery.toMillis() < 100) {
      throw new IllegalArgumentException("sweep period must be >= 100 ms, got " + sweepEvery);
    }
  }

  /** Defaults on the standard topics for the given static policies; the policies topic is off. */
  public static PlannerConfig defaults(Map<String, TablePolicy> policies) {
    return new PlannerConfig(
        Topics.INGESTION, Topics.COMMANDS, Topics.INGESTION_DLQ, Topics.ALERTS, null,
        new BufferPolicy(DEFAULT_BUFFER_DAYS, DEFAULT_MAX_BUFFER_DAYS, DEFAULT_FULL_GROWTH_PER_DAY,
            DEFAULT_QUIET_DAILY_ROWS),
        DEFAULT_MAX_AHEAD_DAYS, DEFAULT_MAX_BEHIND_DAYS, Windows.DEFAULT, RateLimit.DEFAULT,
        Quota.UNLIMITED, Map.of(), Duration.ofMinutes(1), policies);
  }

  /** The minimum forward buffer (what a quiet aggregate gets). */
  public int bufferDays() {
    return buffer.minDays();
  }

  /** The quota of one tenant's aggregates. */
  public Quota quotaOf(String tenant) {
    return tenantQuotas.getOrDefault(tenant, tenantQuota);
  }

  /** The buffer policy of one table: its own minimum, if it has one, within this config's bounds. */
  public BufferPolicy bufferOf(TablePolicy policy) {
    if (policy.bufferDays() == null) {
      return buffer;
    }
    int min = policy.bufferDays();
    return new BufferPolicy(min, Math.max(min, buffer.maxDays()), buffer.fullGrowthPerDay(), buffer.quietDailyVolume());
  }

  public PlannerConfig withIngestionTopic(String topic) {
    return builder().ingestionTopic(topic).build();
  }

  /** Every topic the topology reads or writes, except the policies topic. */
  public PlannerConfig withTopics(String ingestion, String commands, String deadLetter, String alerts) {
    Builder b = builder();
    b.ingestionTopic = ingestion;
    b.commandsTopic = commands;
    b.deadLetterTopic = deadLetter;
    b.alertsTopic = alerts;
    return b.build();
  }

  /** Enables the global table of {@code partwright manage} policies on {@code topic}. */
  public PlannerConfig withPoliciesTopic(String topic) {
    return builder().policiesTopic(topic).build();
  }

  /** Sets the minimum buffer (raising the maximum and the bogus-timestamp cap if they were below it). */
  public PlannerConfig withBufferDays(int days) {
    return withBuffer(days, Math.max(days, buffer.maxDays()));
  }

  public PlannerConfig withBuffer(int minDays, int maxDays) {
    Builder b = builder();
    b.buffer = new BufferPolicy(minDays, maxDays, buffer.fullGrowthPerDay(), buffer.quietDailyVolume());
    b.maxAheadDays = Math.max(maxDays, maxAheadDays);
    return b.build();
  }

  public PlannerConfig withBufferPolicy(BufferPolicy policy) {
    Builder b = builder();
    b.buffer = policy;
    b.maxAheadDays = Math.max(policy.maxDays(), maxAheadDays);
    return b.build();
  }

  public PlannerConfig withWindows(Windows w) {
    Builder b = builder();
    b.windows = w;
    return b.build();
  }

  public PlannerConfig withRateLimit(RateLimit limit) {
    Builder b = builder();
    b.rateLimit = limit;
    return b.build();
  }

  public PlannerConfig withTenantQuota(Quota quota) {
    Builder b = builder();
    b.tenantQuota = quota;
    return b.build();
  }

  public PlannerConfig withTenantQuota(String tenant, Quota quota) {
    Builder b = builder();
    b.tenantQuotas.put(tenant, quota);
    return b.build();
  }

  public PlannerConfig withSweepEvery(Duration every) {
    Builder b = builder();
    b.sweepEvery = every;
    return b.build();
  }

  public PlannerConfig withPolicies(Map<String, TablePolicy> staticPolicies) {
    Builder b = builder();
    b.policies = staticPolicies;
    return b.build();
  }

  private Builder builder() {
    return new Builder(this);
  }

  /** Copy-with-changes helper: the record has too many components for hand-written withers. */
  private static final class Builder {
    String ingestionTopic;
    String commandsTopic;
    String deadLetterTopic;
    String alertsTopic;
    String policiesTopic;
    BufferPolicy buffer;
    int maxAheadDays;
    int maxBehindDays;
    Windows windows;
    RateLimit rateLimit;
    Quota tenantQuota;
    Map<String, Quota> tenantQuotas;
    Duration sweepEvery;
    Map<String, TablePolicy> policies;

    Builder(PlannerConfig c) {
      ingestionTopic = c.ingestionTopic;
      commandsTopic = c.commandsTopic;
      deadLetterTopic = c.deadLetterTopic;
      alertsTopic = c.alertsTopic;
      policiesTopic = c.policiesTopic;
      buffer = c.buffer;
      maxAheadDays = c.maxAheadDays;
      maxBehindDays = c.maxBehindDays;
      windows = c.windows;
      rateLimit = c.rateLimit;
      tenantQuota = c.tenantQuota;
      tenantQuotas = new HashMap<>(c.tenantQuotas);
      sweepEvery = c.sweepEvery;
      policies = c.policies;
    }

    Builder ingestionTopic(String t) {
      ingestionTopic = t;
      return this;
    }

    Builder policiesTopic(String t) {
      policiesTopic = t;
      return this;
    }

    PlannerConfig build() {
      return new PlannerConfig(ingestionTopic, commandsTopic, deadLetterTopic, alertsTopic, policiesTopic, buffer,
          maxAheadDays, maxBehindDays, windows, rateLimit, tenantQuota, tenantQuotas, sweepEvery, policies);
    }
  }
}
