package dev.partwright.streams;

import static dev.partwright.streams.Harness.NOW;
import static org.assertj.core.api.Assertions.assertThat;

import dev.partwright.schemas.ProvisionPartitions;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.state.WindowStore;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Events are summarized per aggregate where they are read: the repartition topic and the planner
 * see one summary per aggregate and period for events inside what the planner was already told,
 * and an event outside it at once. Events here carry no key, so every summary takes the
 * repartition topic and can be counted there.
 */
class DemandSummaryTopologyTest {

  private static final ZoneId UTC = ZoneId.of("UTC");
  private static final TablePolicy USAGE = new TablePolicy("public", "usage", Interval.DAY, UTC, false)
      .perTenant("recorded_at");
  private Harness h;
  private TestOutputTopic<String, DemandSummary> repartition;

  @BeforeEach
  void start() {
    h = new Harness(PlannerConfig.defaults(Map.of(USAGE.qualifiedName(), USAGE)));
    repartition = h.driver.createOutputTopic("demand-test-summaries-by-aggregate-repartition", new StringDeserializer(),
        DemandSummary.serde().deserializer());
  }

  @AfterEach
  void stop() {
    h.close();
  }

  private void sendUnkeyed(String tenant, Instant eventTime, long bytes) {
    h.sendWithoutKey(tenant, "usage", eventTime, bytes);
  }

  private double planned() {
    return h.meters.get("partwright.planner.events").counter().count();
  }

  @Test
  void eventsInsideWhatThePlannerWasToldTravelAsOneSummaryPerAggregateAndPeriod() {
    sendUnkeyed("acme", NOW, 100);
    assertThat(repartition.readValuesToList()).as("a never-seen aggregate goes on at once")
        .containsExactly(new DemandSummary(1, 1, 100, NOW, NOW));
    assertThat(Harness.commands(h.log.readValuesToList())).hasSize(1);

    for (int i = 1; i <= 999; i++) {
      sendUnkeyed("acme", NOW.plus(Duration.ofMinutes(i * 20L)), 10); // within the first 14 days: inside the buffer
      sendUnkeyed("globex", NOW.plus(Duration.ofHours(i % 48)), 1);
    }
    // globex's first event went on at once, the rest of both is held
    List<DemandSummary> atOnce = repartition.readValuesToList();
    assertThat(atOnce).hasSize(1);
    assertThat(atOnce.get(0).events()).isEqualTo(1);
    assertThat(planned()).isEqualTo(2);

    h.advance(Duration.ofSeconds(1));

    List<org.apache.kafka.streams.KeyValue<String, DemandSummary>> summaries = repartition.readKeyValuesToList();
    assertThat(summaries).extracting(kv -> kv.key).containsExactlyInAnyOrder("acme/public.usage", "globex/public.usage");
    DemandSummary acme = summaries.stream().filter(kv -> kv.key.startsWith("acme/")).findFirst().orElseThrow().value;
    assertThat(acme).isEqualTo(new DemandSummary(999, 999, 9990, NOW.plus(Duration.ofMinutes(20)),
        NOW.plus(Duration.ofMinutes(999 * 20L))));
    assertThat(planned()).isEqualTo(1999);
    assertThat(Harness.commands(h.log.readValuesToList())).as("globex's first command only").hasSize(1);

    h.advance(Duration.ofSeconds(1)); // the planner writes its open windows to the stores once a second
    WindowStore<String, Demand> daily = h.driver.getWindowStore(DemandTopology.DAILY_STORE);
    assertThat(daily.fetch("acme/public.usage", Instant.parse("2026-11-25T00:00:00Z").toEpochMilli()))
        .isEqualTo(new Demand(1000, 1000, 10_090, NOW.plus(Duration.ofMinutes(999 * 20L))));
  }

  @Test
  void anEventOutsideWhatWasSentGoesOnAtOnceWithTheHeldCounts() {
    sendUnkeyed("acme", NOW, 100);
    h.log.readValuesToList();
    repartition.readValuesToList();
    for (int i = 0; i < 50; i++) {
      sendUnkeyed("acme", NOW.plus(Duration.ofDays(3)), 10);
    }
    assertThat(repartition.isEmpty()).isTrue();

    Instant surge = NOW.plus(Duration.ofDays(45));
    sendUnkeyed("acme", surge, 10);

    assertThat(repartition.readValuesToList()).as("no wall-clock advance: the surge did not wait for the period")
        .containsExactly(new DemandSummary(51, 51, 510, NOW.plus(Duration.ofDays(3)), surge));
    ProvisionPartitions command = Harness.commands(h.log.readValuesToList()).get(0);
    assertThat(Harness.end(command)).isEqualTo(Interval.DAY.next(Interval.DAY.floor(surge, UTC), UTC));
    assertThat(command.getHeader().getReason()).contains("51 events of tenant acme");
  }

  @Test
  void aLateEventBehindWhatWasSentGoesOnAtOnceAndExtendsCoverageBackwards() {
    sendUnkeyed("acme", NOW, 100);
    h.log.readValuesToList();

    Instant late = NOW.minus(Duration.ofDays(2));
    sendUnkeyed("acme", late, 10);

    ProvisionPartitions command = Harness.commands(h.log.readValuesToList()).get(0);
    assertThat(Harness.from(command.getPartitions().get(0))).isEqualTo(Interval.DAY.floor(late, UTC));
    assertThat(command.getPartitions()).hasSize(2);
  }
}
