package dev.partwright.streams;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class QuotaAndRateLimitTest {

  @Test
  void underEveryLimitPasses() {
    assertThat(Quota.check("a/s.t", 10, 1000, new Quota(10, 1000), Quota.UNLIMITED)).isEmpty();
  }

  @Test
  void tableLimitsAreCheckedBeforeTenantLimitsAndPartitionsBeforeBytes() {
    Quota.Violation v = Quota.check("a/s.t", 11, 5000, new Quota(10, 1000), new Quota(5, 10)).orElseThrow();
    assertThat(v.code()).isEqualTo(Quota.PARTITIONS);
    assertThat(v.reason()).contains("a/s.t would hold 11 partitions, over the table quota of 10");
    assertThat(v.limit()).isEqualTo(10);
    assertThat(v.projected()).isEqualTo(11);

    Quota.Violation bytes = Quota.check("a/s.t", 3, 5000, Quota.UNLIMITED, new Quota(5, 1000)).orElseThrow();
    assertThat(bytes.code()).isEqualTo(Quota.BYTES);
    assertThat(bytes.reason()).contains("5000 bytes").contains("tenant quota of 1000 bytes");
  }

  @Test
  void nullLimitsAreUnlimited() {
    assertThat(Quota.of(null, null).unlimited()).isTrue();
    assertThat(Quota.of(3, null)).isEqualTo(new Quota(3, Long.MAX_VALUE));
  }

  @Test
  void bucketRefillsOneTokenPerPeriodUpToTheBurst() {
    RateLimit limit = new RateLimit(3, Duration.ofSeconds(10), Duration.ofSeconds(1));
    assertThat(limit.refill(0, 0, 5_000)).isEqualTo(0.5);
    assertThat(limit.refill(0, 0, 20_000)).isEqualTo(2.0);
    assertThat(limit.refill(0, 0, 1_000_000)).isEqualTo(3.0);
    assertThat(limit.refill(2, 10_000, 5_000)).as("clock going back earns nothing").isEqualTo(2.0);
  }
}
