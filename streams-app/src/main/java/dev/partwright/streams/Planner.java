package dev.partwright.streams;

import dev.partwright.schemas.AggregateId;
import dev.partwright.schemas.Bounds;
import dev.partwright.schemas.CommandHeader;
import dev.partwright.schemas.IngestionEvent;
import dev.partwright.schemas.ListBound;
import dev.partwright.schemas.PartitionKey;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.RangeBound;
import dev.partwright.schemas.Strategy;
import dev.partwright.schemas.TextValue;
import dev.partwright.schemas.TimestampTzValue;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * The planner's decisions, as pure functions: from what an aggregate already covers, one event and
 * the table's policy, which partitions must be provisioned. No I/O, no clock: {@code now} is given.
 *
 * <p>Naming: a shared table's partitions are {@code <table>_p<start>}; a tenant-scoped table gets
 * one list partition per tenant, {@code <table>_<tenant>} (itself range-partitioned on the policy's
 * time column), holding {@code <table>_<tenant>_p<start>}. Names are deterministic and fit
 * PostgreSQL's 63 bytes.
 */
public final class Planner {

  /** Longest a partition table name may be in PostgreSQL (NAMEDATALEN - 1). */
  static final int MAX_IDENTIFIER_BYTES = 63;
  /** Longest suffix a range partition adds to its parent's name: {@code _p20261125_10}. */
  private static final int MAX_RANGE_SUFFIX = 13;
  private static final int MAX_TENANT_SLUG = 24;

  private Planner() {}

  /** What one event changes: the new coverage and the command to append, if any. */
  public record Plan(Coverage coverage, Optional<ProvisionPartitions> command) {}

  /** Plans with the config's minimum buffer (or the table's own). */
  public static Plan plan(
      Coverage current, IngestionEvent event, TablePolicy policy, PlannerConfig config, Instant now) {
    return plan(current, event, policy, config.bufferOf(policy).minDays(), config, now);
  }

  /**
   * Plans for one event. The aggregate must stay covered from the start of the current interval
   * (or the event's, if earlier) to {@code now + bufferDays}, and further if the event lies beyond
   * that; whatever the current coverage lacks becomes one {@code ProvisionPartitions}.
   *
   * @throws UnplannableEventException for an event too far ahead of or behind {@code now}
   */
  public static Plan plan(Coverage current, IngestionEvent event, TablePolicy policy, int bufferDays,
      PlannerConfig config, Instant now) {
    checkEventTime(event, config, now);
    Coverage desired = desired(event, policy, bufferDays, now);
    return planRange(current, aggregateOf(event, policy), policy, desired.from(), desired.to(), "demand-topology",
        reason(event, desired, bufferDays), now);
  }

  /**
   * The range one event wants covered: from the start of the current interval (or the event's, if
   * earlier) to {@code now + bufferDays}, or to the end of the event's interval if that is further.
   */
  public static Coverage desired(IngestionEvent event, TablePolicy policy, int bufferDays, Instant now) {
    return desired(event.getEventTime(), event.getEventTime(), policy, bufferDays, now);
  }

  /** The range events from {@code earliest} to {@code latest} want covered: the union of what each wants. */
  public static Coverage desired(Instant earliest, Instant latest, TablePolicy policy, int bufferDays, Instant now) {
    Interval interval = policy.interval();
    Instant earliestStart = interval.floor(earliest, policy.zone());
    Instant latestStart = latest.equals(earliest) ? earliestStart : interval.floor(latest, policy.zone());
    return new Coverage(min(interval.floor(now, policy.zone()), earliestStart),
        max(bufferEnd(now, policy, bufferDays), interval.next(latestStart, policy.zone())));
  }

  /** Whether {@code current} (null: nothing) already covers all of {@code desired}. */
  public static boolean covers(Coverage current, Coverage desired) {
    return current != null && !desired.from().isBefore(current.from()) && !desired.to().isAfter(current.to());
  }

  static String reason(IngestionEvent event, Coverage desired, int bufferDays) {
    return "event of tenant " + event.getTenant() + " at " + event.getEventTime() + " needs coverage "
        + desired.from() + " .. " + desired.to() + " (buffer " + bufferDays + " days)";
  }

  static String reason(String tenant, DemandSummary summary, Coverage desired, int bufferDays) {
    String events = summary.events() == 1 ? "event of tenant " + tenant + " at " + summary.earliest() + " needs"
        : summary.events() + " events of tenant " + tenant + " at " + summary.earliest() + " .. " + summary.latest()
            + " need";
    return events + " coverage " + desired.from() + " .. " + desired.to() + " (buffer " + bufferDays + " days)";
  }

  /**
   * Plans for a desired range {@code [from, to)} (both interval starts): whatever the current
   * coverage lacks at either end becomes one {@code ProvisionPartitions}; a tenant-scoped aggregate
   * seen for the first time also gets its tenant's list partition, first.
   */
  public static Plan planRange(Coverage current, AggregateId aggregate, TablePolicy policy, Instant from, Instant to,
      String issuedBy, String reason, Instant now) {
    List<PartitionSpec> missing = new ArrayList<>();
    if (current == null) {
      if (policy.tenantScoped()) {
        missing.add(tenantPartition(policy, aggregate.tenant()));
      }
      missing.addAll(partitions(policy, aggregate, from, to));
    } else {
      if (from.isBefore(current.from())) {
        missing.addAll(partitions(policy, aggregate, from, current.from()));
      }
      if (to.isAfter(current.to())) {
        missing.addAll(partitions(policy, aggregate, current.to(), to));
      }
    }
    if (missing.isEmpty()) {
      return new Plan(current, Optional.empty());
    }
    Coverage next = current == null ? new Coverage(from, to) : current.union(from, to);
    return new Plan(next, Optional.of(command(aggregate, missing, issuedBy, reason, now)));
  }

  /**
   * Refuses bogus timestamps: more than {@code maxAheadDays} ahead or {@code maxBehindDays} behind.
   *
   * @throws UnplannableEventException with the facts
   */
  public static void checkEventTime(IngestionEvent event, PlannerConfig config, Instant now) {
    Instant eventTime = event.getEventTime();
    if (eventTime.isAfter(now.plus(Duration.ofDays(config.maxAheadDays())))) {
      throw new UnplannableEventException("event time " + eventTime + " is more than " + config.maxAheadDays()
          + " days ahead of now (" + now + "): refusing to provision for a bogus timestamp");
    }
    if (eventTime.isBefore(now.minus(Duration.ofDays(config.maxBehindDays())))) {
      throw new UnplannableEventException("event time " + eventTime + " is more than " + config.maxBehindDays()
          + " days behind now (" + now + "): outside the provisioning window");
    }
  }

  /** The end of the forward buffer: the first interval boundary at or after now + bufferDays. */
  public static Instant bufferEnd(Instant now, TablePolicy policy, int bufferDays) {
    Instant target = now.plus(Duration.ofDays(bufferDays));
    Instant floor = policy.interval().floor(target, policy.zone());
    return floor.equals(target) ? floor : policy.interval().next(floor, policy.zone());
  }

  /**
   * Where an aggregate's partitions start to count for quotas: its coverage start, or the
   * retention edge (the interval holding now - retention) when that is later.
   */
  public static Instant heldFrom(Coverage coverage, TablePolicy policy, Instant now) {
    if (policy.retentionDays() == null) {
      return coverage.from();
    }
    Instant edge = policy.interval().floor(now.minus(Duration.ofDays(policy.retentionDays())), policy.zone());
    return max(edge, coverage.from());
  }

  /** Number of partitions in {@code [from, to)}; {@code from} must be an interval start. */
  public static int countPartitions(TablePolicy policy, Instant from, Instant to) {
    int n = 0;
    for (Instant start = from; start.isBefore(to); start = policy.interval().next(start, policy.zone())) {
      n++;
    }
    return n;
  }

  public static AggregateId aggregateOf(IngestionEvent event, TablePolicy policy) {
    return policy.tenantScoped()
        ? new AggregateId(event.getTenant(), policy.schema(), policy.table())
        : AggregateId.shared(policy.schema(), policy.table());
  }

  /** One partition spec per interval in {@code [from, to)} of a shared table; {@code from} must be an interval start. */
  public static List<PartitionSpec> partitions(TablePolicy policy, Instant from, Instant to) {
    return partitions(policy, AggregateId.shared(policy.schema(), policy.table()), from, to);
  }

  /** One partition spec per interval in {@code [from, to)} of the aggregate; {@code from} must be an interval start. */
  public static List<PartitionSpec> partitions(TablePolicy policy, AggregateId aggregate, Instant from, Instant to) {
    String parentTable = policy.tenantScoped() ? tenantTableName(policy, aggregate.tenant()) : policy.table();
    return rangePartitions(policy, parentTable, from, to);
  }

  /**
   * One range partition spec per interval in {@code [from, to)} under {@code schema.parentTable},
   * named after the parent ({@code from} must be an interval start).
   */
  public static List<PartitionSpec> rangePartitions(TablePolicy policy, String parentTable, Instant from, Instant to) {
    List<PartitionSpec> specs = new ArrayList<>();
    Map<Instant, Step> steps = stepsOf(policy.interval(), policy.zone());
    String parent = policy.schema() + "." + parentTable;
    String base = null;
    int baseRoom = -1;
    for (Instant start = from; start.isBefore(to); ) {
      Step step = step(steps, policy, start);
      int room = MAX_IDENTIFIER_BYTES - step.suffix().length();
      if (room != baseRoom) { // all suffixes of an interval have one length: the parent is cut once
        base = truncate(parentTable, room);
        baseRoom = room;
      }
      // the constructor, not the builder: the builder deep-copies the schema's default of every unset field
      specs.add(new PartitionSpec(parent, policy.schema(), base + step.suffix(), Bounds.timeRange(start, step.end()),
          null));
      start = step.end();
    }
    return specs;
  }

  /**
   * One partition's interval in one calendar (interval and zone): where it ends and its name
   * suffix. The same for every table and tenant on that calendar, and costly to compute (zone
   * rules, a formatter): a first command of a tenant-scoped table repeats the last tenant's 30-odd
   * steps, so they are kept, per calendar, up to {@link #MAX_STEPS}.
   */
  private record Step(Instant end, String suffix) {}

  private record Calendar(Interval interval, ZoneId zone) {}

  private static final int MAX_STEPS = 4096;
  private static final Map<Calendar, Map<Instant, Step>> STEPS = new ConcurrentHashMap<>();

  private static Map<Instant, Step> stepsOf(Interval interval, ZoneId zone) {
    return STEPS.computeIfAbsent(new Calendar(interval, zone), c -> new ConcurrentHashMap<>());
  }

  private static Step step(Map<Instant, Step> steps, TablePolicy policy, Instant start) {
    // bounded: an hourly calendar walked over years starts over
    return cached(steps, MAX_STEPS, start, s -> new Step(policy.interval().next(s, policy.zone()),
        "_" + policy.interval().suffix(s, policy.zone())));
  }

  /** {@code cache}'s value for {@code key}, computed and kept if absent; the cache is emptied once it holds {@code max}. */
  private static <K, V> V cached(Map<K, V> cache, int max, K key, Function<K, V> compute) {
    V value = cache.get(key);
    if (value == null) {
      if (cache.size() >= max) {
        cache.clear();
      }
      value = compute.apply(key);
      cache.put(key, value);
    }
    return value;
  }

  /**
   * A tenant's list partition of a tenant-scoped table, range-partitioned on the policy's time
   * column: {@code <table>_<tenant> FOR VALUES IN ('<tenant>') PARTITION BY RANGE (<time column>)}.
   */
  public static PartitionSpec tenantPartition(TablePolicy policy, String tenant) {
    return PartitionSpec.newBuilder()
        .setParent(policy.qualifiedName())
        .setSchemaName(policy.schema())
        .setName(tenantTableName(policy, tenant))
        .setBound(new ListBound(List.of(new TextValue(tenant)), false))
        .setSubpartitionBy(new PartitionKey(Strategy.RANGE, List.of(policy.timeColumn()),
            List.of("timestamp with time zone")))
        .build();
  }

  /**
   * Deterministic partition name of a shared table: the parent's name, truncated so the whole fits
   * PostgreSQL's 63 bytes, then {@code _p} and the interval's start in the policy's zone.
   */
  public static String partitionName(TablePolicy policy, Instant start) {
    return rangeName(policy.table(), policy, start);
  }

  private static String rangeName(String parentTable, TablePolicy policy, Instant start) {
    String suffix = step(stepsOf(policy.interval(), policy.zone()), policy, start).suffix();
    return truncate(parentTable, MAX_IDENTIFIER_BYTES - suffix.length()) + suffix;
  }

  /**
   * Name of a tenant's list partition: {@code <table>_<slug>}, short enough that its range
   * partitions' names fit 63 bytes. The slug is the tenant lower-cased with anything but
   * {@code [a-z0-9_]} replaced by {@code _}; when that changed the tenant (or cut it), 8 hex digits
   * of its SHA-256 follow, so two tenants never share a name.
   */
  public static String tenantTableName(TablePolicy policy, String tenant) {
    String slug = tenantSlug(tenant);
    int room = MAX_IDENTIFIER_BYTES - MAX_RANGE_SUFFIX - 1 - slug.length();
    return truncate(policy.table(), room) + "_" + slug;
  }

  static String tenantSlug(String tenant) {
    String lower = tenant.toLowerCase(Locale.ROOT);
    StringBuilder slug = new StringBuilder();
    for (char c : lower.toCharArray()) {
      slug.append((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ? c : '_');
    }
    boolean exact = slug.toString().equals(tenant) && slug.length() <= MAX_TENANT_SLUG && !slug.isEmpty();
    if (exact) {
      return slug.toString();
    }
    String cut = slug.length() > MAX_TENANT_SLUG - 9 ? slug.substring(0, MAX_TENANT_SLUG - 9) : slug.toString();
    return cut + "_" + sha256(tenant).substring(0, 8);
  }

  private static String truncate(String name, int maxBytes) {
    String base = name;
    while (base.getBytes(StandardCharsets.UTF_8).length > maxBytes) {
      base = base.substring(0, base.length() - 1);
    }
    return base;
  }

  /** A ProvisionPartitions whose idempotency key is a hash of the aggregate and every bound. */
  public static ProvisionPartitions command(
      AggregateId aggregate, List<PartitionSpec> partitions, String issuedBy, String reason, Instant now) {
    return ProvisionPartitions.newBuilder()
        .setHeader(CommandHeader.newBuilder()
            .setIdempotencyKey(idempotencyKey(aggregate, partitions))
            .setAggregateId(aggregate.toString())
            .setExpectedVersion(-1)
            .setIssuedAt(now)
            .setIssuedBy(issuedBy)
            .setReason(reason)
            .build())
        .setPartitions(partitions)
        .build();
  }

  static String idempotencyKey(AggregateId aggregate, List<PartitionSpec> partitions) {
    StringBuilder text = new StringBuilder(aggregate.toString());
    for (PartitionSpec p : partitions) {
      text.append('\0').append(p.getParent()).append('|').append(p.getSchemaName()).append('.').append(p.getName())
          .append('|').append(boundText(p.getBound()));
    }
    return sha256(text.toString()).substring(0, 32);
  }

  /** A time range's text, {@link Bounds#describe}: kept per range, as every tenant's first command repeats them. */
  private record Span(Instant from, Instant to) {}

  private static final int MAX_BOUND_TEXTS = 4096;
  private static final Map<Span, String> BOUND_TEXTS = new ConcurrentHashMap<>();

  private static String boundText(Object bound) {
    if (bound instanceof RangeBound r && r.getFrom().size() == 1 && r.getTo().size() == 1
        && r.getFrom().get(0) instanceof TimestampTzValue from && r.getTo().get(0) instanceof TimestampTzValue to) {
      // the text depends on the two instants only
      return cached(BOUND_TEXTS, MAX_BOUND_TEXTS, new Span(from.getMicros(), to.getMicros()),
          span -> Bounds.describe(bound));
    }
    return Bounds.describe(bound);
  }

  /** One digest per thread: looking SHA-256 up among the security providers costs more than hashing a command. */
  private static final ThreadLocal<MessageDigest> SHA256 = ThreadLocal.withInitial(() -> {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  });

  static String sha256(String text) {
    MessageDigest sha = SHA256.get();
    sha.reset();
    return HexFormat.of().formatHex(sha.digest(text.getBytes(StandardCharsets.UTF_8)));
  }

  static Instant min(Instant a, Instant b) {
    return a.isBefore(b) ? a : b;
  }

  static Instant max(Instant a, Instant b) {
    return a.isAfter(b) ? a : b;
  }
}
