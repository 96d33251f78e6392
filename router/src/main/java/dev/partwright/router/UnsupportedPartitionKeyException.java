package dev.partwright.router;

/**
 * A partitioned table whose key the router cannot reproduce exactly (a type it does not compare or
 * hash like PostgreSQL, an expression key, a non-default operator class, a text range key under a
 * collation that does not sort by bytes). Refusing is the point: a router that guessed would send rows
 * to the wrong partition.
 */
public final class UnsupportedPartitionKeyException extends RuntimeException {

  private final String table;
  private final String column;
  private final String type;

  public UnsupportedPartitionKeyException(String table, String column, String type, String reason) {
    super("cannot route " + table + " by " + column + " (" + type + "): " + reason);
    this.table = table;
    this.column = column;
    this.type = type;
  }

  public String table() {
    return table;
  }

  /** The key column (or key expression) the router cannot reproduce. */
  public String column() {
    return column;
  }

  /** The column's type as PostgreSQL's {@code format_type} prints it. */
  public String type() {
    return type;
  }
}
