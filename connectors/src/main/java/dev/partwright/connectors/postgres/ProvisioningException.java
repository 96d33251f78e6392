package dev.partwright.connectors.postgres;

import dev.partwright.schemas.PartitionKey;
import dev.partwright.schemas.PartitionSpec;
import java.util.List;

/**
 * Why a command could not be applied. {@link Kind#REJECTED}: the command itself is wrong (bad
 * identifier, unknown table, conflicting bound, over quota) and retrying cannot help;
 * {@link Kind#RETRYABLE}: the database was busy (lock timeout, deadlock, lost connection) for every
 * attempt; {@link Kind#FAILED}: anything else, a verification failure included (verification runs
 * before the commit, so a partition that fails it is never committed).
 *
 * <p>A command's partitions are applied in transactions of a bounded size (a composite's middle
 * level before its partitions), so a command can fail after some of its partitions were created and
 * verified: those are in {@link #created()}, live in the database. A rejection that comes that late
 * is reported as {@link Kind#FAILED} (see {@link #partlyApplied()}).
 */
public final class ProvisioningException extends Exception {

  public enum Kind { REJECTED, RETRYABLE, FAILED }

  private final Kind kind;
  private final String code;
  private final String sqlState;
  private final int attempts;
  private final List<PartitionSpec> created;
  private final List<PartitionKeyed> createdKeys;

  /** A partition that was created before the failure, with its parent's key and root table. */
  public record PartitionKeyed(PartitionSpec spec, PartitionKey parentKey, String rootTable) {}

  public ProvisioningException(Kind kind, String code, String message, String sqlState, Throwable cause) {
    this(kind, code, message, sqlState, cause, 1, List.of());
  }

  private ProvisioningException(Kind kind, String code, String message, String sqlState, Throwable cause, int attempts,
      List<PartitionKeyed> createdKeys) {
    super(message, cause);
    this.kind = kind;
    this.code = code;
    this.sqlState = sqlState;
    this.attempts = attempts;
    this.createdKeys = List.copyOf(createdKeys);
    this.created = createdKeys.stream().map(PartitionKeyed::spec).toList();
  }

  public static ProvisioningException rejected(String code, String message) {
    return new ProvisioningException(Kind.REJECTED, code, message, null, null);
  }

  static ProvisioningException failed(String code, String message) {
    return new ProvisioningException(Kind.FAILED, code, message, null, null);
  }

  /** The same failure, with how many attempts the failing partition took. */
  ProvisioningException afterAttempts(int n) {
    return new ProvisioningException(kind, code, getMessage(), sqlState, getCause(), n, createdKeys);
  }

  /** The same failure, with what the command had already created when it happened. */
  ProvisioningException withCreated(List<PartitionKeyed> before) {
    return new ProvisioningException(kind, code, getMessage(), sqlState, getCause(), attempts, before);
  }

  /**
   * A rejection that came after earlier transactions of the command had committed partitions (a
   * later partition's name or bound turned out wrong): not "nothing was done", so it is a
   * non-retryable failure that lists what exists. Anything else is returned as it is.
   */
  ProvisioningException partlyApplied() {
    if (kind != Kind.REJECTED || createdKeys.isEmpty()) {
      return this;
    }
    return new ProvisioningException(Kind.FAILED, code, getMessage() + " (after " + createdKeys.size()
        + " partitions of the command were created)", sqlState, this, attempts, createdKeys);
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

  /** Attempts made on the partition that failed (1 unless the failure was retryable). */
  public int attempts() {
    return attempts;
  }

  /** Partitions of the command created and verified before the failure: they exist. */
  public List<PartitionSpec> created() {
    return created;
  }

  /** {@link #created()} with each one's parent key and root table, for announcing them. */
  public List<PartitionKeyed> createdWithKeys() {
    return createdKeys;
  }
}
