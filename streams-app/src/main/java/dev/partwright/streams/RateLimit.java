package dev.partwright.streams;

import java.time.Duration;

/**
 * A token bucket on the commands (and rejections) one aggregate may emit: {@code burst} at once,
 * then one per {@code refillEvery}. Demand beyond it is not lost but deferred and merged into one
 * command when a token is back, so a tenant flooding the topology with ever-further event times
 * cannot bury other tenants' commands under its own on the log and at the workers.
 *
 * @param burst commands an aggregate may emit back to back (>= 1)
 * @param refillEvery time to earn one more token
 * @param flushEvery how often deferred demand is looked at (wall-clock punctuation)
 */
public record RateLimit(int burst, Duration refillEvery, Duration flushEvery) {

  public static final RateLimit DEFAULT = new RateLimit(5, Duration.ofSeconds(10), Duration.ofMillis(500));

  public RateLimit {
    if (burst < 1) {
      throw new IllegalArgumentException("burst must be >= 1, got " + burst);
    }
    if (refillEvery.isNegative() || refillEvery.isZero()) {
      throw new IllegalArgumentException("refill period must be positive, got " + refillEvery);
    }
    if (flushEvery.isNegative() || flushEvery.isZero()) {
      throw new IllegalArgumentException("flush period must be positive, got " + flushEvery);
    }
  }

  /** Tokens of a bucket that held {@code tokens} at {@code sinceMs}, at {@code nowMs}. */
  public double refill(double tokens, long sinceMs, long nowMs) {
    double earned = Math.max(0, nowMs - sinceMs) / (double) refillEvery.toMillis();
    return Math.min(burst, tokens + earned);
  }
}
