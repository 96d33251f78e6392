package dev.partwright.commandstore;

import java.time.Duration;
import java.util.Objects;

/**
 * When the snapshot writer writes: after {@code everyRecords} records, or when {@code every} has
 * passed since the last snapshot and there is anything new, whichever comes first.
 */
public record SnapshotPolicy(long everyRecords, Duration every) {

  public SnapshotPolicy {
    Objects.requireNonNull(every, "every");
    if (everyRecords < 1) {
      throw new IllegalArgumentException("everyRecords must be >= 1, got " + everyRecords);
    }
    if (every.isNegative() || every.isZero()) {
      throw new IllegalArgumentException("every must be positive, got " + every);
    }
  }

  /** Every 10,000 records or 60 seconds: replay reads at most that much tail per partition. */
  public static SnapshotPolicy defaults() {
    return new SnapshotPolicy(10_000, Duration.ofSeconds(60));
  }
}
