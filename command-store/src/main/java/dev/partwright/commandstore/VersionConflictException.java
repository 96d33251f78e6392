package dev.partwright.commandstore;

import dev.partwright.schemas.AggregateId;

/**
 * An append expected the aggregate at one version and found it at another: someone appended in
 * between. Re-read the aggregate, decide again, append with the new version.
 */
public final class VersionConflictException extends CommandStoreException {

  private final AggregateId aggregate;
  private final String idempotencyKey;
  private final long expectedVersion;
  private final long actualVersion;

  public VersionConflictException(AggregateId aggregate, String idempotencyKey, long expectedVersion, long actualVersion) {
    super("version conflict on " + aggregate + ": command " + idempotencyKey + " expected version " + expectedVersion
        + " but the aggregate is at version " + actualVersion);
    this.aggregate = aggregate;
    this.idempotencyKey = idempotencyKey;
    this.expectedVersion = expectedVersion;
    this.actualVersion = actualVersion;
  }

  public AggregateId aggregate() {
    return aggregate;
  }

  public String idempotencyKey() {
    return idempotencyKey;
  }

  public long expectedVersion() {
    return expectedVersion;
  }

  public long actualVersion() {
    return actualVersion;
  }
}
