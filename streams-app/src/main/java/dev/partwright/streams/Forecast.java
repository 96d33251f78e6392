package dev.partwright.streams;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Holt's linear method (double exponential smoothing) over an aggregate's daily volume, oldest day
 * first. With observations {@code x_1..x_n}:
 *
 * <pre>
 *   level_1 = x_1,   trend_1 = 0
 *   level_t = alpha * x_t + (1 - alpha) * (level_{t-1} + trend_{t-1})
 *   trend_t = beta * (level_t - level_{t-1}) + (1 - beta) * trend_{t-1}
 *   forecast(h) = level_n + h * trend_n
 * </pre>
 *
 * Holt rather than a plain EWMA because the question is "how fast is this tenant growing", which an
 * EWMA (level only) cannot answer; the trend starts at 0, so one day of data says nothing about growth.
 *
 * @param level smoothed daily volume after the last day
 * @param trend smoothed change of the daily volume per day
 * @param days number of days the forecast was fitted on
 */
public record Forecast(double level, double trend, int days) {

  /** No history at all. */
  public static final Forecast NONE = new Forecast(0, 0, 0);

  /**
   * Smoothing factors, each in (0, 1]: higher follows recent days more closely.
   *
   * @param alpha weight of the newest day in the level
   * @param beta weight of the newest level change in the trend
   */
  public record Smoothing(double alpha, double beta) {
    public static final Smoothing DEFAULT = new Smoothing(0.5, 0.3);

    public Smoothing {
      if (!(alpha > 0 && alpha <= 1) || !(beta > 0 && beta <= 1)) {
        throw new IllegalArgumentException("smoothing factors must be in (0, 1], got alpha " + alpha + ", beta " + beta);
      }
    }
  }

  /** Fits Holt's method to the daily volumes, oldest first. */
  public static Forecast holt(List<Double> dailyVolumes, Smoothing smoothing) {
    if (dailyVolumes.isEmpty()) {
      return NONE;
    }
    double level = dailyVolumes.get(0);
    double trend = 0;
    for (int t = 1; t < dailyVolumes.size(); t++) {
      double previous = level;
      level = smoothing.alpha() * dailyVolumes.get(t) + (1 - smoothing.alpha()) * (level + trend);
      trend = smoothing.beta() * (level - previous) + (1 - smoothing.beta()) * trend;
    }
    return new Forecast(level, trend, dailyVolumes.size());
  }

  /**
   * The series the forecast is fitted on: rows of each complete day in the {@code historyDays}
   * before {@code today} (epoch days), oldest first, starting at the first day with data (an
   * aggregate's history starts when it does), days without data as 0.
   */
  public static List<Double> dailySeries(Map<Long, Double> rowsByEpochDay, long today, int historyDays) {
    long first = today - historyDays;
    long start = today;
    for (long day : rowsByEpochDay.keySet()) {
      if (day >= first && day < today && day < start) {
        start = day;
      }
    }
    List<Double> series = new ArrayList<>();
    for (long day = start; day < today; day++) {
      series.add(rowsByEpochDay.getOrDefault(day, 0.0));
    }
    return series;
  }

  /** Expected daily volume {@code daysAhead} days after the last observed day (never negative). */
  public double project(int daysAhead) {
    return Math.max(0, level + daysAhead * trend);
  }

  /** Relative growth per day ({@code trend / level}); 0 without a positive level. */
  public double growthPerDay() {
    return level <= 0 ? 0 : trend / level;
  }
}
