package dev.partwright.schemas;

import dev.partwright.embedded.SchemaRegistryEndpoint;
import dev.partwright.embedded.Servers;

/** The registry of this test JVM: {@link Servers#schemaRegistry()}, started once. */
final class TestRegistry {

  private TestRegistry() {}

  static SchemaRegistryEndpoint endpoint() {
    return Servers.schemaRegistry();
  }

  static SchemaRegistryConfig config() {
    return SchemaRegistryConfig.of(endpoint().url());
  }
}
