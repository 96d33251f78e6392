package dev.partwright.schemas;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;
import org.apache.avro.Schema;
import org.apache.avro.SchemaBuilder;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RecordDeserializationException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Each kind of bad input, written to a real topic between good records, read back through a
 * {@code KafkaConsumer} with our deserializer: a typed exception with topic, partition and offset,
 * and the consumer can step over it and go on.
 */
class BadPayloadTest {

  private static final PartwrightSerdes SERDES = PartwrightSerdes.create(TestRegistry.config());
  private static final RegistryAvroSerde<BoundaryChange> SERDE = SERDES.serde(BoundaryChange.class);
  private static final BoundaryChange GOOD = Samples.boundaryChange(Samples.partitionAdded());

  private static String topic;
  private static byte[] good;

  @BeforeAll
  static void goodPayload() {
    topic = TestKafka.topic("bad-payloads");
    good = SERDE.encode(topic, GOOD);
  }

  /** What a producer without a registry writes: Avro single-object encoding. */
  static byte[] singleObject(BoundaryChange change) {
    try {
      ByteBuffer b = BoundaryChange.getEncoder().encode(change);
      byte[] bytes = new byte[b.remaining()];
      b.get(bytes);
      return bytes;
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  @Test
  void wrongMagicByte() {
    byte[] singleObject = singleObject(GOOD); // C3 01 + fingerprint
    assertBad(singleObject, PayloadException.WrongMagicByte.class, e -> {
      assertThat(e.found()).isEqualTo(0xC3);
      assertThat(e.code()).isEqualTo("WRONG_MAGIC_BYTE");
      assertThat(e.problem()).isEqualTo("starts with byte 0xC3, not the Confluent wire format's magic byte 0x00"
          + " (it looks like Avro single-object encoding, written without a schema registry)");
    });
  }

  @Test
  void unknownSchemaId() {
    byte[] payload = good.clone();
    ByteBuffer.wrap(payload).putInt(1, 0x7ffffff0);
    assertBad(payload, PayloadException.UnknownSchemaId.class, e -> {
      assertThat(e.schemaId()).isEqualTo(0x7ffffff0);
      assertThat(e.registryUrl()).isEqualTo(TestRegistry.endpoint().url());
      assertThat(e.getCause()).isInstanceOf(SchemaRegistryException.class);
      assertThat(e.code()).isEqualTo("UNKNOWN_SCHEMA_ID");
    });
  }

  @Test
  void shorterThanTheHeader() {
    assertBad(new byte[] {0, 0, 1}, PayloadException.Truncated.class, e -> {
      assertThat(e.length()).isEqualTo(3);
      assertThat(e.problem()).isEqualTo("is truncated: 3 bytes, shorter than the Confluent wire format's 5-byte header");
    });
    assertBad(new byte[0], PayloadException.Truncated.class, e -> assertThat(e.length()).isZero());
  }

  @Test
  void truncatedBody() {
    byte[] cut = Arrays.copyOf(good, good.length - 7);
    assertBad(cut, PayloadException.Truncated.class, e -> {
      assertThat(e.length()).isEqualTo(cut.length);
      assertThat(e.code()).isEqualTo("TRUNCATED");
      assertThat(e.problem()).contains("end before the dev.partwright.schemas.BoundaryChange record");
    });
  }

  @Test
  void writerSchemaTheReaderCannotResolve() {
    // a BoundaryChange whose aggregateVersion became a string: registered, but not readable as ours
    Schema incompatible = SchemaBuilder.record("BoundaryChange").namespace("dev.partwright.schemas").fields()
        .requiredString("aggregateId").requiredString("aggregateVersion").endRecord();
    GenericRecord record = new GenericData.Record(incompatible);
    record.put("aggregateId", "acme/public.events");
    record.put("aggregateVersion", "forty-two");
    byte[] payload = SERDES.genericSerde().encode(TestKafka.topic("incompatible-writer"), record);
    int id = RegistryAvroSerde.schemaIdOf(topic, payload);

    assertBad(payload, PayloadException.UnresolvableSchema.class, e -> {
      assertThat(e.schemaId()).isEqualTo(id);
      assertThat(e.writerSchema()).isEqualTo("dev.partwright.schemas.BoundaryChange");
      assertThat(e.readerSchema()).isEqualTo("dev.partwright.schemas.BoundaryChange");
      assertThat(e.incompatibilities()).anySatisfy(i -> assertThat(i).startsWith("TYPE_MISMATCH at /fields/1/type"));
      assertThat(e.incompatibilities()).anySatisfy(i -> assertThat(i).contains("READER_FIELD_MISSING_DEFAULT_VALUE"));
      assertThat(e.code()).isEqualTo("UNRESOLVABLE_SCHEMA");
    });
  }

  @Test
  void trailingBytesAfterTheRecord() {
    byte[] longer = Arrays.copyOf(good, good.length + 3);
    assertBad(longer, PayloadException.Corrupt.class, e -> {
      assertThat(e.schemaId()).isEqualTo(RegistryAvroSerde.schemaIdOf(topic, good));
      assertThat(e.problem()).contains("has 3 bytes left over after the dev.partwright.schemas.BoundaryChange record");
      assertThat(e.code()).isEqualTo("CORRUPT");
    });
  }

  @Test
  void bodyThatIsNotARecordOfTheWritersSchema() {
    byte[] garbage = good.clone();
    Arrays.fill(garbage, 5, garbage.length, (byte) 0xff); // varints that never end, lengths that are negative
    assertBad(garbage, PayloadException.class, e -> assertThat(e).isInstanceOfAny(
        PayloadException.Corrupt.class, PayloadException.Truncated.class));
  }

  @Test
  void aRegistryOutageIsNotAPayloadProblem() throws Exception {
    int port;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    RegistryAvroSerde<BoundaryChange> cutOff = PartwrightSerdes.create(SchemaRegistryConfig.of("http://127.0.0.1:" + port)
        .withTimeouts(Duration.ofSeconds(1), Duration.ofSeconds(1))).serde(BoundaryChange.class);
    Throwable thrown = catchThrowable(() -> cutOff.decode(topic, good));
    assertThat(thrown).isInstanceOf(SchemaRegistryException.class);
    assertThat(PayloadException.find(thrown)).isEmpty();
    assertThat(((SchemaRegistryException) thrown).retriable()).isTrue();
  }

  @Test
  void findLocatesAPayloadProblemInsideTheConsumersException() {
    PayloadException inner = new PayloadException.Truncated("t", "BoundaryChange", 2, "is truncated", null);
    RecordDeserializationException outer = new RecordDeserializationException(
        RecordDeserializationException.DeserializationExceptionOrigin.VALUE, new TopicPartition("t", 3), 99L, 0L,
        org.apache.kafka.common.record.TimestampType.CREATE_TIME, null, null, null, "failed", inner);
    assertThat(PayloadException.find(outer)).containsSame(inner);
    assertThat(inner.partition()).hasValue(3);
    assertThat(inner.offset()).hasValue(99L);
    assertThat(inner).hasMessage("topic t partition 3 offset 99: BoundaryChange payload is truncated");
    assertThat(PayloadException.find(new IllegalStateException("other"))).isEmpty();
  }

  /**
   * Writes good, bad, good to a fresh topic; checks the bad one fails with {@code type} through the
   * consumer (and through {@link RegistryAvroSerde#decode(ConsumerRecord)}) at offset 1, and that
   * the consumer reads on past it.
   */
  private static <E extends PayloadException> void assertBad(byte[] bad, Class<E> type, Consumer<E> facts) {
    String topic = TestKafka.topic("bad");
    TestKafka.produceBytes(topic, List.of(good, bad, good));

    try (KafkaConsumer<String, BoundaryChange> consumer = TestKafka.consumer(topic, SERDE.deserializer())) {
      List<ConsumerRecord<String, BoundaryChange>> first = TestKafka.read(consumer, 1);
      assertThat(first.get(0).value()).isEqualTo(GOOD);
      Throwable thrown = catchThrowable(() -> TestKafka.read(consumer, 1));
      assertThat(thrown).isInstanceOf(RecordDeserializationException.class);
      PayloadException e = PayloadException.find(thrown).orElseThrow();
      assertThat(e).isInstanceOf(type);
      assertThat(e.topic()).isEqualTo(topic);
      assertThat(e.partition()).hasValue(0);
      assertThat(e.offset()).hasValue(1L);
      assertThat(e.recordType()).isEqualTo("BoundaryChange");
      assertThat(e).hasMessageStartingWith("topic " + topic + " partition 0 offset 1: BoundaryChange payload ");
      facts.accept(type.cast(e));

      consumer.seek(new TopicPartition(topic, 0), 2); // the dead-letter move: step over it, keep going
      assertThat(TestKafka.read(consumer, 1).get(0).value()).isEqualTo(GOOD);
    }

    ConsumerRecord<String, byte[]> raw = TestKafka.readBytes(topic, 3).get(1);
    assertThatThrownBy(() -> SERDE.decode(raw))
        .isInstanceOfSatisfying(type, e -> {
          assertThat(e.partition()).hasValue(0);
          assertThat(e.offset()).hasValue(1L);
          facts.accept(e);
        });
  }
}
