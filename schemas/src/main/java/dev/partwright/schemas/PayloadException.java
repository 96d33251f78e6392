package dev.partwright.schemas;

import org.apache.kafka.common.errors.SerializationException;

/** A payload that cannot be encoded or decoded, with the topic and the expected record type. */
public final class PayloadException extends SerializationException {

  private final String topic;
  private final String recordType;

  public PayloadException(String topic, String recordType, String problem, Throwable cause) {
    super("topic " + topic + ": " + recordType + " payload " + problem, cause);
    this.topic = topic;
    this.recordType = recordType;
  }

  public String topic() {
    return topic;
  }

  public String recordType() {
    return recordType;
  }
}
