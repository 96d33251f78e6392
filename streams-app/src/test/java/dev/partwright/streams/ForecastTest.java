package dev.partwright.streams;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class ForecastTest {

  private static final Forecast.Smoothing S = Forecast.Smoothing.DEFAULT;

  @Test
  void noHistoryIsNone() {
    assertThat(Forecast.holt(List.of(), S)).isEqualTo(Forecast.NONE);
    assertThat(Forecast.NONE.growthPerDay()).isZero();
  }

  @Test
  void oneDayHasALevelButNoTrend() {
    Forecast f = Forecast.holt(List.of(500.0), S);
    assertThat(f.level()).isEqualTo(500.0);
    assertThat(f.trend()).isZero();
    assertThat(f.days()).isEqualTo(1);
  }

  @Test
  void flatVolumeHasNoTrend() {
    Forecast f = Forecast.holt(List.of(1000.0, 1000.0, 1000.0, 1000.0, 1000.0), S);
    assertThat(f.level()).isCloseTo(1000.0, within(1e-9));
    assertThat(f.trend()).isCloseTo(0.0, within(1e-9));
    assertThat(f.project(30)).isCloseTo(1000.0, within(1e-9));
  }

  @Test
  void linearGrowthIsFoundAsTheTrend() {
    List<Double> days = new ArrayList<>();
    for (int d = 0; d < 60; d++) {
      days.add(1000.0 + 100.0 * d);
    }
    Forecast f = Forecast.holt(days, S);
    // Holt's method converges on a linear series: level on the last value, trend on the slope
    assertThat(f.trend()).isCloseTo(100.0, within(0.5));
    assertThat(f.level()).isCloseTo(6900.0, within(5.0));
    assertThat(f.project(10)).isCloseTo(7900.0, within(10.0));
    assertThat(f.growthPerDay()).isCloseTo(100.0 / 6900.0, within(1e-3));
  }

  @Test
  void shrinkingVolumeHasANegativeTrendAndNeverProjectsBelowZero() {
    Forecast f = Forecast.holt(List.of(1000.0, 800.0, 600.0, 400.0, 200.0), S);
    assertThat(f.trend()).isNegative();
    assertThat(f.growthPerDay()).isNegative();
    assertThat(f.project(100)).isZero();
  }

  @Test
  void theDailySeriesHoldsCompleteDaysFromTheFirstWithDataWithGapsAsZero() {
    long today = 20_000;
    java.util.Map<Long, Double> rows = java.util.Map.of(
        today - 40, 1.0,  // older than the history: ignored
        today - 3, 700.0,
        today - 1, 900.0,
        today, 5000.0);   // today is not complete: ignored
    assertThat(Forecast.dailySeries(rows, today, 28)).containsExactly(700.0, 0.0, 900.0);
    assertThat(Forecast.dailySeries(java.util.Map.of(), today, 28)).isEmpty();
  }

  @Test
  void smoothingFactorsAreBounded() {
    assertThatThrownBy(() -> new Forecast.Smoothing(0, 0.3)).hasMessageContaining("(0, 1]");
    assertThatThrownBy(() -> new Forecast.Smoothing(0.5, 1.5)).hasMessageContaining("(0, 1]");
  }
}
