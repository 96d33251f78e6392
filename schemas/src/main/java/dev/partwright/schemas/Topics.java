package dev.partwright.schemas;

/** Names of the topics every stage agrees on. */
public final class Topics {
  /** Default ingestion topic; the user's events. */
  public static final String INGESTION = "partwright.ingestion";
  /** Malformed or unplannable ingestion events, with the reason in headers. */
  public static final String INGESTION_DLQ = "partwright.ingestion.dlq";
  /** The command store: commands and outcomes, keyed by aggregate id. */
  public static final String COMMANDS = "partwright.commands";
  /** Records of the command log that cannot be read or applied. */
  public static final String COMMANDS_DLQ = "partwright.commands.dlq";
  /** Compacted snapshots of the catalog. */
  public static final String SNAPSHOTS = "partwright.snapshots";
  /** Boundary changes, keyed by root table: what routers and registries follow. */
  public static final String BOUNDARIES = "partwright.boundaries";
  /** Capacity and quota alerts. */
  public static final String ALERTS = "partwright.alerts";

  /** Header carrying the reason a record went to a dead-letter topic. */
  public static final String REASON_HEADER = "partwright.reason";

  private Topics() {}
}
