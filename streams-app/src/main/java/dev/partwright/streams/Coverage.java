package dev.partwright.streams;

import java.nio.ByteBuffer;
import java.time.Instant;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;

/** The contiguous range {@code [from, to)} an aggregate's commands already cover. */
public record Coverage(Instant from, Instant to) {

  public Coverage {
    if (!from.isBefore(to)) {
      throw new IllegalArgumentException("empty coverage " + from + " .. " + to);
    }
  }

  public Coverage union(Instant otherFrom, Instant otherTo) {
    return new Coverage(from.isBefore(otherFrom) ? from : otherFrom, to.isAfter(otherTo) ? to : otherTo);
  }

  static Serde<Coverage> serde() {
    return Serdes.serdeFrom(
        (topic, c) -> c == null ? null
            : ByteBuffer.allocate(16).putLong(micros(c.from)).putLong(micros(c.to)).array(),
        (topic, bytes) -> {
          if (bytes == null) {
            return null;
          }
          ByteBuffer b = ByteBuffer.wrap(bytes);
          return new Coverage(ofMicros(b.getLong()), ofMicros(b.getLong()));
        });
  }

  static long micros(Instant t) {
    return Math.addExact(Math.multiplyExact(t.getEpochSecond(), 1_000_000L), t.getNano() / 1_000);
  }

  static Instant ofMicros(long micros) {
    return Instant.ofEpochSecond(Math.floorDiv(micros, 1_000_000L), Math.floorMod(micros, 1_000_000L) * 1_000L);
  }
}
