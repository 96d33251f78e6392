package dev.partwright.embedded;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** One dedicated registry for the class (about 4 s to start); the lifecycle test starts its own. */
class EmbeddedSchemaRegistryTest {

  private static final String AVRO = "application/vnd.schemaregistry.v1+json";
  private static final HttpClient HTTP = HttpClient.newHttpClient();
  private static EmbeddedSchemaRegistry registry;

  @BeforeAll
  static void start() {
    registry = EmbeddedSchemaRegistry.start();
  }

  @AfterAll
  static void stop() {
    registry.close();
  }

  @Test
  void servesTheConfluentApiOnLoopback() throws Exception {
    assertThat(registry.url()).matches("http://127\\.0\\.0\\.1:\\d+/apis/ccompat/v7");
    assertThat(registry.embedded()).isTrue();
    HttpResponse<String> subjects = get(registry.url() + "/subjects");
    assertThat(subjects.statusCode()).isEqualTo(200);
    assertThat(subjects.body()).startsWith("[").endsWith("]");

    String schema = "{\"type\":\"record\",\"name\":\"A\",\"fields\":[{\"name\":\"x\",\"type\":\"int\"}]}";
    HttpResponse<String> registered = post(registry.url() + "/subjects/a-value/versions", schema);
    assertThat(registered.statusCode()).isEqualTo(200);
    assertThat(registered.body()).matches("\\{\"id\":\\d+}");
  }

  @Test
  void enforcesBackwardCompatibilityLikeConfluentsDefault() throws Exception {
    String v1 = "{\"type\":\"record\",\"name\":\"B\",\"fields\":[{\"name\":\"x\",\"type\":\"int\"}]}";
    String addsRequiredField = "{\"type\":\"record\",\"name\":\"B\",\"fields\":[{\"name\":\"x\",\"type\":\"int\"},"
        + "{\"name\":\"y\",\"type\":\"int\"}]}";
    String addsOptionalField = "{\"type\":\"record\",\"name\":\"B\",\"fields\":[{\"name\":\"x\",\"type\":\"int\"},"
        + "{\"name\":\"y\",\"type\":[\"null\",\"int\"],\"default\":null}]}";
    assertThat(post(registry.url() + "/subjects/b-value/versions", v1).statusCode()).isEqualTo(200);
    assertThat(post(registry.url() + "/subjects/b-value/versions", addsRequiredField).statusCode()).isEqualTo(409);
    assertThat(post(registry.url() + "/subjects/b-value/versions", addsOptionalField).statusCode()).isEqualTo(200);
  }

  @Test
  void externalEndpointReachesTheSameRegistry() {
    ExternalSchemaRegistry external = ExternalSchemaRegistry.connect(registry.url() + "/");
    assertThat(external.url()).isEqualTo(registry.url());
    assertThat(external.embedded()).isFalse();
  }

  @Test
  void externalEndpointRejectsAUrlThatIsNotTheConfluentApi() {
    String root = registry.url().replace(EmbeddedSchemaRegistry.CONFLUENT_API_PATH, "");
    assertThatThrownBy(() -> ExternalSchemaRegistry.connect(root))
        .isInstanceOf(ServerStartException.class)
        .hasMessageContaining("GET /subjects answered 404")
        .hasMessageContaining("/apis/ccompat/v7");
  }

  @Test
  void externalEndpointOnAClosedPortGivesAClearError() {
    int closed = Support.freePort();
    assertThatThrownBy(() -> ExternalSchemaRegistry.connect("http://user:hunter2@127.0.0.1:" + closed))
        .isInstanceOf(ServerStartException.class)
        .hasMessage("cannot connect to the schema registry at http://***@127.0.0.1:" + closed + ": connection refused")
        .extracting(e -> ((ServerStartException) e).server()).isEqualTo("schema-registry");
  }

  @Test
  void badUrlsAreRefusedBeforeAnyConnection() {
    assertThatThrownBy(() -> ExternalSchemaRegistry.connect("registry:8081"))
        .isInstanceOf(ServerStartException.class).hasMessageContaining("expected http(s)://host[:port][/path]");
    assertThatThrownBy(() -> ExternalSchemaRegistry.connect(" "))
        .isInstanceOf(ServerStartException.class);
  }

  @Test
  void closeStopsTheProcessTreeAndDeletesTheFiles(@TempDir Path tmp) throws Exception {
    Path dir = tmp.resolve("registry");
    EmbeddedSchemaRegistry own = EmbeddedSchemaRegistry.start(dir);
    ProcessHandle process = own.process();
    assertThat(process.isAlive()).isTrue();
    assertThat(Files.readString(dir.resolve("registry.pid")).trim()).isEqualTo(String.valueOf(process.pid()));
    assertThat(own.logFile()).exists();

    own.close();

    assertThat(process.isAlive()).isFalse();
    assertThat(process.descendants()).isEmpty();
    assertThat(ProcessHandle.current().children()).doesNotContain(process); // reaped, not a zombie
    assertThat(own.isRunning()).isFalse();
    assertThat(dir).doesNotExist();
    own.close(); // idempotent
  }

  @Test
  void versionMatchesTheRootPom() throws Exception {
    String pom = Files.readString(Path.of("..", "pom.xml"), StandardCharsets.UTF_8);
    Matcher m = Pattern.compile("<apicurio-registry.version>([^<]+)</apicurio-registry.version>").matcher(pom);
    assertThat(m.find()).as("apicurio-registry.version in the root pom").isTrue();
    assertThat(EmbeddedSchemaRegistry.APICURIO_VERSION).isEqualTo(m.group(1));
  }

  @Test
  void localRepositoryHonoursMavenRepoLocal(@TempDir Path tmp) {
    String before = System.getProperty("maven.repo.local");
    System.setProperty("maven.repo.local", tmp.toString());
    try {
      assertThat(EmbeddedSchemaRegistryDistribution.localRepository()).isEqualTo(tmp);
      assertThat(EmbeddedSchemaRegistryDistribution.archiveInLocalRepository(tmp, "3.0.9"))
          .isEqualTo(tmp.resolve("io/apicurio/apicurio-registry-app/3.0.9/apicurio-registry-app-3.0.9-all.tar.gz"));
    } finally {
      if (before == null) {
        System.clearProperty("maven.repo.local");
      } else {
        System.setProperty("maven.repo.local", before);
      }
    }
  }

  @Test
  void missingDistributionNamesWhereItLookedAndWhatToDo(@TempDir Path tmp) {
    String before = System.getProperty("maven.repo.local");
    System.setProperty("maven.repo.local", tmp.toString());
    try {
      assertThatThrownBy(() -> EmbeddedSchemaRegistryDistribution.runnerJar("0.0.1"))
          .isInstanceOf(ServerStartException.class)
          .hasMessageContaining("Apicurio Registry 0.0.1 is not in the local Maven repository")
          .hasMessageContaining(tmp.toString())
          .hasMessageContaining("PARTWRIGHT_SCHEMA_REGISTRY_URL");
    } finally {
      if (before == null) {
        System.clearProperty("maven.repo.local");
      } else {
        System.setProperty("maven.repo.local", before);
      }
    }
  }

  private static HttpResponse<String> get(String url) throws Exception {
    return HTTP.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private static HttpResponse<String> post(String url, String schema) throws Exception {
    String body = "{\"schema\":\"" + schema.replace("\"", "\\\"") + "\"}";
    return HTTP.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10))
        .header("Content-Type", AVRO).POST(HttpRequest.BodyPublishers.ofString(body)).build(),
        HttpResponse.BodyHandlers.ofString());
  }
}
