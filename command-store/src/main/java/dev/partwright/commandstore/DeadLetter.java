package dev.partwright.commandstore;

/**
 * A record of the command log that the fold could not apply: unreadable, of an unknown type, or
 * out of order for its aggregate. Replay skips it and goes on; the snapshot writer forwards it to
 * the dead-letter topic.
 *
 * @param topic the commands topic
 * @param partition its partition
 * @param offset its offset
 * @param key the record key (the aggregate id it claims), may be null
 * @param reason why it could not be applied, with the facts
 */
public record DeadLetter(String topic, int partition, long offset, String key, String reason) {

  @Override
  public String toString() {
    return topic + "-" + partition + "@" + offset + " (key " + key + "): " + reason;
  }
}
