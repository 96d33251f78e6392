package dev.partwright.router;

/** No partition of {@code table} accepts {@code value}, and the table has no DEFAULT partition. */
public final class PartitionNotFoundException extends RuntimeException {

  private final String table;
  private final Object value;
  private final String nearestCoveredRange;

  public PartitionNotFoundException(String table, Object value, String nearestCoveredRange) {
    super("no partition of " + table + " covers " + value
        + (nearestCoveredRange == null ? " (the router knows no partition of it)" : "; nearest covered range: " + nearestCoveredRange));
    this.table = table;
    this.value = value;
    this.nearestCoveredRange = nearestCoveredRange;
  }

  public String table() {
    return table;
  }

  public Object value() {
    return value;
  }

  /** The covered range closest to the value, or null when nothing is covered. */
  public String nearestCoveredRange() {
    return nearestCoveredRange;
  }
}
