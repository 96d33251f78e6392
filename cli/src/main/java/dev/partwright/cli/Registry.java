package dev.partwright.cli;

import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.schemas.SchemaRegistryConfig;

/**
 * The schema registry of a command that talks to Kafka: every pipeline topic carries the Confluent
 * wire format, so a command that reads or writes one needs the registry its schema ids live in.
 */
final class Registry {

  /** The {@code --schema-registry-url} option's description, shared by the commands. */
  static final String OPTION_DESCRIPTION = "Confluent-compatible schema registry of the pipeline's topics (Confluent,"
      + " Apicurio .../apis/ccompat/v7, Karapace). Default: PARTWRIGHT_SCHEMA_REGISTRY_URL; credentials from"
      + " PARTWRIGHT_SCHEMA_REGISTRY_USER/_PASSWORD or _TOKEN, TLS trust from _TRUSTSTORE.";

  private Registry() {}

  /**
   * The serdes of {@code url} (the option's value; {@code null}: the environment's URL).
   *
   * @throws IllegalArgumentException when neither names a registry, or a setting is malformed
   */
  static PartwrightSerdes serdes(String url) {
    try {
      return PartwrightSerdes.create(SchemaRegistryConfig.fromEnvironment(url));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("--schema-registry-url (or " + SchemaRegistryConfig.URL_ENV
          + ") is needed with --bootstrap-servers: " + e.getMessage(), e);
    }
  }
}
