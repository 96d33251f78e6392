package dev.partwright.connectors.postgres;

import java.nio.charset.StandardCharsets;
import java.util.regex.Pattern;

/**
 * A validated PostgreSQL identifier. Only plain lower-case identifiers are accepted (letters,
 * digits, underscore, dollar; not starting with a digit or dollar; at most 63 bytes; no {@code pg_}
 * prefix), and they are always written quoted. Nothing else reaches SQL text.
 */
public record Identifier(String name) {

  private static final Pattern PLAIN = Pattern.compile("[a-z_][a-z0-9_$]*");
  static final int MAX_BYTES = 63;

  public Identifier {
    String problem = problem(name);
    if (problem != null) {
      throw new InvalidIdentifierException(name, problem);
    }
  }

  /** Why {@code name} is not acceptable, or null when it is. */
  public static String problem(String name) {
    if (name == null || name.isEmpty()) {
      return "empty identifier";
    }
    if (name.getBytes(StandardCharsets.UTF_8).length > MAX_BYTES) {
      return "longer than " + MAX_BYTES + " bytes";
    }
    if (!PLAIN.matcher(name).matches()) {
      return "only lower-case letters, digits, '_' and '$' are allowed, starting with a letter or '_'";
    }
    if (name.startsWith("pg_")) {
      return "the pg_ prefix is reserved for PostgreSQL's own objects";
    }
    return null;
  }

  /** The identifier as SQL text: always double-quoted. */
  public String sql() {
    return '"' + name.replace("\"", "\"\"") + '"';
  }

  @Override
  public String toString() {
    return name;
  }
}
