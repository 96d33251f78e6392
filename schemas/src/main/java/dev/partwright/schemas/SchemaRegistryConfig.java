package dev.partwright.schemas;

import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.KeyStoreException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.function.UnaryOperator;

/**
 * How to reach a schema registry that speaks the Confluent REST API: Confluent Schema Registry
 * ({@code http://host:8081}), Apicurio ({@code http://host:8080/apis/ccompat/v7}) or Karapace
 * ({@code http://host:8081}) — the URL alone says which.
 *
 * @param urls one or more base URLs of the same registry cluster; a request that gets no answer
 *     from one is tried on the next
 * @param credentials none, HTTP basic, or a bearer token
 * @param trustStore trust store for {@code https} URLs signed by a private CA; {@code null} for the
 *     JVM's default trust
 * @param connectTimeout TCP/TLS connect timeout per URL
 * @param requestTimeout time for one request's answer
 * @param autoRegister whether serializers register their writer schema under the topic's subject
 *     (else they only look up its id, and fail if it is not registered — for registries where
 *     producers may not write schemas)
 */
public record SchemaRegistryConfig(
    List<URI> urls,
    Credentials credentials,
    TrustStore trustStore,
    Duration connectTimeout,
    Duration requestTimeout,
    boolean autoRegister) {

  public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(5);
  public static final Duration DEFAULT_REQUEST_TIMEOUT = Duration.ofSeconds(30);

  /** Environment variable of {@link #fromEnvironment()}; comma-separated URLs. */
  public static final String URL_ENV = "PARTWRIGHT_SCHEMA_REGISTRY_URL";
  public static final String USER_ENV = "PARTWRIGHT_SCHEMA_REGISTRY_USER";
  public static final String PASSWORD_ENV = "PARTWRIGHT_SCHEMA_REGISTRY_PASSWORD";
  public static final String TOKEN_ENV = "PARTWRIGHT_SCHEMA_REGISTRY_TOKEN";
  public static final String TRUSTSTORE_ENV = "PARTWRIGHT_SCHEMA_REGISTRY_TRUSTSTORE";
  public static final String TRUSTSTORE_PASSWORD_ENV = "PARTWRIGHT_SCHEMA_REGISTRY_TRUSTSTORE_PASSWORD";
  public static final String TRUSTSTORE_TYPE_ENV = "PARTWRIGHT_SCHEMA_REGISTRY_TRUSTSTORE_TYPE";
  public static final String AUTO_REGISTER_ENV = "PARTWRIGHT_SCHEMA_REGISTRY_AUTO_REGISTER";

  public SchemaRegistryConfig {
    Objects.requireNonNull(urls, "urls");
    Objects.requireNonNull(credentials, "credentials");
    Objects.requireNonNull(connectTimeout, "connectTimeout");
    Objects.requireNonNull(requestTimeout, "requestTimeout");
    if (urls.isEmpty()) {
      throw new IllegalArgumentException("schema registry: at least one URL is needed");
    }
    List<URI> normalized = new ArrayList<>();
    for (URI url : urls) {
      String userInfo = url.getRawUserInfo();
      if (userInfo != null) {
        // user:password@host, as Confluent clients accept it (basic.auth.credentials.source=URL)
        Credentials fromUrl = basicFromUserInfo(userInfo);
        if (credentials instanceof Credentials.None) {
          credentials = fromUrl;
        } else if (!credentials.equals(fromUrl)) {
          throw new IllegalArgumentException("schema registry URL " + shown(url)
              + " carries credentials, and different credentials are configured too");
        }
      }
      normalized.add(check(url));
    }
    urls = List.copyOf(normalized);
    if (connectTimeout.isNegative() || connectTimeout.isZero()) {
      throw new IllegalArgumentException("schema registry connect timeout must be positive, got " + connectTimeout);
    }
    if (requestTimeout.isNegative() || requestTimeout.isZero()) {
      throw new IllegalArgumentException("schema registry request timeout must be positive, got " + requestTimeout);
    }
  }

  /** One registry URL, no credentials, default timeouts, auto-registration on. */
  public static SchemaRegistryConfig of(String url) {
    return new SchemaRegistryConfig(parseUrls(url), new Credentials.None(), null,
        DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, true);
  }

  /**
   * From {@code PARTWRIGHT_SCHEMA_REGISTRY_URL} (required; comma-separated), {@code _USER} +
   * {@code _PASSWORD} or {@code _TOKEN}, {@code _TRUSTSTORE} (+ {@code _TRUSTSTORE_PASSWORD},
   * {@code _TRUSTSTORE_TYPE}), {@code _AUTO_REGISTER}. Each may also be given as a system property
   * ({@code -Dpartwright.schema-registry.truststore-password=...}), which wins.
   */
  public static SchemaRegistryConfig fromEnvironment() {
    return fromEnvironment((String) null);
  }

  /**
   * Like {@link #fromEnvironment()}, with {@code url} (a command-line option, when given: not
   * {@code null}) in place of {@code PARTWRIGHT_SCHEMA_REGISTRY_URL}; credentials and trust store
   * still come from the environment, where secrets belong.
   */
  public static SchemaRegistryConfig fromEnvironment(String url) {
    return fromEnvironment(name -> {
      if (url != null && name.equals(URL_ENV)) {
        return url;
      }
      String property = System.getProperty(
          name.toLowerCase(Locale.ROOT).replace("partwright_schema_registry_", "partwright.schema-registry.").replace('_', '-'));
      return property != null ? property : System.getenv(name);
    });
  }

  /** Like {@link #fromEnvironment()}, reading the variables through {@code env}. */
  public static SchemaRegistryConfig fromEnvironment(UnaryOperator<String> env) {
    String url = setting(env, URL_ENV);
    if (url == null) {
      throw new IllegalArgumentException("no schema registry configured: set " + URL_ENV);
    }
    String user = setting(env, USER_ENV);
    String password = env.apply(PASSWORD_ENV); // may legitimately be empty
    String token = setting(env, TOKEN_ENV);
    if (user != null && token != null) {
      throw new IllegalArgumentException("set either " + USER_ENV + " (basic auth) or " + TOKEN_ENV + " (bearer), not both");
    }
    if (user == null && password != null && !password.isEmpty()) {
      throw new IllegalArgumentException(PASSWORD_ENV + " is set without " + USER_ENV);
    }
    Credentials credentials = user != null ? new Credentials.Basic(user, password == null ? "" : password)
        : token != null ? new Credentials.Bearer(token) : new Credentials.None();
    String trustStorePath = setting(env, TRUSTSTORE_ENV);
    TrustStore trustStore = trustStorePath == null ? null : new TrustStore(Path.of(trustStorePath),
        env.apply(TRUSTSTORE_PASSWORD_ENV), setting(env, TRUSTSTORE_TYPE_ENV));
    String autoRegister = setting(env, AUTO_REGISTER_ENV);
    if (autoRegister != null && !autoRegister.equalsIgnoreCase("true") && !autoRegister.equalsIgnoreCase("false")) {
      throw new IllegalArgumentException(AUTO_REGISTER_ENV + " must be true or false, got '" + autoRegister + "'");
    }
    return new SchemaRegistryConfig(parseUrls(url), credentials, trustStore, DEFAULT_CONNECT_TIMEOUT,
        DEFAULT_REQUEST_TIMEOUT, autoRegister == null || Boolean.parseBoolean(autoRegister));
  }

  public SchemaRegistryConfig withBasicAuth(String user, String password) {
    return new SchemaRegistryConfig(urls, new Credentials.Basic(user, password), trustStore, connectTimeout,
        requestTimeout, autoRegister);
  }

  public SchemaRegistryConfig withBearerToken(String token) {
    return new SchemaRegistryConfig(urls, new Credentials.Bearer(token), trustStore, connectTimeout, requestTimeout,
        autoRegister);
  }

  /** @param type {@code PKCS12} or {@code JKS}; {@code null} for PKCS12 */
  public SchemaRegistryConfig withTrustStore(Path path, String password, String type) {
    return new SchemaRegistryConfig(urls, credentials, new TrustStore(path, password, type), connectTimeout,
        requestTimeout, autoRegister);
  }

  public SchemaRegistryConfig withTimeouts(Duration connect, Duration request) {
    return new SchemaRegistryConfig(urls, credentials, trustStore, connect, request, autoRegister);
  }

  public SchemaRegistryConfig withAutoRegister(boolean register) {
    return new SchemaRegistryConfig(urls, credentials, trustStore, connectTimeout, requestTimeout, register);
  }

  /** How requests authenticate. The secrets never appear in {@code toString()}. */
  public sealed interface Credentials {

    record None() implements Credentials {}

    /** HTTP basic: Confluent Cloud API key and secret, Karapace users, a proxy in front of Apicurio. */
    record Basic(String user, String password) implements Credentials {
      public Basic {
        Objects.requireNonNull(user, "user");
        Objects.requireNonNull(password, "password");
        if (user.isEmpty() || user.indexOf(':') >= 0 || hasControl(user) || hasControl(password)) {
          throw new IllegalArgumentException("schema registry basic-auth user must be non-empty, without ':' or"
              + " control characters (user '" + user + "')");
        }
      }

      @Override
      public String toString() {
        return "Basic[user=" + user + ", password=***]";
      }
    }

    /** A bearer token (OAuth access token, Apicurio with OIDC). */
    record Bearer(String token) implements Credentials {
      public Bearer {
        Objects.requireNonNull(token, "token");
        if (token.isBlank() || token.chars().anyMatch(c -> c <= ' ' || c == 0x7f)) {
          throw new IllegalArgumentException("schema registry bearer token must be non-empty, without whitespace"
              + " or control characters");
        }
      }

      @Override
      public String toString() {
        return "Bearer[token=***]";
      }
    }
  }

  /**
   * @param path readable key store file holding the CA certificates to trust
   * @param password its password; {@code null} when it has none
   * @param type {@code PKCS12} (default when {@code null}) or {@code JKS}
   */
  public record TrustStore(Path path, String password, String type) {
    public TrustStore {
      Objects.requireNonNull(path, "path");
      type = type == null || type.isBlank() ? "PKCS12" : type.trim().toUpperCase(Locale.ROOT);
      if (!Files.isRegularFile(path) || !Files.isReadable(path)) {
        throw new IllegalArgumentException("schema registry trust store " + path + " is not a readable file");
      }
      try {
        KeyStore.getInstance(type);
      } catch (KeyStoreException e) {
        throw new IllegalArgumentException("schema registry trust store type '" + type
            + "' is not supported by this JVM (PKCS12 or JKS)", e);
      }
    }

    @Override
    public String toString() {
      return "TrustStore[" + path + ", " + type + (password == null ? "" : ", password=***") + "]";
    }
  }

  /** The first URL without credentials, for messages. */
  public String displayUrl() {
    return urls.get(0).toString();
  }

  // ------------------------------------------------------------------------------------------

  private static List<URI> parseUrls(String commaSeparated) {
    Objects.requireNonNull(commaSeparated, "url");
    List<URI> out = new ArrayList<>();
    for (String part : commaSeparated.split(",")) {
      String s = part.trim();
      if (s.isEmpty()) {
        continue;
      }
      try {
        out.add(new URI(s));
      } catch (URISyntaxException e) {
        throw new IllegalArgumentException("bad schema registry URL '" + s.replaceAll("//[^/@]*@", "//***@") + "': "
            + e.getReason());
      }
    }
    return out;
  }

  /** http(s), a host, no query or fragment; trailing slashes and user info dropped. */
  private static URI check(URI url) {
    String scheme = url.getScheme() == null ? "" : url.getScheme().toLowerCase(Locale.ROOT);
    if (!scheme.equals("http") && !scheme.equals("https") || url.getHost() == null) {
      throw new IllegalArgumentException("bad schema registry URL '" + shown(url)
          + "': expected http(s)://host[:port][/path], e.g. http://localhost:8081 or http://apicurio:8080/apis/ccompat/v7");
    }
    if (url.getRawQuery() != null || url.getRawFragment() != null) {
      throw new IllegalArgumentException("bad schema registry URL '" + shown(url) + "': no query or fragment allowed");
    }
    String path = url.getPath() == null ? "" : url.getPath();
    while (path.endsWith("/")) {
      path = path.substring(0, path.length() - 1);
    }
    try {
      return new URI(scheme, null, url.getHost(), url.getPort(), path.isEmpty() ? null : path, null, null);
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException("bad schema registry URL '" + shown(url) + "': " + e.getReason(), e);
    }
  }

  private static Credentials basicFromUserInfo(String rawUserInfo) {
    int colon = rawUserInfo.indexOf(':');
    String user = percentDecode(colon < 0 ? rawUserInfo : rawUserInfo.substring(0, colon));
    String password = colon < 0 ? "" : percentDecode(rawUserInfo.substring(colon + 1));
    return new Credentials.Basic(user, password);
  }

  /** URLDecoder would also turn '+' into a space, which is form encoding, not URI encoding. */
  private static String percentDecode(String s) {
    return URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8);
  }

  private static String shown(URI url) {
    return url.getRawUserInfo() == null ? url.toString() : url.toString().replace(url.getRawUserInfo() + "@", "***@");
  }

  private static String setting(UnaryOperator<String> env, String name) {
    String value = env.apply(name);
    return value == null || value.isBlank() ? null : value.trim();
  }

  private static boolean hasControl(String s) {
    return s.chars().anyMatch(c -> c < ' ' || c == 0x7f);
  }
}
