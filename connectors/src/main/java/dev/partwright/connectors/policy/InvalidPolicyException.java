package dev.partwright.connectors.policy;

import dev.partwright.connectors.postgres.QualifiedName;

/** A policy that cannot be stored as given (bad interval, zone, bounds). */
public final class InvalidPolicyException extends IllegalArgumentException {

  private final QualifiedName table;

  public InvalidPolicyException(QualifiedName table, String problem) {
    super("policy of " + table + ": " + problem);
    this.table = table;
  }

  public QualifiedName table() {
    return table;
  }
}
