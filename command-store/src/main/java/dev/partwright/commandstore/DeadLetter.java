package dev.partwright.commandstore;

import dev.partwright.schemas.Topics;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;

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

  /**
   * What goes to a dead-letter topic for {@code source}: the record as it was (key, payload,
   * headers) plus the reason ({@value Topics#REASON_HEADER}) and where it came from
   * ({@value SnapshotWriter#SOURCE_HEADER}, {@code topic-partition@offset}), the header consumers
   * deduplicate on when the worker and the snapshot writer both forward it.
   */
  public static ProducerRecord<String, byte[]> toRecord(String deadLetterTopic, ConsumerRecord<String, byte[]> source,
      String reason) {
    ProducerRecord<String, byte[]> r = new ProducerRecord<>(deadLetterTopic, null, source.key(), source.value(),
        source.headers());
    r.headers().add(Topics.REASON_HEADER, reason.getBytes(StandardCharsets.UTF_8));
    r.headers().add(SnapshotWriter.SOURCE_HEADER, (source.topic() + "-" + source.partition() + "@" + source.offset())
        .getBytes(StandardCharsets.UTF_8));
    return r;
  }

  @Override
  public String toString() {
    return topic + "-" + partition + "@" + offset + " (key " + key + "): " + reason;
  }
}
