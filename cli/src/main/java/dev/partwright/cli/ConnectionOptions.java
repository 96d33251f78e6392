package dev.partwright.cli;

import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * Where PostgreSQL and Kafka are: the options every command shares, declared once. Each command
 * says which it needs ({@link #requireDbUrl()}, {@link #requireBootstrapServers()}: a missing one
 * is a usage error, exit 2) and whether the environment may stand in for a missing option
 * ({@link #dbUrlOrEnv()}, {@link #bootstrapServersOrEnv()}): the long-running {@code run} processes
 * read their Deployment's environment, while {@code demo} and {@code route} treat an absent option
 * as a mode of their own (embedded servers, boundaries from the catalog).
 */
final class ConnectionOptions {

  static final String DB_URL_ENV = "DB_URL";
  static final String DB_URL_ENV_ALT = "PARTWRIGHT_DB_URL";
  static final String BOOTSTRAP_ENV = "PARTWRIGHT_KAFKA_BOOTSTRAP";

  @Spec(Spec.Target.MIXEE)
  CommandSpec mixee;

  @Option(names = "--db-url", paramLabel = "URL",
      description = "PostgreSQL: jdbc:postgresql://host:port/db?user=..&password=.. or postgresql://user:pass@host/db.")
  String dbUrl;

  @Option(names = "--db-user", paramLabel = "USER", description = "PostgreSQL user, when not in the URL (or PARTWRIGHT_DB_USER).")
  String dbUser;

  @Option(names = "--db-password", paramLabel = "PASSWORD",
      description = "PostgreSQL password, when not in the URL (or PARTWRIGHT_DB_PASSWORD).")
  String dbPassword;

  @Option(names = "--bootstrap-servers", paramLabel = "HOST:PORT[,...]", description = "Kafka bootstrap servers.")
  String bootstrapServers;

  @Option(names = "--schema-registry-url", paramLabel = "URL", description = Registry.OPTION_DESCRIPTION)
  String schemaRegistryUrl;

  /** The option, else {@code DB_URL}, else {@code PARTWRIGHT_DB_URL}; null when none is set. */
  String dbUrlOrEnv() {
    return firstSet(dbUrl, System.getenv(DB_URL_ENV), System.getenv(DB_URL_ENV_ALT));
  }

  /** The option, else {@code PARTWRIGHT_KAFKA_BOOTSTRAP}; null when neither is set. */
  String bootstrapServersOrEnv() {
    return firstSet(bootstrapServers, System.getenv(BOOTSTRAP_ENV));
  }

  String dbUserOrEnv() {
    return firstSet(dbUser, System.getenv("PARTWRIGHT_DB_USER"));
  }

  String dbPasswordOrEnv() {
    return firstSet(dbPassword, System.getenv("PARTWRIGHT_DB_PASSWORD"));
  }

  /** {@link #dbUrlOrEnv()}, or a usage error naming the option and the variables. */
  String requireDbUrl() {
    String url = dbUrlOrEnv();
    if (url == null) {
      throw new ParameterException(mixee.commandLine(),
          "Missing required option: '--db-url=URL' (or " + DB_URL_ENV + " / " + DB_URL_ENV_ALT + ")");
    }
    return url;
  }

  /** {@link #bootstrapServersOrEnv()}, or a usage error naming the option and the variable. */
  String requireBootstrapServers() {
    String servers = bootstrapServersOrEnv();
    if (servers == null) {
      throw new ParameterException(mixee.commandLine(),
          "Missing required option: '--bootstrap-servers=HOST:PORT' (or " + BOOTSTRAP_ENV + ")");
    }
    return servers;
  }

  private static String firstSet(String... values) {
    for (String v : values) {
      if (v != null && !v.isBlank()) {
        return v;
      }
    }
    return null;
  }
}
