package dev.partwright.schemas;

import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.OptionalLong;
import org.apache.kafka.common.errors.RecordDeserializationException;
import org.apache.kafka.common.errors.SerializationException;

/**
 * A payload that cannot be encoded or decoded: a data problem of one record, never a registry
 * outage (that is a {@link SchemaRegistryException}). Consumers route such records to their
 * dead-letter topic with {@link #code()} as the reason and keep going.
 *
 * <p>The subclasses are the bad-input cases of the Confluent wire format, each with its facts. The
 * record's partition and offset are known to whoever read the record, not to a Kafka
 * {@code Deserializer}: {@link RegistryAvroSerde#decode(org.apache.kafka.clients.consumer.ConsumerRecord)}
 * fills them in, {@link #find(Throwable)} takes them from the consumer's
 * {@link RecordDeserializationException}, and a Kafka Streams handler sets them with {@link #at}.
 */
public sealed class PayloadException extends SerializationException
    permits PayloadException.WrongMagicByte, PayloadException.UnknownSchemaId, PayloadException.Truncated,
        PayloadException.UnresolvableSchema, PayloadException.Corrupt {

  private static final long serialVersionUID = 1L;

  private final String topic;
  private final String recordType;
  private final String problem;
  private int partition = -1;
  private long offset = -1;

  public PayloadException(String topic, String recordType, String problem, Throwable cause) {
    super(problem, cause);
    this.topic = topic;
    this.recordType = recordType;
    this.problem = problem;
  }

  /**
   * Where the record was read, when the caller knows it (this exception is created where only the
   * topic is known). Sets it once; returns this exception.
   */
  public PayloadException at(int partition, long offset) {
    if (this.partition < 0 && partition >= 0) {
      this.partition = partition;
      this.offset = offset;
    }
    return this;
  }

  /**
   * The payload problem in {@code failure} or its causes, with the partition and offset of a
   * {@link RecordDeserializationException} on the way (what {@code KafkaConsumer.poll} throws when a
   * deserializer fails).
   */
  public static Optional<PayloadException> find(Throwable failure) {
    RecordDeserializationException located = null;
    for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (t instanceof RecordDeserializationException r) {
        located = r;
      }
      if (t instanceof PayloadException p) {
        if (located != null) {
          p.at(located.topicPartition().partition(), located.offset());
        }
        return Optional.of(p);
      }
    }
    return Optional.empty();
  }

  @Override
  public String getMessage() {
    String where = partition < 0 ? "topic " + topic : "topic " + topic + " partition " + partition + " offset " + offset;
    return where + ": " + recordType + " payload " + problem;
  }

  public String topic() {
    return topic;
  }

  public String recordType() {
    return recordType;
  }

  /** What is wrong, without the location. */
  public String problem() {
    return problem;
  }

  public OptionalInt partition() {
    return partition < 0 ? OptionalInt.empty() : OptionalInt.of(partition);
  }

  public OptionalLong offset() {
    return partition < 0 ? OptionalLong.empty() : OptionalLong.of(offset);
  }

  /** A stable, machine-readable name of the problem, for a dead-letter header. */
  public String code() {
    return "PAYLOAD";
  }

  /** The first byte is not the Confluent wire format's magic byte {@code 0x00}. */
  public static final class WrongMagicByte extends PayloadException {
    private static final long serialVersionUID = 1L;
    private final int found;

    WrongMagicByte(String topic, String recordType, byte[] payload) {
      super(topic, recordType, describe(payload), null);
      this.found = payload[0] & 0xff;
    }

    private static String describe(byte[] payload) {
      String hint = payload.length > 1 && (payload[0] & 0xff) == 0xC3 && payload[1] == 0x01
          ? " (it looks like Avro single-object encoding, written without a schema registry)" : "";
      return String.format("starts with byte 0x%02X, not the Confluent wire format's magic byte 0x00%s",
          payload[0] & 0xff, hint);
    }

    /** The first byte found, 0–255. */
    public int found() {
      return found;
    }

    @Override
    public String code() {
      return "WRONG_MAGIC_BYTE";
    }
  }

  /** The schema id in the header is not known to the registry. */
  public static final class UnknownSchemaId extends PayloadException {
    private static final long serialVersionUID = 1L;
    private final int schemaId;
    private final String registryUrl;

    UnknownSchemaId(String topic, String recordType, int schemaId, String registryUrl, Throwable cause) {
      super(topic, recordType, "names schema id " + schemaId + ", which the schema registry at " + registryUrl
          + " does not know", cause);
      this.schemaId = schemaId;
      this.registryUrl = registryUrl;
    }

    public int schemaId() {
      return schemaId;
    }

    public String registryUrl() {
      return registryUrl;
    }

    @Override
    public String code() {
      return "UNKNOWN_SCHEMA_ID";
    }
  }

  /** Shorter than the 5-byte header, or the Avro body ends before the record does. */
  public static final class Truncated extends PayloadException {
    private static final long serialVersionUID = 1L;
    private final int length;

    Truncated(String topic, String recordType, int length, String problem, Throwable cause) {
      super(topic, recordType, problem, cause);
      this.length = length;
    }

    /** The payload's length in bytes, header included. */
    public int length() {
      return length;
    }

    @Override
    public String code() {
      return "TRUNCATED";
    }
  }

  /** The writer's schema (from the registry) cannot be read with the reader's schema. */
  public static final class UnresolvableSchema extends PayloadException {
    private static final long serialVersionUID = 1L;
    private final int schemaId;
    private final String writerSchema;
    private final String readerSchema;
    private final List<String> incompatibilities;

    UnresolvableSchema(String topic, String recordType, int schemaId, String writerSchema, String readerSchema,
        List<String> incompatibilities) {
      super(topic, recordType, "was written with schema id " + schemaId + " (" + writerSchema
          + "), which the reader's schema (" + readerSchema + ") cannot read: " + String.join("; ", incompatibilities),
          null);
      this.schemaId = schemaId;
      this.writerSchema = writerSchema;
      this.readerSchema = readerSchema;
      this.incompatibilities = List.copyOf(incompatibilities);
    }

    public int schemaId() {
      return schemaId;
    }

    /** Full name of the writer's schema. */
    public String writerSchema() {
      return writerSchema;
    }

    /** Full name of the reader's schema. */
    public String readerSchema() {
      return readerSchema;
    }

    /** Avro's {@code SchemaCompatibility} findings: what, and where in the reader's schema. */
    public List<String> incompatibilities() {
      return incompatibilities;
    }

    @Override
    public String code() {
      return "UNRESOLVABLE_SCHEMA";
    }
  }

  /** The header is fine but the body is not a record of the writer's schema (bad union index, trailing bytes...). */
  public static final class Corrupt extends PayloadException {
    private static final long serialVersionUID = 1L;
    private final int schemaId;

    Corrupt(String topic, String recordType, int schemaId, String problem, Throwable cause) {
      super(topic, recordType, problem, cause);
      this.schemaId = schemaId;
    }

    public int schemaId() {
      return schemaId;
    }

    @Override
    public String code() {
      return "CORRUPT";
    }
  }
}
