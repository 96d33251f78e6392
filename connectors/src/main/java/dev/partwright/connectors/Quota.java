package dev.partwright.connectors;

/**
 * How large one managed table may grow: partitions below its root (every level) and bytes of its
 * leaves with their indexes and TOAST. A command that would go over is rejected before any DDL.
 *
 * @param maxPartitions most partitions the tree may hold after the command
 * @param maxBytes the tree's size at or above which no partition is added any more
 */
public record Quota(long maxPartitions, long maxBytes) {

  public static final Quota UNLIMITED = new Quota(Long.MAX_VALUE, Long.MAX_VALUE);

  public Quota {
    if (maxPartitions < 0 || maxBytes < 0) {
      throw new IllegalArgumentException("quota limits must be >= 0, got " + maxPartitions + " partitions, "
          + maxBytes + " bytes");
    }
  }
}
