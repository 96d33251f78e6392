package dev.partwright.connectors.postgres;

/** A schema, table, column or tenant name that Partwright refuses to put into SQL. */
public final class InvalidIdentifierException extends IllegalArgumentException {

  private final String identifier;

  public InvalidIdentifierException(String identifier, String problem) {
    super("invalid identifier '" + identifier + "': " + problem);
    this.identifier = identifier;
  }

  public String identifier() {
    return identifier;
  }
}
