package dev.partwright.router;

/**
 * No partition of {@code table} accepts {@code value}, and the table has no DEFAULT partition (or the
 * router was told not to use it). For a composite scheme, {@code table} is the level where routing
 * stopped: the root, or an intermediate partition that has no sub-partition for the value.
 */
public final class PartitionNotFoundException extends RuntimeException {

  private final String table;
  private final Object value;
  private final String nearestCoveredRange;

  public PartitionNotFoundException(String table, Object value, String nearestCoveredRange) {
    super("no partition of " + table + " covers " + value
        + (nearestCoveredRange == null ? " (the router knows no partition of it)" : " (" + nearestCoveredRange + ")"));
    this.table = table;
    this.value = value;
    this.nearestCoveredRange = nearestCoveredRange;
  }

  public String table() {
    return table;
  }

  /** The key value (a {@code List} of them for a multi-column key); null for NULL or when the table is unknown. */
  public Object value() {
    return value;
  }

  /**
   * The covered range closest to the value ({@code partition FROM (..) TO (..)}) for range tables, what
   * was looked for in list and hash tables, or null when the router knows no partition of the table.
   */
  public String nearestCoveredRange() {
    return nearestCoveredRange;
  }
}
