package dev.partwright.connectors.postgres;

/**
 * A table whose name was read from PostgreSQL's catalog rather than given by a command (a DEFAULT
 * partition, an index's table): it may be any name the user chose, so it is quoted by PostgreSQL's
 * own {@code quote_ident} in the query that read it, never validated against Partwright's rules.
 *
 * @param qualified {@code schema.table} as PostgreSQL stores it, for messages and the audit log
 * @param sql the same, each part quoted by {@code quote_ident}
 */
public record CatalogTable(String qualified, String sql) implements SqlName {

  @Override
  public String toString() {
    return qualified;
  }
}
