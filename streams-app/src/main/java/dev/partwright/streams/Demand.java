package dev.partwright.streams;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.time.Instant;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;

/**
 * What one tumbling window saw of one aggregate: events, rows, bytes, and the horizon (the
 * furthest event time).
 */
public record Demand(long events, long rows, long bytes, Instant horizon) {

  public static Demand of(long rows, long bytes, Instant eventTime) {
    return new Demand(1, rows, bytes, eventTime);
  }

  public Demand plus(Demand other) {
    if (other == null) {
      return this;
    }
    return new Demand(events + other.events, rows + other.rows, bytes + other.bytes,
        horizon.isAfter(other.horizon) ? horizon : other.horizon);
  }

  /** Velocity over a span: events and bytes per second. */
  public record Velocity(double eventsPerSecond, double bytesPerSecond) {
    public static final Velocity ZERO = new Velocity(0, 0);

    public static Velocity of(Demand demand, Duration span) {
      double seconds = Math.max(1, span.toMillis() / 1000.0);
      return demand == null ? ZERO : new Velocity(demand.events / seconds, demand.bytes / seconds);
    }
  }

  static Serde<Demand> serde() {
    return Serdes.serdeFrom(
        (topic, d) -> d == null ? null : ByteBuffer.allocate(32)
            .putLong(d.events).putLong(d.rows).putLong(d.bytes).putLong(Coverage.micros(d.horizon)).array(),
        (topic, bytes) -> {
          if (bytes == null) {
            return null;
          }
          ByteBuffer b = ByteBuffer.wrap(bytes);
          return new Demand(b.getLong(), b.getLong(), b.getLong(), Coverage.ofMicros(b.getLong()));
        });
  }
}
