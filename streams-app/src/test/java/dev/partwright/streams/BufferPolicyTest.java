package dev.partwright.streams;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class BufferPolicyTest {

  private final BufferPolicy policy = new BufferPolicy(30, 90, 0.10, 1000);

  @Test
  void quietOrFlatOrNewAggregatesStayAtTheMinimum() {
    assertThat(policy.depthDays(Forecast.NONE)).isEqualTo(30);
    assertThat(policy.depthDays(new Forecast(50_000, 40_000, 1))).as("one day: no trend yet").isEqualTo(30);
    assertThat(policy.depthDays(new Forecast(100, 50, 14))).as("fast growth but tiny volume").isEqualTo(30);
    assertThat(policy.depthDays(new Forecast(50_000, 0, 14))).as("flat").isEqualTo(30);
    assertThat(policy.depthDays(new Forecast(50_000, -5_000, 14))).as("shrinking").isEqualTo(30);
  }

  @Test
  void depthGrowsLinearlyWithGrowthUpToTheMaximum() {
    assertThat(policy.depthDays(new Forecast(10_000, 250, 14))).as("2.5 %/day").isEqualTo(45);
    assertThat(policy.depthDays(new Forecast(10_000, 500, 14))).as("5 %/day").isEqualTo(60);
    assertThat(policy.depthDays(new Forecast(10_000, 1_000, 14))).as("10 %/day").isEqualTo(90);
    assertThat(policy.depthDays(new Forecast(10_000, 5_000, 14))).as("50 %/day, capped").isEqualTo(90);
  }

  @Test
  void boundsAreOneTo366AndMaxNotBelowMin() {
    assertThatThrownBy(() -> new BufferPolicy(0, 90, 0.1, 0)).hasMessageContaining("between 1 and 366");
    assertThatThrownBy(() -> new BufferPolicy(30, 367, 0.1, 0)).hasMessageContaining("and 366");
    assertThatThrownBy(() -> new BufferPolicy(30, 29, 0.1, 0)).hasMessageContaining("min (30)");
    assertThat(new BufferPolicy(1, 366, 0.1, 0).depthDays(new Forecast(10, 10, 3))).isEqualTo(366);
  }

  @Test
  void aTablesOwnBufferRaisesTheMinimumWithinTheConfigsMaximum() {
    PlannerConfig config = PlannerConfig.defaults(java.util.Map.of());
    TablePolicy seven = TablePolicy.dailyShared("s", "t").withBufferDays(7);
    TablePolicy hundred = TablePolicy.dailyShared("s", "t").withBufferDays(120);
    assertThat(config.bufferOf(seven).minDays()).isEqualTo(7);
    assertThat(config.bufferOf(seven).maxDays()).isEqualTo(90);
    assertThat(config.bufferOf(hundred).minDays()).isEqualTo(120);
    assertThat(config.bufferOf(hundred).maxDays()).isEqualTo(120);
  }
}
