package dev.partwright.streams;

import static dev.partwright.streams.Harness.NOW;
import static org.assertj.core.api.Assertions.assertThat;

import dev.partwright.schemas.CommandLogEntry;
import dev.partwright.schemas.ProvisionPartitions;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.streams.state.WindowStore;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Tumbling demand windows, the forecast over daily windows, and the buffer depth it gives each tenant. */
class WindowsAndForecastTopologyTest {

  private static final TablePolicy SHARED = TablePolicy.dailyShared("public", "events");
  private static final TablePolicy PER_TENANT =
      new TablePolicy("public", "usage", Interval.DAY, ZoneId.of("UTC"), false).perTenant("recorded_at");
  private Harness h;

  @AfterEach
  void stop() {
    h.close();
  }

  @Test
  void velocityWindowsCountEventsRowsBytesAndTheHorizonPerAggregate() {
    h = new Harness(PlannerConfig.defaults(Map.of(SHARED.qualifiedName(), SHARED)));
    Instant window = Instant.parse("2026-11-25T10:15:00Z"); // NOW is on a minute boundary
    h.send("acme", "events", NOW.plus(Duration.ofDays(1)), window, 100L, null);
    h.send("globex", "events", NOW.plus(Duration.ofDays(5)), window.plusSeconds(10), 200L, 4L);
    h.send("acme", "events", NOW.plus(Duration.ofDays(2)), window.plusSeconds(70), 300L, null);
    // held events go to the planner as summaries once a second, the planner writes its open windows
    // to the stores once a second: two seconds cover both, in whichever order they fire
    h.advance(Duration.ofSeconds(1));
    h.advance(Duration.ofSeconds(1));

    WindowStore<String, Demand> velocity = h.driver.getWindowStore(DemandTopology.VELOCITY_STORE);
    assertThat(velocity.fetch("*/public.events", window.toEpochMilli()))
        .isEqualTo(new Demand(2, 5, 300, NOW.plus(Duration.ofDays(5))));
    assertThat(velocity.fetch("*/public.events", window.plusSeconds(60).toEpochMilli()))
        .isEqualTo(new Demand(1, 1, 300, NOW.plus(Duration.ofDays(2))));
    WindowStore<String, Demand> daily = h.driver.getWindowStore(DemandTopology.DAILY_STORE);
    assertThat(daily.fetch("*/public.events", Instant.parse("2026-11-25T00:00:00Z").toEpochMilli()))
        .isEqualTo(new Demand(3, 6, 600, NOW.plus(Duration.ofDays(5))));
  }

  @Test
  void everyPlannerStoreIsChangelogged() {
    h = new Harness(PlannerConfig.defaults(Map.of(SHARED.qualifiedName(), SHARED)));
    String description = h.driver.producedTopicNames().toString();
    h.send("acme", "events", NOW);
    h.advance(Duration.ofSeconds(1)); // a commit flushes the caches of the window and state stores
    h.send("acme", "events", NOW);
    description = h.driver.producedTopicNames().toString();
    for (String store : List.of(DemandTopology.COVERAGE_STORE, DemandTopology.STATE_STORE,
        DemandTopology.VELOCITY_STORE, DemandTopology.DAILY_STORE)) {
      assertThat(description).contains("demand-test-" + store + "-changelog");
    }
  }

  @Test
  void aGrowingTenantGetsADeeperBufferAndAQuietOneStaysAtTheMinimum() {
    h = new Harness(PlannerConfig.defaults(Map.of(PER_TENANT.qualifiedName(), PER_TENANT)));
    // 14 days of history, one batch event a day standing for that day's rows
    for (int d = 14; d >= 1; d--) {
      Instant day = NOW.minus(Duration.ofDays(d));
      int age = 14 - d;
      h.send("rocket", "usage", day, day, null, Math.round(2000 * Math.pow(1.20, age))); // +20 %/day
      h.send("steady", "usage", day, day, null, Math.round(2000 * Math.pow(1.05, age))); // +5 %/day
      h.send("flat", "usage", day, day, null, 5000L);
      h.send("tiny", "usage", day, day, null, Math.round(10 * Math.pow(1.3, age))); // +30 %/day, but quiet
    }
    h.advance(Duration.ofMinutes(2)); // rate-limited extensions are flushed
    Map<String, Instant> coveredTo = coverageEnds(h.log.readValuesToList());

    Instant today = Interval.DAY.floor(NOW, ZoneId.of("UTC"));
    assertThat(coveredTo.get("rocket")).isEqualTo(Planner.bufferEnd(NOW, PER_TENANT, 90));
    assertThat(coveredTo.get("steady")).isEqualTo(Planner.bufferEnd(NOW, PER_TENANT, 56));
    assertThat(coveredTo.get("flat")).isEqualTo(Planner.bufferEnd(NOW, PER_TENANT, 30));
    assertThat(coveredTo.get("tiny")).isEqualTo(Planner.bufferEnd(NOW, PER_TENANT, 30));
    assertThat(today.plus(Duration.ofDays(31))).isEqualTo(coveredTo.get("flat"));

    assertThat(h.meters.get("partwright.buffer.days").tag("tenant", "rocket").gauge().value()).isEqualTo(90.0);
    assertThat(h.meters.get("partwright.buffer.days").tag("tenant", "flat").gauge().value()).isEqualTo(30.0);
  }

  private static Map<String, Instant> coverageEnds(List<CommandLogEntry> entries) {
    Map<String, Instant> ends = new HashMap<>();
    for (CommandLogEntry e : entries) {
      if (e.getEntry() instanceof ProvisionPartitions c) {
        String tenant = e.getAggregateId().substring(0, e.getAggregateId().indexOf('/'));
        ends.merge(tenant, Harness.end(c), (a, b) -> a.isAfter(b) ? a : b);
      }
    }
    return ends;
  }
}
