package dev.partwright.streams;

import java.nio.ByteBuffer;
import java.time.Instant;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;

/**
 * What one task read of one aggregate's events, within one velocity window, since it last told the
 * planner: events, rows, bytes, and the earliest and latest event time. The planner works on these,
 * not on single events, so the repartition topic and the stores see one record per aggregate and
 * summary period instead of one per event.
 */
record DemandSummary(long events, long rows, long bytes, Instant earliest, Instant latest) {

  /** The summary's counts as one window's demand (horizon: the latest event time). */
  Demand demand() {
    return new Demand(events, rows, bytes, latest);
  }

  /** Internal topic only (the repartition topic): a fixed 40-byte layout, no schema to look up per record. */
  static Serde<DemandSummary> serde() {
    return Serdes.serdeFrom(
        (topic, s) -> s == null ? null : ByteBuffer.allocate(40).putLong(s.events).putLong(s.rows).putLong(s.bytes)
            .putLong(Coverage.micros(s.earliest)).putLong(Coverage.micros(s.latest)).array(),
        (topic, bytes) -> {
          if (bytes == null) {
            return null;
          }
          ByteBuffer b = ByteBuffer.wrap(bytes);
          return new DemandSummary(b.getLong(), b.getLong(), b.getLong(), Coverage.ofMicros(b.getLong()),
              Coverage.ofMicros(b.getLong()));
        });
  }
}
