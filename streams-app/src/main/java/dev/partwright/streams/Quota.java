package dev.partwright.streams;

import java.util.Optional;

/**
 * Limits one aggregate may reach: partitions held and projected bytes. A table's policy carries one
 * (it bounds each aggregate of the table: for a shared table, the whole table), and so does each
 * tenant (it bounds each of the tenant's aggregates). Checked per aggregate, where the planner owns
 * the state, so the check needs no cross-partition lookup and cannot race.
 *
 * @param maxPartitions partitions the aggregate may hold after a plan
 * @param maxBytes bytes the aggregate's partitions are projected to hold after a plan
 */
public record Quota(int maxPartitions, long maxBytes) {

  public static final Quota UNLIMITED = new Quota(Integer.MAX_VALUE, Long.MAX_VALUE);

  public static final String PARTITIONS = "QUOTA_PARTITIONS";
  public static final String BYTES = "QUOTA_BYTES";

  public Quota {
    if (maxPartitions < 1) {
      throw new IllegalArgumentException("max partitions must be >= 1, got " + maxPartitions);
    }
    if (maxBytes < 1) {
      throw new IllegalArgumentException("max bytes must be >= 1, got " + maxBytes);
    }
  }

  /** A quota from optional limits; a null limit is unlimited. */
  public static Quota of(Integer maxPartitions, Long maxBytes) {
    return new Quota(maxPartitions == null ? Integer.MAX_VALUE : maxPartitions,
        maxBytes == null ? Long.MAX_VALUE : maxBytes);
  }

  public boolean unlimited() {
    return maxPartitions == Integer.MAX_VALUE && maxBytes == Long.MAX_VALUE;
  }

  /** Why a plan breaks a quota: the code of the {@code Rejected} outcome, the facts, the limit and the figure. */
  public record Violation(String code, String reason, long limit, long projected) {}

  /**
   * The first limit the plan breaks, table's before tenant's, partitions before bytes.
   *
   * @param aggregate the aggregate planned for
   * @param partitions partitions the aggregate would hold after the plan
   * @param projectedBytes bytes those partitions are projected to hold
   */
  public static Optional<Violation> check(String aggregate, int partitions, long projectedBytes, Quota table, Quota tenant) {
    return table.violation("table", aggregate, partitions, projectedBytes)
        .or(() -> tenant.violation("tenant", aggregate, partitions, projectedBytes));
  }

  private Optional<Violation> violation(String scope, String aggregate, int partitions, long projectedBytes) {
    if (partitions > maxPartitions) {
      return Optional.of(new Violation(PARTITIONS, aggregate + " would hold " + partitions
          + " partitions, over the " + scope + " quota of " + maxPartitions, maxPartitions, partitions));
    }
    if (projectedBytes > maxBytes) {
      return Optional.of(new Violation(BYTES, aggregate + " is projected to hold " + projectedBytes
          + " bytes (velocity x span of its partitions), over the " + scope + " quota of " + maxBytes + " bytes",
          maxBytes, projectedBytes));
    }
    return Optional.empty();
  }
}
