package dev.partwright.streams;

/**
 * An ingestion event the planner refuses to act on (unmanaged table, bogus timestamp). The
 * topology's processing-exception handler sends the event to the dead-letter topic with this
 * message as the reason and goes on.
 */
public final class UnplannableEventException extends RuntimeException {
  public UnplannableEventException(String reason) {
    super(reason);
  }
}
