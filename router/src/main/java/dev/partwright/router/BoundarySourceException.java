package dev.partwright.router;

/** A boundary source (the PostgreSQL catalog, Redis) could not be read for {@code table}. */
public final class BoundarySourceException extends RuntimeException {

  private final String source;
  private final String table;

  public BoundarySourceException(String source, String table, String message, Throwable cause) {
    super(source + ": " + (table == null ? "" : table + ": ") + message, cause);
    this.source = source;
    this.table = table;
  }

  /** Where the boundaries were read from, e.g. {@code jdbc:postgresql://host/db} or {@code redis://host:6379}. */
  public String source() {
    return source;
  }

  /** The table being read, or null when the failure is not about one table. */
  public String table() {
    return table;
  }
}
