package dev.partwright.streams;

import dev.partwright.schemas.AggregateId;
import dev.partwright.schemas.CommandHeader;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.RetirePartitions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * Scheduled rotation, as a pure function: from the range partitions one aggregate has in the
 * database now, its policy and the buffer, what to provision so coverage is contiguous from the
 * current interval to {@code now + buffer} — and from its oldest partition still within retention,
 * so no gap is left behind either (invariant 1) — what to retire past retention, and whether the
 * result stays within quota. {@code partwright rotate} runs it per managed table; the same inputs always
 * give the same commands (same idempotency keys), so overlapping runs agree on what to do.
 *
 * <p>An interval an existing partition (of any name) already covers is left alone; one that an
 * existing partition covers only in part is a conflict — PostgreSQL would refuse the overlap — and
 * is reported, not planned.
 */
public final class Rotation {

  private Rotation() {}

  /** A range partition that exists; a null bound is MINVALUE / MAXVALUE. */
  public record Existing(String name, Instant from, Instant to, long bytes) {
    boolean overlaps(Instant start, Instant end) {
      return (from == null || from.isBefore(end)) && (to == null || to.isAfter(start));
    }

    boolean contains(Instant start, Instant end) {
      return (from == null || !from.isAfter(start)) && (to == null || !to.isBefore(end));
    }
  }

  /**
   * What rotation does for one aggregate.
   *
   * @param provision the partitions to create (absent when nothing is missing)
   * @param retire the partitions past retention (absent when none)
   * @param conflicts intervals an existing partition overlaps only partly
   * @param coveredUntilBefore end of contiguous coverage from the current interval, before; equal to
   *     the current interval's start when it is not covered at all
   * @param coveredUntilAfter the same once provisioned (retirement does not touch the future)
   * @param partitionsAfter range partitions the aggregate holds afterwards
   * @param projectedBytes bytes they are projected to hold: today's sizes plus, for each new
   *     partition, the average size of the existing ones
   * @param violation the quota the result would break, if any: then nothing is to be executed
   */
  public record Plan(
      AggregateId aggregate,
      Optional<ProvisionPartitions> provision,
      Optional<RetirePartitions> retire,
      List<String> conflicts,
      Instant coveredUntilBefore,
      Instant coveredUntilAfter,
      int partitionsAfter,
      long projectedBytes,
      Optional<Quota.Violation> violation) {}

  /**
   * @param parentTable the table the range partitions hang off: the managed table itself, or a
   *     tenant's list partition of a tenant-scoped table
   * @param existing its range partitions (not DEFAULT)
   */
  public static Plan plan(TablePolicy policy, AggregateId aggregate, String parentTable, List<Existing> existing,
      int bufferDays, Quota tenantQuota, Instant now) {
    Interval interval = policy.interval();
    Instant today = interval.floor(now, policy.zone());
    Instant to = Planner.bufferEnd(now, policy, bufferDays);
    Instant edge = policy.retentionDays() == null ? null
        : interval.floor(now.minus(Duration.ofDays(policy.retentionDays())), policy.zone());
    // invariant 1 runs from the retention edge: gaps between the oldest kept partition and today are filled too
    Instant from = today;
    for (Existing e : existing) {
      boolean kept = edge == null || e.to() == null || e.to().isAfter(edge);
      if (kept && e.from() != null && e.from().isBefore(from)) {
        from = interval.floor(edge == null || e.from().isAfter(edge) ? e.from() : edge, policy.zone());
      }
    }

    List<PartitionSpec> missing = new ArrayList<>();
    List<String> conflicts = new ArrayList<>();
    List<Existing> after = new ArrayList<>(existing);
    for (Instant start = from; start.isBefore(to); ) {
      Instant end = interval.next(start, policy.zone());
      Instant s = start;
      List<Existing> overlapping = existing.stream().filter(e -> e.overlaps(s, end)).toList();
      if (overlapping.isEmpty()) {
        PartitionSpec spec = Planner.rangePartitions(policy, parentTable, start, end).get(0);
        missing.add(spec);
        after.add(new Existing(spec.getSchemaName() + "." + spec.getName(), start, end, 0));
      } else if (overlapping.stream().noneMatch(e -> e.contains(s, end))) {
        conflicts.add("interval " + start + " .. " + end + " overlaps " + overlapping.stream().map(Existing::name).toList()
            + " only in part");
      }
      start = end;
    }

    List<Existing> retired = new ArrayList<>();
    if (edge != null) {
      existing.stream().filter(e -> e.to() != null && !e.to().isAfter(edge))
          .sorted(Comparator.comparing(Existing::to)).forEach(retired::add);
    }

    List<Existing> kept = existing.stream().filter(e -> !retired.contains(e)).toList();
    long keptBytes = kept.stream().mapToLong(Existing::bytes).sum();
    long average = kept.isEmpty() ? 0 : keptBytes / kept.size();
    long projected = keptBytes + average * missing.size();
    int partitions = kept.size() + missing.size();

    String reason = "rotation: contiguous coverage " + from + " .. " + to + " (buffer " + bufferDays + " days)";
    Instant coveredFrom = today;
    Optional<ProvisionPartitions> provision = missing.isEmpty() ? Optional.empty()
        : Optional.of(Planner.command(aggregate, missing, "rotate", reason, now));
    Optional<RetirePartitions> retire = retired.isEmpty() ? Optional.empty()
        : Optional.of(retire(aggregate, retired.stream().map(Existing::name).toList(), policy.retentionDays(), now));
    return new Plan(aggregate, provision, retire, conflicts, coveredUntil(existing, coveredFrom),
        coveredUntil(after, coveredFrom),
        partitions, projected, Quota.check(aggregate.toString(), partitions, projected, policy.quota(), tenantQuota));
  }

  /** End of contiguous coverage starting at {@code from}; {@link Instant#MAX} under a MAXVALUE bound. */
  static Instant coveredUntil(List<Existing> partitions, Instant from) {
    Instant t = from;
    while (true) {
      Instant at = t;
      Optional<Existing> holding = partitions.stream()
          .filter(e -> (e.from() == null || !e.from().isAfter(at)) && (e.to() == null || e.to().isAfter(at)))
          .findFirst();
      if (holding.isEmpty()) {
        return t;
      }
      if (holding.get().to() == null) {
        return Instant.MAX;
      }
      t = holding.get().to();
    }
  }

  private static RetirePartitions retire(AggregateId aggregate, List<String> names, int retentionDays, Instant now) {
    String key = Planner.sha256(aggregate + "\0retire\0" + String.join("\0", names)).substring(0, 32);
    return RetirePartitions.newBuilder()
        .setHeader(CommandHeader.newBuilder()
            .setIdempotencyKey(key)
            .setAggregateId(aggregate.toString())
            .setExpectedVersion(-1)
            .setIssuedAt(now)
            .setIssuedBy("rotate")
            .setReason("rotation: past the retention of " + retentionDays + " days")
            .build())
        .setPartitions(names)
        .build();
  }
}
