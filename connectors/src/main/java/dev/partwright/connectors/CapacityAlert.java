package dev.partwright.connectors;

import java.time.Instant;

/**
 * A capacity alert on {@code partwright.alerts}: a command was rejected because the managed table
 * is at its quota. Published as a JSON object (UTF-8, Kafka key: the aggregate id), in the same
 * Kafka transaction as the {@code Rejected} outcome, so an operator's alerting sees every rejection
 * exactly once. Fields are those of this record, plus {@code "type": "capacity"}.
 */
public record CapacityAlert(
    String code,
    String aggregateId,
    String table,
    String idempotencyKey,
    long partitions,
    long maxPartitions,
    long requested,
    long bytes,
    long maxBytes,
    String worker,
    Instant at) {

  public String toJson() {
    return "{\"type\":\"capacity\""
        + ",\"code\":" + quote(code)
        + ",\"aggregateId\":" + quote(aggregateId)
        + ",\"table\":" + quote(table)
        + ",\"idempotencyKey\":" + quote(idempotencyKey)
        + ",\"partitions\":" + partitions
        + ",\"maxPartitions\":" + maxPartitions
        + ",\"requested\":" + requested
        + ",\"bytes\":" + bytes
        + ",\"maxBytes\":" + maxBytes
        + ",\"worker\":" + quote(worker)
        + ",\"at\":" + quote(at.toString())
        + "}";
  }

  /** A JSON string literal (RFC 8259): quote, backslash and control characters escaped. */
  static String quote(String s) {
    StringBuilder out = new StringBuilder(s.length() + 2).append('"');
    for (int i = 0; i < s.length(); i++) {
      char ch = s.charAt(i);
      switch (ch) {
        case '"' -> out.append("\\\"");
        case '\\' -> out.append("\\\\");
        case '\n' -> out.append("\\n");
        case '\r' -> out.append("\\r");
        case '\t' -> out.append("\\t");
        default -> {
          if (ch < 0x20) {
            out.append(String.format("\\u%04x", (int) ch));
          } else {
            out.append(ch);
          }
        }
      }
    }
    return out.append('"').toString();
  }
}
