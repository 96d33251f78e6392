package dev.partwright.cli;

import dev.partwright.embedded.Servers;
import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.schemas.SchemaRegistryConfig;

/** The serdes of this test JVM, on the real schema registry ({@link Servers#schemaRegistry()}), made once. */
final class TestSerdes {

  private static PartwrightSerdes serdes;

  private TestSerdes() {}

  static synchronized PartwrightSerdes get() {
    if (serdes == null) {
      serdes = PartwrightSerdes.create(SchemaRegistryConfig.of(url()));
    }
    return serdes;
  }

  /** For {@code --schema-registry-url}. */
  static String url() {
    return Servers.schemaRegistry().url();
  }
}
