package dev.partwright.schemas;

import java.nio.ByteBuffer;
import java.util.Objects;
import org.apache.avro.Schema;
import org.apache.avro.message.BadHeaderException;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.avro.message.MissingSchemaException;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificRecord;
import org.apache.avro.util.ClassSecurityValidator;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;

/**
 * Kafka serde for one generated Avro record type, in Avro's single-object encoding.
 *
 * <p>Not the format of the pipeline's topics: those carry the Confluent wire format with a
 * schema registry ({@link PartwrightSerdes}), which consumers outside Partwright can read. This
 * one needs no registry, for payloads that never leave Partwright.
 *
 * <p>Wire format: Avro single-object encoding (marker {@code C3 01}, the schema's 8-byte
 * CRC-64-AVRO fingerprint, then the Avro binary body). The fingerprint makes every payload
 * self-describing: a record written with an unknown schema fails with a {@link PayloadException}
 * instead of decoding into garbage.
 */
public final class AvroSerde<T extends SpecificRecord> implements Serde<T> {

  static {
    trustContracts();
  }

  private final Class<T> type;
  private final BinaryMessageEncoder<T> encoder;
  private final BinaryMessageDecoder<T> decoder;

  private AvroSerde(Class<T> type) {
    this.type = type;
    Schema schema = SpecificData.get().getSchema(type);
    SpecificData model = SpecificData.getForClass(type);
    this.encoder = new BinaryMessageEncoder<>(model, schema);
    this.decoder = new BinaryMessageDecoder<>(model, schema);
  }

  private static boolean contractsTrusted;

  /**
   * Avro 1.12 refuses to instantiate classes it was not told to trust; our generated contracts
   * live in this package, so trust exactly this package on top of Avro's defaults.
   */
  static synchronized void trustContracts() {
    if (contractsTrusted) {
      return;
    }
    contractsTrusted = true;
    ClassSecurityValidator.ClassSecurityPredicate current = ClassSecurityValidator.getGlobal();
    String contracts = AvroSerde.class.getPackageName();
    ClassSecurityValidator.setGlobal(type -> type.getPackageName().equals(contracts) || current.isTrusted(type));
  }

  public static <T extends SpecificRecord> AvroSerde<T> of(Class<T> type) {
    return new AvroSerde<>(Objects.requireNonNull(type, "type"));
  }

  public Class<T> type() {
    return type;
  }

  public byte[] encode(String topic, T value) {
    if (value == null) {
      return null;
    }
    try {
      ByteBuffer buffer = encoder.encode(value);
      byte[] bytes = new byte[buffer.remaining()];
      buffer.get(bytes);
      return bytes;
    } catch (Exception e) {
      throw new PayloadException(topic, type.getSimpleName(), "cannot encode: " + e.getMessage(), e);
    }
  }

  public T decode(String topic, byte[] bytes) {
    if (bytes == null) {
      return null;
    }
    try {
      return decoder.decode(bytes);
    } catch (BadHeaderException e) {
      throw new PayloadException(topic, type.getSimpleName(), "not an Avro single-object payload (bad header)", e);
    } catch (MissingSchemaException e) {
      throw new PayloadException(topic, type.getSimpleName(), "written with an unknown schema (fingerprint not known)", e);
    } catch (Exception e) {
      throw new PayloadException(topic, type.getSimpleName(), "corrupt or truncated body: " + e, e);
    }
  }

  @Override
  public Serializer<T> serializer() {
    return this::encode;
  }

  @Override
  public Deserializer<T> deserializer() {
    return this::decode;
  }
}
