package dev.partwright.schemas;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SchemaRegistryConfigTest {

  @Test
  void urlsAreNormalized() {
    SchemaRegistryConfig config = SchemaRegistryConfig.of(" http://a:8081/ , https://b/apis/ccompat/v7/ ");
    assertThat(config.urls()).containsExactly(URI.create("http://a:8081"), URI.create("https://b/apis/ccompat/v7"));
    assertThat(config.credentials()).isEqualTo(new SchemaRegistryConfig.Credentials.None());
    assertThat(config.autoRegister()).isTrue();
    assertThat(config.displayUrl()).isEqualTo("http://a:8081");
  }

  @Test
  void credentialsInTheUrlBecomeBasicAuthAndLeaveTheUrl() {
    SchemaRegistryConfig config = SchemaRegistryConfig.of("https://key%40corp:s3cr%2Bt+x@registry.example:443");
    assertThat(config.credentials()).isEqualTo(new SchemaRegistryConfig.Credentials.Basic("key@corp", "s3cr+t+x"));
    assertThat(config.urls()).containsExactly(URI.create("https://registry.example:443"));
    assertThat(config.toString()).doesNotContain("s3cr");
  }

  @Test
  void secretsNeverShowInToString() {
    assertThat(SchemaRegistryConfig.of("http://r").withBasicAuth("u", "hunter2").toString())
        .contains("user=u").doesNotContain("hunter2");
    assertThat(SchemaRegistryConfig.of("http://r").withBearerToken("eyJsecret").toString()).doesNotContain("eyJsecret");
  }

  @Test
  void badSettingsAreRefusedWithTheReason() {
    assertThatThrownBy(() -> SchemaRegistryConfig.of("registry:8081"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("expected http(s)://host[:port][/path]");
    assertThatThrownBy(() -> SchemaRegistryConfig.of("ftp://r"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("bad schema registry URL 'ftp://r'");
    assertThatThrownBy(() -> SchemaRegistryConfig.of("http://r?x=1"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("no query");
    assertThatThrownBy(() -> SchemaRegistryConfig.of(" , "))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("at least one URL");
    assertThatThrownBy(() -> new SchemaRegistryConfig(List.of(URI.create("http://u:p@r")),
        new SchemaRegistryConfig.Credentials.Bearer("t"), null, Duration.ofSeconds(1), Duration.ofSeconds(1), true))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("different credentials");
    assertThat(SchemaRegistryConfig.of("http://u:p@r").withBearerToken("t").credentials())
        .as("an explicit choice replaces the URL's").isEqualTo(new SchemaRegistryConfig.Credentials.Bearer("t"));
    assertThatThrownBy(() -> SchemaRegistryConfig.of("http://r").withBasicAuth("a:b", "p"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("without ':'");
    assertThatThrownBy(() -> SchemaRegistryConfig.of("http://r").withBearerToken("two words"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("without whitespace");
    assertThatThrownBy(() -> SchemaRegistryConfig.of("http://r").withTimeouts(Duration.ZERO, Duration.ofSeconds(1)))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("connect timeout must be positive");
    assertThatThrownBy(() -> SchemaRegistryConfig.of("http://r").withTrustStore(Path.of("/nonexistent.p12"), null, null))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("/nonexistent.p12 is not a readable file");
  }

  @Test
  void fromEnvironment(@TempDir Path tmp) throws Exception {
    Path trust = Files.createFile(tmp.resolve("trust.jks"));
    Map<String, String> env = Map.of(
        "PARTWRIGHT_SCHEMA_REGISTRY_URL", "https://r1:8081,https://r2:8081",
        "PARTWRIGHT_SCHEMA_REGISTRY_USER", "svc",
        "PARTWRIGHT_SCHEMA_REGISTRY_PASSWORD", "pw",
        "PARTWRIGHT_SCHEMA_REGISTRY_TRUSTSTORE", trust.toString(),
        "PARTWRIGHT_SCHEMA_REGISTRY_TRUSTSTORE_TYPE", "jks",
        "PARTWRIGHT_SCHEMA_REGISTRY_AUTO_REGISTER", "false");

    SchemaRegistryConfig config = SchemaRegistryConfig.fromEnvironment(env::get);

    assertThat(config.urls()).hasSize(2);
    assertThat(config.credentials()).isEqualTo(new SchemaRegistryConfig.Credentials.Basic("svc", "pw"));
    assertThat(config.trustStore().type()).isEqualTo("JKS");
    assertThat(config.trustStore().password()).isNull();
    assertThat(config.autoRegister()).isFalse();

    assertThat(SchemaRegistryConfig.fromEnvironment(Map.of("PARTWRIGHT_SCHEMA_REGISTRY_URL", "http://r",
        "PARTWRIGHT_SCHEMA_REGISTRY_TOKEN", "abc")::get).credentials())
        .isEqualTo(new SchemaRegistryConfig.Credentials.Bearer("abc"));
    assertThatThrownBy(() -> SchemaRegistryConfig.fromEnvironment(Map.<String, String>of()::get))
        .hasMessage("no schema registry configured: set PARTWRIGHT_SCHEMA_REGISTRY_URL");
    assertThatThrownBy(() -> SchemaRegistryConfig.fromEnvironment(Map.of("PARTWRIGHT_SCHEMA_REGISTRY_URL", "http://r",
        "PARTWRIGHT_SCHEMA_REGISTRY_USER", "u", "PARTWRIGHT_SCHEMA_REGISTRY_TOKEN", "t")::get))
        .hasMessageContaining("not both");
    assertThatThrownBy(() -> SchemaRegistryConfig.fromEnvironment(Map.of("PARTWRIGHT_SCHEMA_REGISTRY_URL", "http://r",
        "PARTWRIGHT_SCHEMA_REGISTRY_AUTO_REGISTER", "yes")::get))
        .hasMessageContaining("must be true or false");
  }

  @Test
  void systemPropertiesWinOverTheEnvironment() {
    System.setProperty("partwright.schema-registry.url", "http://from-property:1");
    System.setProperty("partwright.schema-registry.truststore-type", "JKS");
    try {
      assertThat(SchemaRegistryConfig.fromEnvironment().urls()).containsExactly(URI.create("http://from-property:1"));
    } finally {
      System.clearProperty("partwright.schema-registry.url");
      System.clearProperty("partwright.schema-registry.truststore-type");
    }
  }
}
