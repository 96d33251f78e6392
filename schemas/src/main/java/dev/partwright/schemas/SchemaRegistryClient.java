package dev.partwright.schemas;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.channels.UnresolvedAddressException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLException;
import javax.net.ssl.TrustManagerFactory;
import org.apache.avro.Schema;
import org.apache.avro.SchemaParseException;

/**
 * A client of the Confluent Schema Registry REST API (v1 content type), the dialect Confluent
 * Schema Registry, Apicurio ({@code /apis/ccompat/v7}) and Karapace all speak. Written on
 * {@code java.net.http} and Jackson: Confluent's own client is not on Maven Central, and the few
 * calls a serde needs do not justify a library with its own HTTP stack.
 *
 * <p>Avro only. Schemas are registered fully inlined (every named type written out), so no schema
 * references are used or followed. Ids per subject and schemas per id are cached for the life of
 * the client (the registry never changes what an id means); one client per application is enough,
 * and it is thread-safe.
 */
public final class SchemaRegistryClient {

  private static final String CONTENT_TYPE = "application/vnd.schemaregistry.v1+json";
  private static final String ACCEPT =
      "application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json; q=0.9, application/json; q=0.5";

  private final SchemaRegistryConfig config;
  private final HttpClient http;
  private final String authorization;
  private final ObjectMapper json = new ObjectMapper();
  private final Map<Integer, Schema> schemasById = new ConcurrentHashMap<>();
  private final Map<SubjectSchema, Integer> idsBySubjectSchema = new ConcurrentHashMap<>();
  /** Index of the URL that answered last: requests start there. */
  private volatile int preferred;

  private record SubjectSchema(String subject, Schema schema) {}

  /** A schema as registered under a subject. */
  public record RegisteredSchema(String subject, int version, int id, Schema schema) {}

  /**
   * The registry's verdict on a schema against a subject's latest version, under the subject's
   * compatibility level.
   *
   * @param messages why not, when the registry says (Confluent and Karapace do with {@code verbose})
   */
  public record Compatibility(boolean compatible, List<String> messages) {
    public Compatibility {
      messages = List.copyOf(messages);
    }
  }

  public SchemaRegistryClient(SchemaRegistryConfig config) {
    this.config = Objects.requireNonNull(config, "config");
    HttpClient.Builder builder = HttpClient.newBuilder()
        .version(HttpClient.Version.HTTP_1_1) // no h2c upgrade dance with registries behind simple proxies
        .connectTimeout(config.connectTimeout())
        .followRedirects(HttpClient.Redirect.NEVER);
    if (config.trustStore() != null) {
      builder.sslContext(sslContext(config.trustStore()));
    }
    this.http = builder.build();
    this.authorization = authorization(config.credentials());
  }

  private static String authorization(SchemaRegistryConfig.Credentials credentials) {
    if (credentials instanceof SchemaRegistryConfig.Credentials.Basic basic) {
      return "Basic " + Base64.getEncoder()
          .encodeToString((basic.user() + ":" + basic.password()).getBytes(StandardCharsets.UTF_8));
    }
    if (credentials instanceof SchemaRegistryConfig.Credentials.Bearer bearer) {
      return "Bearer " + bearer.token();
    }
    return null;
  }

  public SchemaRegistryConfig config() {
    return config;
  }

  /** The subject of a topic's keys or values under Confluent's default {@code TopicNameStrategy}. */
  public static String subject(String topic, boolean isKey) {
    return topic + (isKey ? "-key" : "-value");
  }

  /** {@code <topic>-value}. */
  public static String valueSubject(String topic) {
    return subject(topic, false);
  }

  /** {@code <topic>-key}. */
  public static String keySubject(String topic) {
    return subject(topic, true);
  }

  /**
   * Registers {@code schema} under {@code subject} (a no-op returning the existing id when it is
   * already registered there) and returns its id. Cached: asks the registry once per subject and schema.
   *
   * @throws SchemaRegistryException e.g. HTTP 409 when the subject's compatibility level forbids it
   */
  public int register(String subject, Schema schema) {
    SubjectSchema key = new SubjectSchema(subject, schema);
    Integer cached = idsBySubjectSchema.get(key);
    if (cached != null) {
      return cached;
    }
    JsonNode answer = call("POST", "/subjects/" + encode(subject) + "/versions", subject, schemaBody(schema));
    int id = intField(answer, "id", "POST /subjects/" + subject + "/versions", subject);
    idsBySubjectSchema.put(key, id);
    schemasById.putIfAbsent(id, schema);
    return id;
  }

  /**
   * The id of {@code schema} if it is registered under {@code subject}, without registering it.
   *
   * @throws SchemaRegistryException with error code {@value SchemaRegistryException#SUBJECT_NOT_FOUND}
   *     or {@value SchemaRegistryException#SCHEMA_NOT_FOUND} when it is not
   */
  public int lookup(String subject, Schema schema) {
    SubjectSchema key = new SubjectSchema(subject, schema);
    Integer cached = idsBySubjectSchema.get(key);
    if (cached != null) {
      return cached;
    }
    JsonNode answer = call("POST", "/subjects/" + encode(subject), subject, schemaBody(schema));
    int id = intField(answer, "id", "POST /subjects/" + subject, subject);
    idsBySubjectSchema.put(key, id);
    schemasById.putIfAbsent(id, schema);
    return id;
  }

  /**
   * The schema with this id. Cached: asks the registry once per id.
   *
   * @throws SchemaRegistryException with error code {@value SchemaRegistryException#SCHEMA_NOT_FOUND}
   *     when the registry does not know the id
   */
  public Schema schemaById(int id) {
    Schema cached = schemasById.get(id);
    if (cached != null) {
      return cached;
    }
    String request = "GET /schemas/ids/" + id;
    Schema schema = parse(call("GET", "/schemas/ids/" + id, null, null), request, null);
    Schema raced = schemasById.putIfAbsent(id, schema);
    return raced != null ? raced : schema;
  }

  /** The latest version registered under {@code subject} (not cached: it changes). */
  public RegisteredSchema latest(String subject) {
    String request = "GET /subjects/" + subject + "/versions/latest";
    JsonNode answer = call("GET", "/subjects/" + encode(subject) + "/versions/latest", subject, null);
    return new RegisteredSchema(subject, intField(answer, "version", request, subject), intField(answer, "id", request, subject),
        parse(answer, request, subject));
  }

  /** All subjects. */
  public List<String> subjects() {
    JsonNode answer = call("GET", "/subjects", null, null);
    List<String> out = new ArrayList<>();
    answer.forEach(node -> out.add(node.asText()));
    return out;
  }

  /**
   * Whether the registry would accept {@code schema} as the next version of {@code subject}. A
   * subject with no versions accepts anything.
   */
  public Compatibility checkCompatibility(String subject, Schema schema) {
    JsonNode answer;
    try {
      answer = call("POST", "/compatibility/subjects/" + encode(subject) + "/versions/latest?verbose=true", subject,
          schemaBody(schema));
    } catch (SchemaRegistryException e) {
      if (e.errorCode().orElse(0) == SchemaRegistryException.SUBJECT_NOT_FOUND
          || e.errorCode().orElse(0) == SchemaRegistryException.VERSION_NOT_FOUND) {
        return new Compatibility(true, List.of("subject " + subject + " has no versions yet"));
      }
      throw e;
    }
    JsonNode verdict = answer.get("is_compatible");
    if (verdict == null || !verdict.isBoolean()) {
      throw unexpected("POST /compatibility/subjects/" + subject + "/versions/latest", subject, answer);
    }
    List<String> messages = new ArrayList<>();
    JsonNode said = answer.get("messages");
    if (said != null) {
      said.forEach(node -> messages.add(node.asText()));
    }
    return new Compatibility(verdict.asBoolean(), messages);
  }

  // ------------------------------------------------------------------------------------------

  private ObjectNode schemaBody(Schema schema) {
    // AVRO is the default schemaType; omitting it keeps older Confluent versions happy
    return json.createObjectNode().put("schema", schema.toString());
  }

  private Schema parse(JsonNode answer, String request, String subject) {
    JsonNode text = answer.get("schema");
    if (text == null || !text.isTextual()) {
      throw unexpected(request, subject, answer);
    }
    JsonNode type = answer.get("schemaType");
    if (type != null && !type.isNull() && !"AVRO".equalsIgnoreCase(type.asText())) {
      throw new SchemaRegistryException(config.displayUrl(), request, subject, 200, -1,
          "this is a " + type.asText() + " schema, not Avro", null);
    }
    JsonNode references = answer.get("references");
    if (references != null && references.isArray() && !references.isEmpty()) {
      throw new SchemaRegistryException(config.displayUrl(), request, subject, 200, -1,
          "the schema uses schema references, which Partwright does not follow (it registers schemas fully inlined)",
          null);
    }
    try {
      return new Schema.Parser().parse(text.asText());
    } catch (SchemaParseException e) {
      throw new SchemaRegistryException(config.displayUrl(), request, subject, 200, -1,
          "the registry's schema does not parse as Avro: " + e.getMessage(), e);
    }
  }

  private int intField(JsonNode answer, String field, String request, String subject) {
    JsonNode node = answer.get(field);
    if (node == null || !node.canConvertToInt()) {
      throw unexpected(request, subject, answer);
    }
    return node.asInt();
  }

  private SchemaRegistryException unexpected(String request, String subject, JsonNode answer) {
    return new SchemaRegistryException(config.displayUrl(), request, subject, 200, -1,
        "unexpected answer (not the Confluent API?): " + abbreviate(answer.toString()), null);
  }

  /**
   * One request, tried on each URL in turn while none answers; any HTTP answer ends the tries (a
   * 4xx from one node would be the same from the others).
   */
  private JsonNode call(String method, String pathAndQuery, String subject, JsonNode body) {
    List<URI> urls = config.urls();
    int first = preferred;
    String request = method + " " + pathAndQuery.replaceFirst("\\?.*", "");
    IOException lastFailure = null;
    URI lastUrl = urls.get(first);
    for (int i = 0; i < urls.size(); i++) {
      int index = (first + i) % urls.size();
      URI base = urls.get(index);
      lastUrl = base;
      HttpRequest.Builder builder = HttpRequest.newBuilder(URI.create(base + pathAndQuery))
          .timeout(config.requestTimeout())
          .header("Accept", ACCEPT);
      if (authorization != null) {
        builder.header("Authorization", authorization);
      }
      if (body != null) {
        builder.header("Content-Type", CONTENT_TYPE)
            .method(method, HttpRequest.BodyPublishers.ofString(body.toString(), StandardCharsets.UTF_8));
      } else {
        builder.method(method, HttpRequest.BodyPublishers.noBody());
      }
      HttpResponse<String> response;
      try {
        response = http.send(builder.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
      } catch (IOException e) {
        lastFailure = e;
        continue;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new SchemaRegistryException(base.toString(), request, subject, -1, -1, "interrupted", e);
      }
      preferred = index;
      return answer(base, request, subject, response);
    }
    throw new SchemaRegistryException(lastUrl.toString(), request, subject, -1, -1, networkReason(lastFailure),
        lastFailure);
  }

  private JsonNode answer(URI base, String request, String subject, HttpResponse<String> response) {
    int status = response.statusCode();
    JsonNode parsed = null;
    try {
      parsed = response.body().isEmpty() ? null : json.readTree(response.body());
    } catch (JsonProcessingException e) {
      // not JSON: reported below with the raw body
    }
    if (status / 100 == 2 && parsed != null) {
      return parsed;
    }
    int errorCode = -1;
    String message = abbreviate(response.body());
    if (parsed != null && parsed.isObject()) {
      if (parsed.has("error_code") && parsed.get("error_code").canConvertToInt()) {
        errorCode = parsed.get("error_code").asInt();
      }
      if (parsed.hasNonNull("message")) {
        message = parsed.get("message").asText();
      }
    }
    if (status / 100 == 2) {
      message = "the answer is not JSON: " + message;
    } else if (status == 401 || status == 403) {
      message = (message.isEmpty() ? "" : message + " ") + "(check PARTWRIGHT_SCHEMA_REGISTRY_USER/_PASSWORD or _TOKEN; "
          + "configured: " + config.credentials() + ")";
    }
    throw new SchemaRegistryException(base.toString(), request, subject, status, errorCode, message, null);
  }

  private String networkReason(IOException e) {
    for (Throwable c = e; c != null; c = c.getCause() == c ? null : c.getCause()) {
      if (c instanceof HttpConnectTimeoutException) {
        return "connect timed out after " + config.connectTimeout().toMillis() + " ms";
      }
      if (c instanceof HttpTimeoutException) {
        return "no answer within " + config.requestTimeout().toMillis() + " ms";
      }
      if (c instanceof SSLException) {
        return "TLS handshake failed: " + c.getMessage()
            + " (does the trust store hold the registry's CA? PARTWRIGHT_SCHEMA_REGISTRY_TRUSTSTORE)";
      }
      if (c instanceof UnresolvedAddressException) {
        return "unknown host";
      }
    }
    for (Throwable c = e; c != null; c = c.getCause() == c ? null : c.getCause()) {
      if (c instanceof ConnectException) {
        return "connection refused"; // HttpClient's wording is just the class name
      }
    }
    return String.valueOf(e);
  }

  private static SSLContext sslContext(SchemaRegistryConfig.TrustStore trustStore) {
    try (InputStream in = Files.newInputStream(trustStore.path())) {
      KeyStore keys = KeyStore.getInstance(trustStore.type());
      keys.load(in, trustStore.password() == null ? null : trustStore.password().toCharArray());
      TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      trust.init(keys);
      SSLContext context = SSLContext.getInstance("TLS");
      context.init(null, trust.getTrustManagers(), null);
      return context;
    } catch (IOException | GeneralSecurityException e) {
      throw new IllegalArgumentException("cannot load the schema registry trust store " + trustStore.path() + " ("
          + trustStore.type() + "): " + e.getMessage() + " (wrong password or type?)", e);
    }
  }

  private static String encode(String pathSegment) {
    return URLEncoder.encode(pathSegment, StandardCharsets.UTF_8).replace("+", "%20");
  }

  private static String abbreviate(String s) {
    String t = s == null ? "" : s.strip();
    return t.length() <= 500 ? t : t.substring(0, 500) + "...";
  }
}
