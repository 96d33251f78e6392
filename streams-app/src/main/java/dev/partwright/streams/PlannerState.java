package dev.partwright.streams;

import java.nio.ByteBuffer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;

/**
 * What the planner remembers of one aggregate besides its coverage (changelogged, restorable).
 *
 * @param tokens the aggregate's command tokens at {@code tokensAtMs} (rate limit)
 * @param tokensAtMs wall-clock time the tokens were counted
 * @param bufferDays the buffer depth the forecast last gave; 0 before the first forecast
 * @param depthWallDay wall-clock epoch day the depth was computed on
 * @param depthDataDay newest record-time epoch day the depth saw
 * @param rejected the range whose plan was last rejected for quota, so demand inside it is not
 *     rejected (and alerted) again for every event; null when the last plan went through
 */
record PlannerState(double tokens, long tokensAtMs, int bufferDays, long depthWallDay, long depthDataDay,
    Coverage rejected) {

  private static final byte VERSION = 1;

  static PlannerState fresh(int burst, long nowMs) {
    return new PlannerState(burst, nowMs, 0, Long.MIN_VALUE, Long.MIN_VALUE, null);
  }

  PlannerState withTokens(double t, long atMs) {
    return new PlannerState(t, atMs, bufferDays, depthWallDay, depthDataDay, rejected);
  }

  PlannerState withDepth(int days, long wallDay, long dataDay) {
    return new PlannerState(tokens, tokensAtMs, days, wallDay, dataDay, rejected);
  }

  PlannerState withRejected(Coverage range) {
    return new PlannerState(tokens, tokensAtMs, bufferDays, depthWallDay, depthDataDay, range);
  }

  static Serde<PlannerState> serde() {
    return Serdes.serdeFrom(
        (topic, s) -> s == null ? null : ByteBuffer.allocate(1 + 8 + 8 + 4 + 8 + 8 + 1 + 16)
            .put(VERSION).putDouble(s.tokens).putLong(s.tokensAtMs).putInt(s.bufferDays)
            .putLong(s.depthWallDay).putLong(s.depthDataDay)
            .put((byte) (s.rejected == null ? 0 : 1))
            .putLong(s.rejected == null ? 0 : Coverage.micros(s.rejected.from()))
            .putLong(s.rejected == null ? 0 : Coverage.micros(s.rejected.to()))
            .array(),
        (topic, bytes) -> {
          if (bytes == null) {
            return null;
          }
          ByteBuffer b = ByteBuffer.wrap(bytes);
          byte version = b.get();
          if (version != VERSION) {
            throw new IllegalStateException("planner state of unknown version " + version + " in " + topic);
          }
          double tokens = b.getDouble();
          long at = b.getLong();
          int depth = b.getInt();
          long wallDay = b.getLong();
          long dataDay = b.getLong();
          boolean rejected = b.get() == 1;
          long from = b.getLong();
          long to = b.getLong();
          return new PlannerState(tokens, at, depth, wallDay, dataDay,
              rejected ? new Coverage(Coverage.ofMicros(from), Coverage.ofMicros(to)) : null);
        });
  }
}
