package dev.partwright.connectors.postgres;

/** {@code schema.table}, both parts validated identifiers. */
public record QualifiedName(Identifier schema, Identifier table) implements SqlName {

  public static QualifiedName of(String schema, String table) {
    return new QualifiedName(new Identifier(schema), new Identifier(table));
  }

  /** Parses {@code schema.table}; an unqualified name is refused (no search_path guessing). */
  public static QualifiedName parse(String qualified) {
    int dot = qualified == null ? -1 : qualified.indexOf('.');
    if (dot <= 0 || dot != qualified.lastIndexOf('.')) {
      throw new InvalidIdentifierException(qualified, "expected schema.table");
    }
    return of(qualified.substring(0, dot), qualified.substring(dot + 1));
  }

  @Override
  public String sql() {
    return schema.sql() + "." + table.sql();
  }

  @Override
  public String toString() {
    return schema + "." + table;
  }
}
