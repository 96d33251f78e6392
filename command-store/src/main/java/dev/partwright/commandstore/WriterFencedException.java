package dev.partwright.commandstore;

/**
 * A newer instance started with the same transactional id, so this one is a zombie: Kafka refuses
 * its transactions. The store has closed its producer; the process should stop (its successor
 * carries on).
 */
public final class WriterFencedException extends CommandStoreException {

  private final String transactionalId;

  public WriterFencedException(String transactionalId, Throwable cause) {
    super("fenced: a newer instance with transactional id " + transactionalId + " took over; this writer is closed",
        cause);
    this.transactionalId = transactionalId;
  }

  public String transactionalId() {
    return transactionalId;
  }
}
