package dev.partwright.embedded;

/**
 * A reachable schema registry speaking the Confluent Schema Registry REST API: either a child
 * process this JVM started ({@link EmbeddedSchemaRegistry}, Apicurio Registry) or an existing one
 * ({@link ExternalSchemaRegistry}: Confluent Schema Registry, Apicurio, Karapace). Callers should
 * not care which.
 */
public interface SchemaRegistryEndpoint extends AutoCloseable {

  /**
   * Base URL of the Confluent-compatible API, without a trailing slash: what {@code
   * schema.registry.url} is set to. For Apicurio that is {@code http://host:port/apis/ccompat/v7};
   * for Confluent Schema Registry and Karapace the server root, e.g. {@code http://host:8081}.
   */
  String url();

  /** {@code true} if this JVM started the registry. */
  boolean embedded();

  /** Releases the endpoint (for an embedded registry: stops the process and deletes its files). */
  @Override
  void close();
}
