package dev.partwright.connectors.postgres;

/**
 * Why a command could not be applied. {@link Kind#REJECTED}: the command itself is wrong (bad
 * identifier, unknown table, conflicting bound) and retrying cannot help; {@link Kind#RETRYABLE}:
 * the database was busy (lock timeout, deadlock, lost connection); {@link Kind#FAILED}: anything else.
 */
public final class ProvisioningException extends Exception {

  public enum Kind { REJECTED, RETRYABLE, FAILED }

  private final Kind kind;
  private final String code;
  private final String sqlState;

  public ProvisioningException(Kind kind, String code, String message, String sqlState, Throwable cause) {
    super(message, cause);
    this.kind = kind;
    this.code = code;
    this.sqlState = sqlState;
  }

  public static ProvisioningException rejected(String code, String message) {
    return new ProvisioningException(Kind.REJECTED, code, message, null, null);
  }

  public Kind kind() {
    return kind;
  }

  /** Machine-readable reason, e.g. INVALID_IDENTIFIER, UNKNOWN_TABLE, BOUND_CONFLICT, LOCK_TIMEOUT. */
  public String code() {
    return code;
  }

  /** PostgreSQL's SQLSTATE, when the database refused. */
  public String sqlState() {
    return sqlState;
  }
}
