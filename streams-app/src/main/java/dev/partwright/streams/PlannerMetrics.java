package dev.partwright.streams;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The planner's meters:
 *
 * <ul>
 *   <li>{@code partwright.planner.events}: ingestion events planned for;</li>
 *   <li>{@code partwright.planner.commands{table}}: commands emitted;</li>
 *   <li>{@code partwright.planner.rejected{table,code}}: plans over quota, recorded as {@code Rejected};</li>
 *   <li>{@code partwright.planner.deferred{table}}: plans held back by the rate limit;</li>
 *   <li>{@code partwright.coverage.until{table,tenant}}: epoch seconds each aggregate is commanded up to;</li>
 *   <li>{@code partwright.runway.seconds{table,tenant}}: that minus now — how far ahead it is covered;</li>
 *   <li>{@code partwright.buffer.days{table,tenant}}: the forecast's buffer depth.</li>
 * </ul>
 *
 * Gauges exist for the aggregates this instance's tasks own.
 */
public final class PlannerMetrics {

  private final MeterRegistry registry;
  private final Map<String, AtomicLong> coveredUntil = new ConcurrentHashMap<>();
  private final Map<String, AtomicLong> bufferDays = new ConcurrentHashMap<>();

  private final Counter events;

  public PlannerMetrics(MeterRegistry registry) {
    this.registry = registry;
    this.events = Counter.builder("partwright.planner.events").description("Ingestion events planned for")
        .register(registry);
  }

  void events(long count) {
    events.increment(count);
  }

  void command(String table) {
    registry.counter("partwright.planner.commands", "table", table).increment();
  }

  void rejected(String table, String code) {
    registry.counter("partwright.planner.rejected", "table", table, "code", code).increment();
  }

  void deferred(String table) {
    registry.counter("partwright.planner.deferred", "table", table).increment();
  }

  void covered(String tenant, String table, Instant until) {
    coveredUntil.computeIfAbsent(tenant + "/" + table, k -> {
      AtomicLong holder = new AtomicLong();
      Gauge.builder("partwright.coverage.until", holder, AtomicLong::get)
          .description("Epoch seconds up to which the aggregate's partitions are commanded")
          .baseUnit("seconds").tags("table", table, "tenant", tenant).strongReference(true).register(registry);
      Gauge.builder("partwright.runway.seconds", holder, h -> h.get() - Instant.now().getEpochSecond())
          .description("How far ahead of now the aggregate is covered")
          .baseUnit("seconds").tags("table", table, "tenant", tenant).strongReference(true).register(registry);
      return holder;
    }).set(until.getEpochSecond());
  }

  void buffer(String tenant, String table, int days) {
    bufferDays.computeIfAbsent(tenant + "/" + table, k -> {
      AtomicLong holder = new AtomicLong();
      Gauge.builder("partwright.buffer.days", holder, AtomicLong::get)
          .description("Forward buffer the forecast gives the aggregate")
          .tags("table", table, "tenant", tenant).strongReference(true).register(registry);
      return holder;
    }).set(days);
  }
}
