package dev.partwright.streams;

import dev.partwright.schemas.AggregateId;
import dev.partwright.schemas.Bounds;
import dev.partwright.schemas.CommandHeader;
import dev.partwright.schemas.IngestionEvent;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.ProvisionPartitions;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;

/**
 * The planner's decisions, as pure functions: from what an aggregate already covers, one event and
 * the table's policy, which partitions must be provisioned. No I/O, no clock: {@code now} is given.
 */
public final class Planner {

  /** Longest a partition table name may be in PostgreSQL (NAMEDATALEN - 1). */
  static final int MAX_IDENTIFIER_BYTES = 63;

  private Planner() {}

  /** What one event changes: the new coverage and the command to append, if any. */
  public record Plan(Coverage coverage, Optional<ProvisionPartitions> command) {}

  /**
   * Plans for one event. The aggregate must stay covered from the start of the current interval
   * (or the event's, if earlier) to {@code now + bufferDays}, and further if the event lies beyond
   * that; whatever the current coverage lacks becomes one {@code ProvisionPartitions}.
   *
   * @throws UnplannableEventException for an event too far ahead of or behind {@code now}
   */
  public static Plan plan(
      Coverage current, IngestionEvent event, TablePolicy policy, PlannerConfig config, Instant now) {
    Instant eventTime = event.getEventTime();
    if (eventTime.isAfter(now.plus(Duration.ofDays(config.maxAheadDays())))) {
      throw new UnplannableEventException("event time " + eventTime + " is more than " + config.maxAheadDays()
          + " days ahead of now (" + now + "): refusing to provision for a bogus timestamp");
    }
    if (eventTime.isBefore(now.minus(Duration.ofDays(config.maxBehindDays())))) {
      throw new UnplannableEventException("event time " + eventTime + " is more than " + config.maxBehindDays()
          + " days behind now (" + now + "): outside the provisioning window");
    }
    Interval interval = policy.interval();
    Instant eventStart = interval.floor(eventTime, policy.zone());
    Instant desiredFrom = min(interval.floor(now, policy.zone()), eventStart);
    Instant desiredTo = max(bufferEnd(now, policy, config.bufferDays()), interval.next(eventStart, policy.zone()));

    List<PartitionSpec> missing = new ArrayList<>();
    if (current == null) {
      missing.addAll(partitions(policy, desiredFrom, desiredTo));
    } else {
      if (desiredFrom.isBefore(current.from())) {
        missing.addAll(partitions(policy, desiredFrom, current.from()));
      }
      if (desiredTo.isAfter(current.to())) {
        missing.addAll(partitions(policy, current.to(), desiredTo));
      }
    }
    if (missing.isEmpty()) {
      return new Plan(current, Optional.empty());
    }
    Coverage next = current == null ? new Coverage(desiredFrom, desiredTo) : current.union(desiredFrom, desiredTo);
    AggregateId aggregate = aggregateOf(event, policy);
    String reason = "event of tenant " + event.getTenant() + " at " + eventTime + " needs coverage "
        + desiredFrom + " .. " + desiredTo;
    return new Plan(next, Optional.of(command(aggregate, missing, "demand-topology", reason, now)));
  }

  /** The end of the forward buffer: the first interval boundary at or after now + bufferDays. */
  public static Instant bufferEnd(Instant now, TablePolicy policy, int bufferDays) {
    Instant target = now.plus(Duration.ofDays(bufferDays));
    Instant floor = policy.interval().floor(target, policy.zone());
    return floor.equals(target) ? floor : policy.interval().next(floor, policy.zone());
  }

  public static AggregateId aggregateOf(IngestionEvent event, TablePolicy policy) {
    return policy.tenantScoped()
        ? new AggregateId(event.getTenant(), policy.schema(), policy.table())
        : AggregateId.shared(policy.schema(), policy.table());
  }

  /** One partition spec per interval in {@code [from, to)}; {@code from} must be an interval start. */
  public static List<PartitionSpec> partitions(TablePolicy policy, Instant from, Instant to) {
    List<PartitionSpec> specs = new ArrayList<>();
    for (Instant start = from; start.isBefore(to); ) {
      Instant end = policy.interval().next(start, policy.zone());
      specs.add(PartitionSpec.newBuilder()
          .setParent(policy.qualifiedName())
          .setSchemaName(policy.schema())
          .setName(partitionName(policy, start))
          .setBound(Bounds.timeRange(start, end))
          .build());
      start = end;
    }
    return specs;
  }

  /**
   * Deterministic partition name: the parent's name, truncated so the whole fits PostgreSQL's 63
   * bytes, then {@code _p} and the interval's start in the policy's zone.
   */
  public static String partitionName(TablePolicy policy, Instant start) {
    String suffix = "_" + policy.interval().suffix(start, policy.zone());
    String base = policy.table();
    while (base.getBytes(StandardCharsets.UTF_8).length + suffix.length() > MAX_IDENTIFIER_BYTES) {
      base = base.substring(0, base.length() - 1);
    }
    return base + suffix;
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
    try {
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      sha.update(aggregate.toString().getBytes(StandardCharsets.UTF_8));
      for (PartitionSpec p : partitions) {
        sha.update((byte) 0);
        sha.update((p.getParent() + "|" + p.getSchemaName() + "." + p.getName() + "|" + Bounds.describe(p.getBound()))
            .getBytes(StandardCharsets.UTF_8));
      }
      return HexFormat.of().formatHex(sha.digest(), 0, 16);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  private static Instant min(Instant a, Instant b) {
    return a.isBefore(b) ? a : b;
  }

  private static Instant max(Instant a, Instant b) {
    return a.isAfter(b) ? a : b;
  }
}
