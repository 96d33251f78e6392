package dev.partwright.connectors.policy;

import dev.partwright.connectors.postgres.QualifiedName;

/**
 * The database refuses the table as a managed table: it does not exist, is not partitioned, or is
 * partitioned differently from the policy. The message says what to do about it.
 */
public final class UnmanageableTableException extends Exception {

  /** What is wrong with the table. */
  public enum Problem { NOT_FOUND, NOT_PARTITIONED, KEY_MISMATCH, COLUMN_TYPE }

  private final QualifiedName table;
  private final Problem problem;

  public UnmanageableTableException(QualifiedName table, Problem problem, String message) {
    super(message);
    this.table = table;
    this.problem = problem;
  }

  public QualifiedName table() {
    return table;
  }

  public Problem problem() {
    return problem;
  }
}
