package dev.partwright.bench;

import java.util.Arrays;

/** Summaries the benchmarks share. */
public final class Stats {

  private Stats() {}

  /** The median of {@code values} (the mean of the middle two for an even count); {@code values} is not changed. */
  public static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    int m = sorted.length / 2;
    return sorted.length % 2 == 1 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
  }
}
