package dev.partwright.embedded;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;

/**
 * An existing schema registry speaking the Confluent API (Confluent Schema Registry, Apicurio's
 * {@code /apis/ccompat/v7}, Karapace), reached by URL. Reachability is checked on creation with
 * {@code GET <url>/subjects}; an answer of 401 or 403 counts as reachable, since credentials are
 * the client's business ({@code PARTWRIGHT_SCHEMA_REGISTRY_USER} / {@code _PASSWORD} / {@code _TOKEN},
 * read by {@code dev.partwright.schemas.SchemaRegistryConfig}).
 */
public final class ExternalSchemaRegistry implements SchemaRegistryEndpoint {

  public static final String URL_ENV = "PARTWRIGHT_SCHEMA_REGISTRY_URL";
  public static final String URL_PROPERTY = "partwright.schema-registry.url";

  private static final Duration TIMEOUT = Duration.ofSeconds(5);

  private final String url;

  private ExternalSchemaRegistry(String url) {
    this.url = url;
  }

  /**
   * Uses {@code PARTWRIGHT_SCHEMA_REGISTRY_URL} (or {@code -Dpartwright.schema-registry.url}).
   *
   * @throws ServerStartException if it is unset or the registry cannot be reached
   */
  public static ExternalSchemaRegistry fromEnvironment() {
    String url = Support.setting(URL_PROPERTY, URL_ENV);
    if (url == null) {
      throw new ServerStartException("schema-registry", "",
          "no external schema registry configured: set " + URL_ENV + " (or -D" + URL_PROPERTY + ")");
    }
    return connect(url);
  }

  /**
   * @param url base URL of the Confluent API, e.g. {@code http://registry:8081} or
   *     {@code http://apicurio:8080/apis/ccompat/v7}; {@code user:password@} in it is used for the check
   * @throws ServerStartException e.g. {@code cannot connect to the schema registry at http://127.0.0.1:1: connection refused}
   */
  public static ExternalSchemaRegistry connect(String url) {
    URI uri = normalize(url);
    String shown = withoutUserInfo(uri);
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(uri + "/subjects")).timeout(TIMEOUT).GET()
        .header("Accept", "application/vnd.schemaregistry.v1+json, application/json");
    if (uri.getRawUserInfo() != null) {
      String userInfo = URLDecoder.decode(uri.getRawUserInfo(), StandardCharsets.UTF_8);
      request.header("Authorization",
          "Basic " + Base64.getEncoder().encodeToString(userInfo.getBytes(StandardCharsets.UTF_8)));
    }
    HttpResponse<String> response;
    try {
      HttpClient http = HttpClient.newBuilder().connectTimeout(TIMEOUT).build();
      response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
    } catch (IOException e) {
      throw new ServerStartException("schema-registry", shown,
          "cannot connect to the schema registry at " + shown + ": " + Support.networkReason(e), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new ServerStartException("schema-registry", shown, "interrupted while connecting to " + shown, e);
    }
    int status = response.statusCode();
    if (status == 404) {
      throw new ServerStartException("schema-registry", shown,
          "cannot use the schema registry at " + shown + ": GET /subjects answered 404; is this the base URL of a"
              + " Confluent-compatible API? (Apicurio serves it under /apis/ccompat/v7)");
    }
    if (status != 200 && status != 401 && status != 403) {
      throw new ServerStartException("schema-registry", shown,
          "cannot use the schema registry at " + shown + ": GET /subjects answered " + status + ": " + abbreviate(response.body()));
    }
    return new ExternalSchemaRegistry(uri.toString());
  }

  /** The URL as configured (with any {@code user:password@}), without a trailing slash. */
  @Override
  public String url() {
    return url;
  }

  @Override
  public boolean embedded() {
    return false;
  }

  /** Nothing to release: the registry is not ours to stop. */
  @Override
  public void close() {}

  @Override
  public String toString() {
    return "ExternalSchemaRegistry[" + withoutUserInfo(URI.create(url)) + "]";
  }

  static URI normalize(String url) {
    String trimmed = url == null ? "" : url.trim();
    while (trimmed.endsWith("/")) {
      trimmed = trimmed.substring(0, trimmed.length() - 1);
    }
    URI uri;
    try {
      uri = new URI(trimmed);
    } catch (URISyntaxException e) {
      throw new ServerStartException("schema-registry", "", "bad schema registry URL (" + URL_ENV + "): " + e.getMessage(), e);
    }
    if (!("http".equals(uri.getScheme()) || "https".equals(uri.getScheme())) || uri.getHost() == null) {
      throw new ServerStartException("schema-registry", withoutUserInfo(uri),
          "bad schema registry URL '" + withoutUserInfo(uri) + "' (" + URL_ENV + "): expected http(s)://host[:port][/path]");
    }
    return uri;
  }

  static String withoutUserInfo(URI uri) {
    if (uri.getRawUserInfo() == null) {
      return uri.toString();
    }
    return uri.toString().replace(uri.getRawUserInfo() + "@", "***@");
  }

  private static String abbreviate(String body) {
    String s = body == null ? "" : body.strip();
    return s.length() <= 300 ? s : s.substring(0, 300) + "...";
  }
}
