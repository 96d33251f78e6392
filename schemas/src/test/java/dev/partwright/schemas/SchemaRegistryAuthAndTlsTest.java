package dev.partwright.schemas;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import org.apache.avro.Schema;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Credentials and TLS, which the embedded Apicurio (plain HTTP, no auth) cannot exercise: an HTTPS
 * endpoint with a private CA that records what it is sent. It checks our side of the wire only;
 * the registry's behaviour is tested against the real one.
 */
class SchemaRegistryAuthAndTlsTest {

  @TempDir
  static Path tmp;

  private static HttpsServer server;
  private static Path trustStore;
  private static String url;
  private static final List<String> AUTHORIZATION = new CopyOnWriteArrayList<>();

  @BeforeAll
  static void httpsEndpoint() throws Exception {
    Path serverStore = tmp.resolve("server.p12");
    Path cert = tmp.resolve("server.pem");
    trustStore = tmp.resolve("trust.p12");
    keytool("-genkeypair", "-alias", "registry", "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=localhost",
        "-ext", "SAN=ip:127.0.0.1,dns:localhost", "-validity", "2", "-keystore", serverStore.toString(),
        "-storetype", "PKCS12", "-storepass", "serverpass");
    keytool("-exportcert", "-rfc", "-alias", "registry", "-file", cert.toString(), "-keystore", serverStore.toString(),
        "-storetype", "PKCS12", "-storepass", "serverpass");
    keytool("-importcert", "-noprompt", "-alias", "ca", "-file", cert.toString(), "-keystore", trustStore.toString(),
        "-storetype", "PKCS12", "-storepass", "trustpass");

    KeyStore keys = KeyStore.getInstance("PKCS12");
    try (InputStream in = Files.newInputStream(serverStore)) {
      keys.load(in, "serverpass".toCharArray());
    }
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(keys, "serverpass".toCharArray());
    SSLContext tls = SSLContext.getInstance("TLS");
    tls.init(kmf.getKeyManagers(), null, null);

    server = HttpsServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.setHttpsConfigurator(new HttpsConfigurator(tls));
    server.createContext("/schemas/ids/1", exchange -> answer(exchange, "{\"schema\":\"\\\"string\\\"\"}"));
    server.start();
    url = "https://127.0.0.1:" + server.getAddress().getPort();
  }

  @AfterAll
  static void stop() {
    server.stop(0);
  }

  private static void answer(HttpExchange exchange, String body) throws IOException {
    String authorization = exchange.getRequestHeaders().getFirst("Authorization");
    AUTHORIZATION.add(authorization == null ? "none" : authorization);
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    exchange.getResponseHeaders().add("Content-Type", "application/vnd.schemaregistry.v1+json");
    exchange.sendResponseHeaders(200, bytes.length);
    exchange.getResponseBody().write(bytes);
    exchange.close();
  }

  private static void keytool(String... args) throws Exception {
    List<String> command = new java.util.ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
    command.addAll(List.of(args));
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor()).as("keytool %s: %s", args[0], output).isZero();
  }

  @Test
  void trustStoreLetsTheClientTrustAPrivateCa() {
    SchemaRegistryClient client = new SchemaRegistryClient(SchemaRegistryConfig.of(url)
        .withTrustStore(trustStore, "trustpass", "PKCS12"));
    assertThat(client.schemaById(1)).isEqualTo(Schema.create(Schema.Type.STRING));
  }

  @Test
  void withoutTheTrustStoreTheHandshakeFailsWithAHint() {
    SchemaRegistryClient client = new SchemaRegistryClient(SchemaRegistryConfig.of(url));
    assertThatThrownBy(() -> client.schemaById(1))
        .isInstanceOfSatisfying(SchemaRegistryException.class, e -> {
          assertThat(e.status()).isEmpty();
          assertThat(e.registryMessage()).startsWith("TLS handshake failed: ")
              .endsWith("(does the trust store hold the registry's CA? PARTWRIGHT_SCHEMA_REGISTRY_TRUSTSTORE)");
        });
  }

  @Test
  void wrongTrustStorePasswordIsAConfigurationError() {
    assertThatThrownBy(() -> new SchemaRegistryClient(SchemaRegistryConfig.of(url)
        .withTrustStore(trustStore, "wrong", null)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("cannot load the schema registry trust store " + trustStore);
  }

  @Test
  void basicAuthAndBearerTokenHeaders() {
    SchemaRegistryConfig base = SchemaRegistryConfig.of(url).withTrustStore(trustStore, "trustpass", null);
    AUTHORIZATION.clear();
    new SchemaRegistryClient(base.withBasicAuth("svc", "p@ss:word")).schemaById(1);
    new SchemaRegistryClient(base.withBearerToken("eyJ0b2tlbiJ9")).schemaById(1);
    new SchemaRegistryClient(base).schemaById(1);
    assertThat(AUTHORIZATION).containsExactly(
        "Basic " + java.util.Base64.getEncoder().encodeToString("svc:p@ss:word".getBytes(StandardCharsets.UTF_8)),
        "Bearer eyJ0b2tlbiJ9",
        "none");
  }
}
