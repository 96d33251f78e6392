package dev.partwright.schemas;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.generic.GenericContainer;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificDatumReader;
import org.apache.avro.specific.SpecificDatumWriter;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;

/**
 * Kafka serde for Avro in the Confluent wire format: magic byte {@code 0}, the writer schema's
 * registry id as a 4-byte big-endian int, then the Avro binary body. What any Confluent-compatible
 * deserializer reads.
 *
 * <p>Serializing registers the writer schema under the topic's subject ({@code <topic>-value} or
 * {@code <topic>-key}) once per topic, or only looks its id up when auto-registration is off.
 * Deserializing fetches the writer schema by id once and resolves it against the reader's schema,
 * so records written with an older (or newer, compatible) version of a contract decode into
 * today's classes. A record that cannot be read is a {@link PayloadException} naming the problem;
 * a registry that cannot be reached is a {@link SchemaRegistryException}.
 *
 * <p>Thread-safe; encoders, decoders and buffers are reused per thread, ids and readers cached per
 * instance. Built by {@link PartwrightSerdes}.
 *
 * @param <T> a generated {@link SpecificRecord} class, or {@link org.apache.avro.generic.GenericRecord}
 */
public final class RegistryAvroSerde<T> implements Serde<T> {

  /** The Confluent wire format's first byte. */
  public static final byte MAGIC_BYTE = 0;
  /** Magic byte plus schema id. */
  public static final int HEADER_LENGTH = 5;

  private static final String JAVA_STRING_PROPERTY = "avro.java.string";
  private static final ObjectMapper JSON = new ObjectMapper();

  private final SchemaRegistryClient registry;
  private final String recordType;
  private final boolean isKey;
  private final boolean autoRegister;
  private final GenericData model;
  /** The generated class's schema; {@code null} for generic records, whose schema each record carries. */
  private final Schema writerSchema;
  /** What records are decoded into; {@code null} for generic records read as written. */
  private final Schema readerSchema;

  private final Map<Schema, GenericDatumWriter<T>> writers = new ConcurrentHashMap<>();
  /** Writer schema to the schema registered for it (see {@link #portable}). */
  private final Map<Schema, Schema> registered = new ConcurrentHashMap<>();
  private final Map<TopicSchema, Integer> ids = new ConcurrentHashMap<>();
  private final Map<Integer, Reader<T>> readers = new ConcurrentHashMap<>();
  /** The last id used: producers mostly write one schema to one topic, so skip the map lookup then. */
  private volatile LastId lastId;
  private volatile Reader<T> lastReader;
  private final ThreadLocal<Scratch> scratch = ThreadLocal.withInitial(Scratch::new);

  static {
    PartwrightSerdes.trustContracts();
  }

  private record TopicSchema(String topic, Schema schema) {}

  private record LastId(String topic, Schema schema, int id) {}

  /** How records written with one schema id are read: a datum reader, or why there is none. */
  private record Reader<T>(int id, GenericDatumReader<T> datumReader, Schema writer, List<String> incompatibilities) {}

  private static final class Scratch {
    final Output out = new Output();
    BinaryEncoder encoder;
    BinaryDecoder decoder;
  }

  private RegistryAvroSerde(SchemaRegistryClient registry, String recordType, boolean isKey, boolean autoRegister,
      GenericData model, Schema writerSchema, Schema readerSchema) {
    this.registry = registry;
    this.recordType = recordType;
    this.isKey = isKey;
    this.autoRegister = autoRegister;
    this.model = model;
    this.writerSchema = writerSchema;
    this.readerSchema = readerSchema;
  }

  static <T extends SpecificRecord> RegistryAvroSerde<T> specific(SchemaRegistryClient registry, Class<T> type,
      boolean isKey, boolean autoRegister) {
    Objects.requireNonNull(type, "type");
    Schema schema = SpecificData.get().getSchema(type);
    RegistryAvroSerde<T> serde = new RegistryAvroSerde<>(registry, type.getSimpleName(), isKey, autoRegister,
        SpecificData.getForClass(type), schema, schema);
    serde.registered.put(schema, portable(schema));
    return serde;
  }

  /**
   * The schema as registered: without the {@code avro.java.string} properties the code generator
   * adds (with {@code stringType=String}). They mean nothing outside Java, and a registry compares
   * schemas with their properties, so a generic producer of the same contract would otherwise
   * register a second, different-looking version. The binary encoding is the same either way.
   */
  static Schema portable(Schema schema) {
    String text = schema.toString();
    if (!text.contains(JAVA_STRING_PROPERTY)) {
      return schema;
    }
    try {
      JsonNode tree = JSON.readTree(text);
      removeJavaStringProperty(tree);
      return new Schema.Parser().parse(JSON.writeValueAsString(tree));
    } catch (IOException e) {
      throw new IllegalStateException("cannot rewrite schema " + schema.getFullName(), e);
    }
  }

  private static void removeJavaStringProperty(JsonNode node) {
    if (node instanceof ObjectNode object) {
      object.remove(JAVA_STRING_PROPERTY);
    }
    node.forEach(RegistryAvroSerde::removeJavaStringProperty);
  }

  static <T extends GenericContainer> RegistryAvroSerde<T> generic(SchemaRegistryClient registry, Schema readerSchema,
      boolean isKey, boolean autoRegister) {
    String name = readerSchema == null ? "GenericRecord" : readerSchema.getName();
    return new RegistryAvroSerde<>(registry, name, isKey, autoRegister, GenericData.get(), null, readerSchema);
  }

  /**
   * Registers (or, without auto-registration, looks up) this serde's schema under {@code topic}'s
   * subject now, so that the first record written there does not wait for the registry. Nothing for
   * generic records, whose schema comes with each record.
   *
   * @throws SchemaRegistryException when the registry cannot be reached or refuses the schema
   */
  public void prepare(String topic) {
    if (writerSchema != null) {
      schemaId(topic, writerSchema);
    }
  }

  /** The Confluent wire format of {@code value}; {@code null} for {@code null} (a tombstone). */
  public byte[] encode(String topic, T value) {
    if (value == null) {
      return null;
    }
    Schema schema = writerSchema != null ? writerSchema : ((GenericContainer) value).getSchema();
    int id = schemaId(topic, schema);
    Scratch s = scratch.get();
    Output out = s.out;
    out.reset();
    out.write(MAGIC_BYTE);
    out.writeInt(id);
    try {
      BinaryEncoder encoder = EncoderFactory.get().binaryEncoder(out, s.encoder);
      s.encoder = encoder;
      writer(schema).write(value, encoder);
      encoder.flush();
    } catch (IOException | RuntimeException e) {
      throw new PayloadException(topic, recordType, "cannot be encoded with schema " + schema.getFullName() + ": " + e, e);
    }
    return out.toByteArray();
  }

  /** Decodes one payload; {@code null} for {@code null}. Errors name the topic only: see {@link #decode(ConsumerRecord)}. */
  public T decode(String topic, byte[] payload) {
    return payload == null ? null : read(topic, payload);
  }

  /**
   * Decodes a record's value (a key serde: its key), consumed as bytes; errors name the record's
   * topic, partition and offset.
   */
  public T decode(ConsumerRecord<?, ?> record) {
    Object raw = isKey ? record.key() : record.value();
    if (raw != null && !(raw instanceof byte[])) {
      throw new IllegalArgumentException("the record's " + (isKey ? "key" : "value") + " is a " + raw.getClass().getName()
          + ", not bytes: consume it with a ByteArrayDeserializer");
    }
    try {
      return decode(record.topic(), (byte[]) raw);
    } catch (PayloadException e) {
      throw e.at(record.partition(), record.offset());
    }
  }

  /** The schema id in a payload's header, without decoding it. */
  public static int schemaIdOf(String topic, byte[] payload) {
    checkHeader(topic, "payload", payload);
    return readInt(payload);
  }

  @Override
  public Serializer<T> serializer() {
    return new Serializer<>() {
      @Override
      public byte[] serialize(String topic, T value) {
        return encode(topic, value);
      }

      @Override
      public String toString() {
        return RegistryAvroSerde.this + ".serializer";
      }
    };
  }

  @Override
  public Deserializer<T> deserializer() {
    return new Deserializer<>() {
      @Override
      public T deserialize(String topic, byte[] payload) {
        return decode(topic, payload);
      }

      @Override
      public String toString() {
        return RegistryAvroSerde.this + ".deserializer";
      }
    };
  }

  /** The subject this serde uses for {@code topic}. */
  public String subject(String topic) {
    return SchemaRegistryClient.subject(topic, isKey);
  }

  @Override
  public String toString() {
    return "RegistryAvroSerde[" + recordType + (isKey ? ", key" : "") + ", " + registry.config().displayUrl() + "]";
  }

  // ------------------------------------------------------------------------------------------

  private int schemaId(String topic, Schema schema) {
    LastId last = lastId;
    if (last != null && last.schema == schema && last.topic.equals(topic)) {
      return last.id;
    }
    TopicSchema key = new TopicSchema(topic, schema);
    Integer id = ids.get(key);
    if (id == null) {
      String subject = subject(topic);
      Schema portable = registered.computeIfAbsent(schema, RegistryAvroSerde::portable);
      id = autoRegister ? registry.register(subject, portable) : registry.lookup(subject, portable);
      ids.put(key, id);
    }
    lastId = new LastId(topic, schema, id);
    return id;
  }

  private GenericDatumWriter<T> writer(Schema schema) {
    GenericDatumWriter<T> writer = writers.get(schema);
    if (writer == null) {
      writer = model instanceof SpecificData specific
          ? new SpecificDatumWriter<>(schema, specific) : new GenericDatumWriter<>(schema, model);
      writers.put(schema, writer);
    }
    return writer;
  }

  private T read(String topic, byte[] payload) {
    checkHeader(topic, recordType, payload);
    int id = readInt(payload);
    Reader<T> reader = reader(topic, id);
    Scratch s = scratch.get();
    BinaryDecoder decoder = DecoderFactory.get().binaryDecoder(payload, HEADER_LENGTH, payload.length - HEADER_LENGTH,
        s.decoder);
    s.decoder = decoder;
    T value;
    try {
      value = reader.datumReader.read(null, decoder);
    } catch (EOFException e) {
      throw new PayloadException.Truncated(topic, recordType, payload.length, "is truncated: its " + payload.length
          + " bytes end before the " + reader.writer.getFullName() + " record (schema id " + id + ") does", e);
    } catch (IOException | RuntimeException e) {
      throw new PayloadException.Corrupt(topic, recordType, id, "does not decode as a " + reader.writer.getFullName()
          + " record (schema id " + id + "): " + e, e);
    }
    try {
      if (!decoder.isEnd()) {
        throw new PayloadException.Corrupt(topic, recordType, id, "has " + decoder.inputStream().available()
            + " bytes left over after the " + reader.writer.getFullName() + " record (schema id " + id + ")", null);
      }
    } catch (IOException e) {
      throw new PayloadException.Corrupt(topic, recordType, id, "cannot be checked for trailing bytes: " + e, e);
    }
    return value;
  }

  private static void checkHeader(String topic, String recordType, byte[] payload) {
    if (payload.length < HEADER_LENGTH) {
      throw new PayloadException.Truncated(topic, recordType, payload.length, "is truncated: " + payload.length
          + " bytes, shorter than the Confluent wire format's 5-byte header", null);
    }
    if (payload[0] != MAGIC_BYTE) {
      throw new PayloadException.WrongMagicByte(topic, recordType, payload);
    }
  }

  private static int readInt(byte[] payload) {
    return (payload[1] & 0xff) << 24 | (payload[2] & 0xff) << 16 | (payload[3] & 0xff) << 8 | payload[4] & 0xff;
  }

  private Reader<T> reader(String topic, int id) {
    Reader<T> reader = lastReader;
    if (reader == null || reader.id != id) {
      reader = readers.get(id);
      if (reader == null) {
        reader = resolve(topic, id);
        readers.put(id, reader);
      }
      lastReader = reader;
    }
    if (reader.incompatibilities != null) {
      throw new PayloadException.UnresolvableSchema(topic, recordType, id, reader.writer.getFullName(),
          readerSchema.getFullName(), reader.incompatibilities);
    }
    return reader;
  }

  /** Fetches the writer's schema and checks, once per id, that the reader's schema can read it. */
  private Reader<T> resolve(String topic, int id) {
    Schema writer;
    try {
      writer = registry.schemaById(id);
    } catch (SchemaRegistryException e) {
      if (e.errorCode().orElse(0) == SchemaRegistryException.SCHEMA_NOT_FOUND) {
        throw new PayloadException.UnknownSchemaId(topic, recordType, id, e.url(), e);
      }
      throw e; // an outage or a misconfiguration, not a bad record
    }
    Schema reader = readerSchema != null ? readerSchema : writer;
    SchemaCompatibility.SchemaPairCompatibility verdict = SchemaCompatibility.checkReaderWriterCompatibility(reader, writer);
    if (verdict.getType() != SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE) {
      List<String> findings = new ArrayList<>();
      for (SchemaCompatibility.Incompatibility i : verdict.getResult().getIncompatibilities()) {
        findings.add(i.getType() + " at " + i.getLocation() + ": " + i.getMessage());
      }
      return new Reader<>(id, null, writer, findings);
    }
    GenericDatumReader<T> datumReader = model instanceof SpecificData specific
        ? new SpecificDatumReader<>(writer, reader, specific) : new GenericDatumReader<>(writer, reader, model);
    return new Reader<>(id, datumReader, writer, null);
  }

  /** A growable byte buffer without {@code ByteArrayOutputStream}'s synchronized methods. */
  private static final class Output extends OutputStream {
    private byte[] buffer = new byte[256];
    private int count;

    void reset() {
      count = 0;
    }

    @Override
    public void write(int b) {
      ensure(1);
      buffer[count++] = (byte) b;
    }

    void writeInt(int v) {
      ensure(4);
      buffer[count++] = (byte) (v >>> 24);
      buffer[count++] = (byte) (v >>> 16);
      buffer[count++] = (byte) (v >>> 8);
      buffer[count++] = (byte) v;
    }

    @Override
    public void write(byte[] b, int off, int len) {
      ensure(len);
      System.arraycopy(b, off, buffer, count, len);
      count += len;
    }

    byte[] toByteArray() {
      return Arrays.copyOf(buffer, count);
    }

    private void ensure(int more) {
      if (count + more > buffer.length) {
        buffer = Arrays.copyOf(buffer, Math.max(buffer.length * 2, count + more));
      }
    }
  }
}
