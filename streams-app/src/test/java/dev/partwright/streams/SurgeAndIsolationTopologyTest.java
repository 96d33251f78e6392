package dev.partwright.streams;

import static dev.partwright.streams.Harness.NOW;
import static org.assertj.core.api.Assertions.assertThat;

import dev.partwright.schemas.CommandLogEntry;
import dev.partwright.schemas.ListBound;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.ProvisionPartitions;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Surges and new tenants are commanded with the event that reveals them (no wall-clock advance:
 * within the same commit); a flooding tenant is rate-limited without delaying anyone else; idle
 * aggregates are kept covered as time passes.
 */
class SurgeAndIsolationTopologyTest {

  private static final ZoneId UTC = ZoneId.of("UTC");
  private static final TablePolicy HOURLY = new TablePolicy("public", "metrics", Interval.HOUR, UTC, false)
      .perTenant("recorded_at");
  private static final TablePolicy DAILY = TablePolicy.dailyShared("public", "events");
  private Harness h;

  @AfterEach
  void stop() {
    h.close();
  }

  private PlannerConfig config() {
    return PlannerConfig.defaults(Map.of(HOURLY.qualifiedName(), HOURLY, DAILY.qualifiedName(), DAILY))
        .withRateLimit(new RateLimit(3, Duration.ofSeconds(10), Duration.ofMillis(500)));
  }

  @Test
  void aNeverSeenTenantGetsItsPartitionsWithItsFirstEvent() {
    h = new Harness(config());
    h.send("acme", "metrics", NOW);
    h.log.readValuesToList();

    h.send("globex", "metrics", NOW.plus(Duration.ofMinutes(5)));

    List<ProvisionPartitions> commands = Harness.commands(h.log.readValuesToList());
    assertThat(commands).hasSize(1);
    List<PartitionSpec> parts = commands.get(0).getPartitions();
    assertThat(commands.get(0).getHeader().getAggregateId()).isEqualTo("globex/public.metrics");
    assertThat(parts.get(0).getName()).isEqualTo("metrics_globex");
    assertThat(parts.get(0).getBound()).isInstanceOf(ListBound.class);
    assertThat(parts.get(1).getName()).isEqualTo("metrics_globex_p20261125_10");
    assertThat(Harness.end(commands.get(0))).isEqualTo(Planner.bufferEnd(NOW, HOURLY, 30));
    assertThat(parts).hasSize(1 + 30 * 24 + 1);
  }

  @Test
  void aSurgeBeyondCoverageIsCommandedByTheEventThatRevealsIt() {
    h = new Harness(config());
    h.send("acme", "metrics", NOW);
    h.log.readValuesToList();

    Instant surge = NOW.plus(Duration.ofDays(45)).plus(Duration.ofMinutes(7));
    h.send("acme", "metrics", surge);

    ProvisionPartitions command = Harness.commands(h.log.readValuesToList()).get(0);
    assertThat(Harness.from(command.getPartitions().get(0))).isEqualTo(Planner.bufferEnd(NOW, HOURLY, 30));
    assertThat(Harness.end(command)).isEqualTo(Interval.HOUR.next(Interval.HOUR.floor(surge, UTC), UTC));
  }

  @Test
  void aFloodingTenantIsRateLimitedAndAnotherTenantsCommandStillComesAtOnce() {
    h = new Harness(config());
    // "noisy" pushes its horizon one hour further with every event: each event alone needs a command
    Instant start = NOW.plus(Duration.ofDays(31));
    int flood = 500;
    for (int i = 0; i < flood; i++) {
      h.send("noisy", "metrics", start.plus(Duration.ofHours(i)));
    }
    h.send("quiet", "metrics", NOW);

    List<CommandLogEntry> out = h.log.readValuesToList();
    List<ProvisionPartitions> noisy = Harness.commands(out).stream()
        .filter(c -> c.getHeader().getAggregateId().startsWith("noisy/")).toList();
    List<ProvisionPartitions> quiet = Harness.commands(out).stream()
        .filter(c -> c.getHeader().getAggregateId().startsWith("quiet/")).toList();
    assertThat(noisy).as("noisy is held to its burst").hasSize(3);
    assertThat(quiet).as("quiet's command is not held back by noisy's flood").hasSize(1);
    assertThat(h.meters.get("partwright.planner.deferred").counter().count()).isEqualTo(flood - 3);

    // once a token is back, everything noisy asked for meanwhile comes as one merged command
    h.advance(Duration.ofSeconds(10));
    List<ProvisionPartitions> merged = Harness.commands(h.log.readValuesToList());
    assertThat(merged).hasSize(1);
    assertThat(merged.get(0).getHeader().getAggregateId()).isEqualTo("noisy/public.metrics");
    Instant furthest = start.plus(Duration.ofHours(flood - 1));
    assertThat(Harness.end(merged.get(0))).isEqualTo(Interval.HOUR.next(Interval.HOUR.floor(furthest, UTC), UTC));
    assertThat(Harness.from(merged.get(0).getPartitions().get(0))).isEqualTo(Harness.end(noisy.get(2)));

    h.advance(Duration.ofSeconds(10));
    assertThat(h.log.isEmpty()).as("nothing left deferred").isTrue();
  }

  @Test
  void theSweepKeepsIdleAggregatesCoveredAsTimePasses() {
    h = new Harness(config());
    h.send("acme", "events", NOW);
    ProvisionPartitions first = Harness.commands(h.log.readValuesToList()).get(0);
    assertThat(Harness.end(first)).isEqualTo(Instant.parse("2026-12-26T00:00:00Z"));

    h.advance(Duration.ofDays(2));

    List<ProvisionPartitions> swept = Harness.commands(h.log.readValuesToList());
    assertThat(swept).hasSize(1);
    assertThat(swept.get(0).getPartitions()).extracting(PartitionSpec::getName)
        .containsExactly("events_p20261226", "events_p20261227");
    assertThat(h.meters.get("partwright.coverage.until").tag("table", "public.events").tag("tenant", "*").gauge().value())
        .isEqualTo((double) Instant.parse("2026-12-28T00:00:00Z").getEpochSecond());
  }
}
