package dev.partwright.streams;

/**
 * How deep an aggregate's forward buffer is, from the forecast of its daily volume. A quiet
 * aggregate (too little volume, or no growth, or under two days of history) keeps the minimum; a
 * growing one gets more, linearly in its relative growth per day, reaching the maximum at
 * {@code fullGrowthPerDay}:
 *
 * <pre>
 *   depth = min + round((max - min) * clamp(growthPerDay / fullGrowthPerDay, 0, 1))
 * </pre>
 *
 * A deeper buffer buys a fast-growing tenant runway: more of its future is provisioned, so its
 * surge meets ready partitions and a failing worker has longer before writes reach DEFAULT.
 *
 * @param minDays buffer of a quiet aggregate (1–366)
 * @param maxDays buffer of a fast-growing aggregate (minDays–366)
 * @param fullGrowthPerDay relative daily growth at which the maximum applies (e.g. 0.10 = 10 %/day)
 * @param quietDailyVolume below this forecast daily volume (rows) an aggregate stays at the minimum
 */
public record BufferPolicy(int minDays, int maxDays, double fullGrowthPerDay, double quietDailyVolume) {

  public static final int MIN_DAYS = 1;
  public static final int MAX_DAYS = 366;

  public BufferPolicy {
    if (minDays < MIN_DAYS || minDays > MAX_DAYS) {
      throw new IllegalArgumentException("min buffer days must be between 1 and 366, got " + minDays);
    }
    if (maxDays < minDays || maxDays > MAX_DAYS) {
      throw new IllegalArgumentException(
          "max buffer days must be between the min (" + minDays + ") and 366, got " + maxDays);
    }
    if (!(fullGrowthPerDay > 0)) {
      throw new IllegalArgumentException("full growth per day must be positive, got " + fullGrowthPerDay);
    }
    if (quietDailyVolume < 0) {
      throw new IllegalArgumentException("quiet daily volume must not be negative, got " + quietDailyVolume);
    }
  }

  /** Buffer depth in days for an aggregate with this forecast. */
  public int depthDays(Forecast forecast) {
    if (forecast.days() < 2 || forecast.level() < quietDailyVolume) {
      return minDays;
    }
    double share = Math.max(0, Math.min(1, forecast.growthPerDay() / fullGrowthPerDay));
    return minDays + (int) Math.round((maxDays - minDays) * share);
  }
}
