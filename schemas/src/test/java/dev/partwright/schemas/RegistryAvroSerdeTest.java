package dev.partwright.schemas;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.time.temporal.ChronoUnit;
import java.util.Arrays;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.SchemaBuilder;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.junit.jupiter.api.Test;

/** Every contract through the real broker and the real registry, in the Confluent wire format. */
class RegistryAvroSerdeTest {

  private final PartwrightSerdes serdes = PartwrightSerdes.create(TestRegistry.config());

  @Test
  void boundaryChangesRoundTrip() {
    roundTrip(BoundaryChange.class, Samples.boundaryChanges());
  }

  @Test
  void commandLogEntriesRoundTrip() {
    roundTrip(CommandLogEntry.class, Samples.commandLogEntries());
  }

  @Test
  void ingestionEventsRoundTrip() {
    roundTrip(IngestionEvent.class, Samples.ingestionEvents());
  }

  @Test
  void catalogSnapshotsRoundTrip() {
    roundTrip(CatalogSnapshot.class, Samples.catalogSnapshots());
  }

  @Test
  void capacityAlertsRoundTrip() {
    roundTrip(CapacityAlert.class, Samples.capacityAlerts());
  }

  @Test
  void managedTablePoliciesRoundTrip() {
    roundTrip(ManagedTablePolicy.class, Samples.managedTablePolicies());
  }

  /**
   * Ids and readers are cached: after the first record, encoding and decoding make no registry call.
   * Counted by a forwarding proxy in front of the real registry.
   */
  @Test
  void noRegistryCallPerRecord() throws Exception {
    java.util.concurrent.atomic.AtomicInteger calls = new java.util.concurrent.atomic.AtomicInteger();
    URI target = URI.create(TestRegistry.endpoint().url());
    HttpClient http = HttpClient.newHttpClient();
    com.sun.net.httpserver.HttpServer proxy = com.sun.net.httpserver.HttpServer.create(
        new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), 0), 0);
    proxy.createContext("/", exchange -> {
      calls.incrementAndGet();
      String path = exchange.getRequestURI().getRawPath().substring(target.getRawPath().length());
      String query = exchange.getRequestURI().getRawQuery();
      HttpRequest.Builder forward = HttpRequest.newBuilder(URI.create(target + path + (query == null ? "" : "?" + query)))
          .method(exchange.getRequestMethod(), HttpRequest.BodyPublishers.ofByteArray(exchange.getRequestBody().readAllBytes()));
      String contentType = exchange.getRequestHeaders().getFirst("Content-Type");
      if (contentType != null) {
        forward.header("Content-Type", contentType);
      }
      try {
        HttpResponse<byte[]> response = http.send(forward.build(), HttpResponse.BodyHandlers.ofByteArray());
        response.headers().firstValue("Content-Type").ifPresent(v -> exchange.getResponseHeaders().add("Content-Type", v));
        exchange.sendResponseHeaders(response.statusCode(), response.body().length == 0 ? -1 : response.body().length);
        exchange.getResponseBody().write(response.body());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        exchange.sendResponseHeaders(502, -1);
      } finally {
        exchange.close();
      }
    });
    proxy.start();
    try {
      String base = "http://127.0.0.1:" + proxy.getAddress().getPort() + target.getRawPath();
      RegistryAvroSerde<BoundaryChange> serde = PartwrightSerdes.create(SchemaRegistryConfig.of(base))
          .serde(BoundaryChange.class);
      String topic = TestKafka.topic("no-call-per-record");
      BoundaryChange change = Samples.boundaryChange(Samples.partitionAdded());
      assertThat(serde.decode(topic, serde.encode(topic, change))).isEqualTo(change);
      int afterFirst = calls.get();
      assertThat(afterFirst).as("the first record registers its schema and fetches it by id").isBetween(1, 3);
      for (int i = 0; i < 1_000; i++) {
        assertThat(serde.decode(topic, serde.encode(topic, change))).isEqualTo(change);
      }
      assertThat(calls.get()).as("registry calls after 1,000 more round trips").isEqualTo(afterFirst);

      // prepare() registers ahead of the first record: that record then makes no call of its own
      String prepared = TestKafka.topic("prepared");
      serde.prepare(prepared);
      int afterPrepare = calls.get();
      assertThat(afterPrepare).as("prepare registers the schema under the new topic's subject").isGreaterThan(afterFirst);
      serde.encode(prepared, change);
      assertThat(calls.get()).as("registry calls of the first record after prepare").isEqualTo(afterPrepare);
    } finally {
      proxy.stop(0);
    }
  }

  private <T extends SpecificRecord> void roundTrip(Class<T> type, List<T> values) {
    String topic = TestKafka.topic("roundtrip-" + type.getSimpleName());
    RegistryAvroSerde<T> serde = serdes.serde(type);

    TestKafka.produce(topic, serde.serializer(), values);

    try (KafkaConsumer<String, T> consumer = TestKafka.consumer(topic, serde.deserializer())) {
      assertThat(TestKafka.read(consumer, values.size())).extracting(ConsumerRecord::value)
          .containsExactlyElementsOf(values);
    }
    // the writer schema went to the topic's subject once, and every record names its id
    SchemaRegistryClient registry = new SchemaRegistryClient(TestRegistry.config());
    SchemaRegistryClient.RegisteredSchema registered = registry.latest(topic + "-value");
    assertThat(registered.version()).isEqualTo(1);
    Schema contract = SpecificData.get().getSchema(type);
    assertThat(registered.schema()).isEqualTo(RegistryAvroSerde.portable(contract));
    assertThat(registered.schema().toString()).as("no Java-only properties in the registry")
        .doesNotContain("avro.java.string");
    for (ConsumerRecord<String, byte[]> raw : TestKafka.readBytes(topic, values.size())) {
      assertThat(raw.value()[0]).isEqualTo((byte) 0);
      assertThat(ByteBuffer.wrap(raw.value(), 1, 4).getInt()).isEqualTo(registered.id());
      assertThat(RegistryAvroSerde.schemaIdOf(topic, raw.value())).isEqualTo(registered.id());
    }
  }

  @Test
  void plainAvroReadsOurBoundaryChangeWithTheRegistrysSchema() throws Exception {
    String topic = TestKafka.topic("plain-avro");
    BoundaryChange change = Samples.boundaryChange(Samples.partitionAdded());
    TestKafka.produce(topic, serdes.serde(BoundaryChange.class).serializer(), List.of(change));
    byte[] payload = TestKafka.readBytes(topic, 1).get(0).value();

    // nothing of ours on the reading side: raw HTTP for the schema, plain Avro for the body
    int id = ByteBuffer.wrap(payload, 1, 4).getInt();
    HttpResponse<String> answer = HttpClient.newHttpClient().send(
        HttpRequest.newBuilder(URI.create(TestRegistry.endpoint().url() + "/schemas/ids/" + id)).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(answer.statusCode()).isEqualTo(200);
    Schema schema = new Schema.Parser().parse(new ObjectMapper().readTree(answer.body()).get("schema").asText());
    BinaryDecoder decoder = DecoderFactory.get().binaryDecoder(Arrays.copyOfRange(payload, 5, payload.length), null);
    GenericRecord decoded = new GenericDatumReader<GenericRecord>(schema).read(null, decoder);

    assertThat(decoder.isEnd()).isTrue();
    assertThat(decoded.get("aggregateId")).hasToString("acme/public.events");
    assertThat(decoded.get("aggregateVersion")).isEqualTo(42L);
    assertThat(decoded.get("changedAt")).isEqualTo(ChronoUnit.MICROS.between(java.time.Instant.EPOCH, Samples.T0));
    GenericRecord added = (GenericRecord) decoded.get("change");
    assertThat(added.getSchema().getFullName()).isEqualTo("dev.partwright.schemas.PartitionAdded");
    assertThat(added.get("partition")).hasToString("public.events_p2026_03_01");
    GenericRecord bound = (GenericRecord) added.get("bound");
    GenericRecord from = (GenericRecord) ((List<?>) bound.get("from")).get(0);
    assertThat(from.get("micros")).isEqualTo(ChronoUnit.MICROS.between(java.time.Instant.EPOCH, Samples.T0));
  }

  @Test
  void readsRecordsWrittenWithAnOlderVersionOfTheContract() {
    // IngestionEvent as it might have been before bytes and rowCount existed
    Schema v0 = SchemaBuilder.record("IngestionEvent").namespace("dev.partwright.schemas").fields()
        .requiredString("tenant").requiredString("schemaName").requiredString("table")
        .name("eventTime").type(org.apache.avro.LogicalTypes.timestampMicros()
            .addToSchema(Schema.create(Schema.Type.LONG))).noDefault()
        .endRecord();
    GenericRecord old = new GenericData.Record(v0);
    old.put("tenant", "acme");
    old.put("schemaName", "public");
    old.put("table", "events");
    old.put("eventTime", 1_000_000L);
    String topic = TestKafka.topic("evolution");

    TestKafka.produce(topic, serdes.genericSerde().serializer(), List.of(old));

    IngestionEvent read = serdes.serde(IngestionEvent.class).decode(TestKafka.readBytes(topic, 1).get(0));
    assertThat(read.getTenant()).isEqualTo("acme");
    assertThat(read.getEventTime()).isEqualTo(java.time.Instant.ofEpochSecond(1));
    assertThat(read.getBytes()).isNull();
    assertThat(read.getRowCount()).isNull();
  }

  @Test
  void readsRecordsWrittenWithANewerVersionOfTheContract() {
    Schema v2 = SchemaBuilder.record("PartitionRetired").namespace("dev.partwright.schemas").fields()
        .requiredString("partition").requiredString("parent").optionalString("archivedTo")
        .endRecord();
    GenericRecord newer = new GenericData.Record(v2);
    newer.put("partition", "public.events_p1");
    newer.put("parent", "public.events");
    newer.put("archivedTo", "archive.events_p1");
    String topic = TestKafka.topic("evolution-newer");

    TestKafka.produce(topic, serdes.genericSerde().serializer(), List.of(newer));

    assertThat(serdes.serde(PartitionRetired.class).decode(TestKafka.readBytes(topic, 1).get(0)))
        .isEqualTo(new PartitionRetired("public.events_p1", "public.events"));
  }

  @Test
  void genericRecordsRoundTripWithTheirWritersSchema() {
    String topic = TestKafka.topic("generic");
    RegistryAvroSerde<GenericRecord> generic = serdes.genericSerde();
    Schema schema = SchemaBuilder.record("Note").namespace("t").fields().requiredString("text").endRecord();
    GenericRecord note = new GenericData.Record(schema);
    note.put("text", "hello");

    TestKafka.produce(topic, generic.serializer(), List.of(note));

    GenericRecord read = generic.decode(TestKafka.readBytes(topic, 1).get(0));
    assertThat(read.getSchema()).isEqualTo(schema);
    assertThat(read.get("text")).hasToString("hello");
  }

  @Test
  void keySerdeUsesTheKeySubject() {
    String topic = TestKafka.topic("keys");
    RegistryAvroSerde<PartitionKey> keys = serdes.keySerde(PartitionKey.class);
    byte[] bytes = keys.encode(topic, Samples.timeKey());
    assertThat(keys.decode(topic, bytes)).isEqualTo(Samples.timeKey());
    assertThat(keys.subject(topic)).isEqualTo(topic + "-key");
    assertThat(serdes.registry().latest(topic + "-key").schema())
        .isEqualTo(RegistryAvroSerde.portable(PartitionKey.getClassSchema()));
  }

  @Test
  void withoutAutoRegistrationTheSchemaMustAlreadyBeThere() {
    String topic = TestKafka.topic("no-auto-register");
    PartwrightSerdes lookupOnly = PartwrightSerdes.create(TestRegistry.config().withAutoRegister(false));
    BoundaryChange change = Samples.boundaryChange(Samples.partitionAdded());

    org.assertj.core.api.Assertions.assertThatThrownBy(() -> lookupOnly.serde(BoundaryChange.class).encode(topic, change))
        .isInstanceOfSatisfying(SchemaRegistryException.class, e -> assertThat(e.status()).hasValue(404));

    int id = serdes.registry().register(topic + "-value", RegistryAvroSerde.portable(BoundaryChange.getClassSchema()));
    assertThat(RegistryAvroSerde.schemaIdOf(topic, lookupOnly.serde(BoundaryChange.class).encode(topic, change)))
        .isEqualTo(id);
  }

  @Test
  void nullIsATombstoneBothWays() {
    RegistryAvroSerde<BoundaryChange> serde = serdes.serde(BoundaryChange.class);
    assertThat(serde.encode("any", null)).isNull();
    assertThat(serde.decode("any", null)).isNull();
    assertThat(serdes.serde(BoundaryChange.class)).as("one serde per type").isSameAs(serde);
  }
}
