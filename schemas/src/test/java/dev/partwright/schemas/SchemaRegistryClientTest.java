package dev.partwright.schemas;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.UUID;
import org.apache.avro.Schema;
import org.junit.jupiter.api.Test;

/** The client against the real registry (Apicurio's Confluent API, unless PARTWRIGHT_SCHEMA_REGISTRY_URL says otherwise). */
class SchemaRegistryClientTest {

  private final SchemaRegistryClient client = new SchemaRegistryClient(TestRegistry.config());

  private static Schema record(String name, String fields) {
    return new Schema.Parser().parse("{\"type\":\"record\",\"name\":\"" + name + "\",\"namespace\":\"t\",\"fields\":["
        + fields + "]}");
  }

  private static String uniqueTopic() {
    return "client-test-" + UUID.randomUUID();
  }

  @Test
  void topicNameStrategySubjects() {
    assertThat(SchemaRegistryClient.valueSubject("partwright.boundaries")).isEqualTo("partwright.boundaries-value");
    assertThat(SchemaRegistryClient.keySubject("partwright.boundaries")).isEqualTo("partwright.boundaries-key");
    assertThat(SchemaRegistryClient.subject("t", true)).isEqualTo("t-key");
  }

  @Test
  void registerLookUpAndFetchById() {
    String subject = SchemaRegistryClient.valueSubject(uniqueTopic());
    Schema v1 = BoundaryChange.getClassSchema();

    int id = client.register(subject, v1);

    assertThat(client.register(subject, v1)).isEqualTo(id);
    SchemaRegistryClient fresh = new SchemaRegistryClient(TestRegistry.config()); // nothing cached
    assertThat(fresh.register(subject, v1)).as("registering again is idempotent").isEqualTo(id);
    assertThat(fresh.lookup(subject, v1)).isEqualTo(id);
    Schema byId = fresh.schemaById(id);
    assertThat(byId).isEqualTo(v1);
    assertThat(fresh.schemaById(id)).as("cached").isSameAs(byId);
    assertThat(fresh.subjects()).contains(subject);

    SchemaRegistryClient.RegisteredSchema latest = fresh.latest(subject);
    assertThat(latest.subject()).isEqualTo(subject);
    assertThat(latest.version()).isEqualTo(1);
    assertThat(latest.id()).isEqualTo(id);
    assertThat(latest.schema()).isEqualTo(v1);
  }

  @Test
  void newVersionsAndCompatibility() {
    String subject = SchemaRegistryClient.valueSubject(uniqueTopic());
    Schema v1 = record("R", "{\"name\":\"a\",\"type\":\"long\"}");
    Schema addsOptional = record("R", "{\"name\":\"a\",\"type\":\"long\"},"
        + "{\"name\":\"b\",\"type\":[\"null\",\"string\"],\"default\":null}");
    Schema addsRequired = record("R", "{\"name\":\"a\",\"type\":\"long\"},{\"name\":\"c\",\"type\":\"string\"}");

    assertThat(client.checkCompatibility(subject, v1).compatible()).as("no versions yet").isTrue();
    int id1 = client.register(subject, v1);
    assertThat(client.checkCompatibility(subject, addsOptional).compatible()).isTrue();
    assertThat(client.checkCompatibility(subject, addsRequired).compatible()).isFalse();

    int id2 = client.register(subject, addsOptional);
    assertThat(id2).isNotEqualTo(id1);
    assertThat(client.latest(subject).version()).isEqualTo(2);

    assertThatThrownBy(() -> client.register(subject, addsRequired))
        .isInstanceOfSatisfying(SchemaRegistryException.class, e -> {
          assertThat(e.status()).hasValue(409);
          assertThat(e.subject()).hasValue(subject);
          assertThat(e.url()).isEqualTo(TestRegistry.endpoint().url());
          assertThat(e.request()).isEqualTo("POST /subjects/" + subject + "/versions");
          assertThat(e.registryMessage()).isNotBlank();
          assertThat(e.retriable()).isFalse();
        })
        .hasMessageStartingWith("schema registry " + TestRegistry.endpoint().url() + ": POST /subjects/" + subject
            + "/versions (subject " + subject + ") answered HTTP 409");
  }

  @Test
  void unknownIdAndSubjectAreTypedErrors() {
    assertThatThrownBy(() -> client.schemaById(Integer.MAX_VALUE))
        .isInstanceOfSatisfying(SchemaRegistryException.class, e -> {
          assertThat(e.status()).hasValue(404);
          assertThat(e.errorCode()).hasValue(SchemaRegistryException.SCHEMA_NOT_FOUND);
          assertThat(e.request()).isEqualTo("GET /schemas/ids/" + Integer.MAX_VALUE);
          assertThat(e.subject()).isEmpty();
        });
    String subject = SchemaRegistryClient.valueSubject(uniqueTopic());
    assertThatThrownBy(() -> client.latest(subject))
        .isInstanceOfSatisfying(SchemaRegistryException.class, e -> {
          assertThat(e.status()).hasValue(404);
          assertThat(e.errorCode()).hasValue(SchemaRegistryException.SUBJECT_NOT_FOUND);
          assertThat(e.subject()).hasValue(subject);
        });
    assertThatThrownBy(() -> client.lookup(subject, BoundaryChange.getClassSchema()))
        .isInstanceOfSatisfying(SchemaRegistryException.class, e -> assertThat(e.status()).hasValue(404));
  }

  @Test
  void unreachableRegistryIsRetriableWithTheReason() throws Exception {
    int port;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    SchemaRegistryClient down = new SchemaRegistryClient(SchemaRegistryConfig.of("http://127.0.0.1:" + port)
        .withTimeouts(Duration.ofSeconds(1), Duration.ofSeconds(2)));
    assertThatThrownBy(() -> down.schemaById(1))
        .isInstanceOfSatisfying(SchemaRegistryException.class, e -> {
          assertThat(e.status()).isEmpty();
          assertThat(e.retriable()).isTrue();
          assertThat(e.registryMessage()).isEqualTo("connection refused");
        })
        .hasMessage("schema registry http://127.0.0.1:" + port + ": GET /schemas/ids/1 got no answer: connection refused");
  }

  @Test
  void failsOverToTheNextUrlWhenOneDoesNotAnswer() throws Exception {
    int port;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    SchemaRegistryClient twoUrls = new SchemaRegistryClient(
        SchemaRegistryConfig.of("http://127.0.0.1:" + port + "," + TestRegistry.endpoint().url()));
    assertThat(twoUrls.subjects()).isNotNull();
  }
}
