package dev.partwright.streams;

import dev.partwright.schemas.Topics;
import java.util.Map;
import java.util.Objects;

/**
 * Everything the demand topology and its planner are told.
 *
 * @param ingestionTopic topic of the user's ingestion events
 * @param commandsTopic the command store's topic
 * @param deadLetterTopic where unreadable or unplannable events go, with the reason
 * @param bufferDays how far ahead of now every managed table is kept covered (1–366)
 * @param maxAheadDays events further ahead than this are rejected as bogus, not planned (1–3660)
 * @param maxBehindDays events further back than this are rejected, not planned (0–3660)
 * @param policies managed tables by qualified name (schema.table)
 */
public record PlannerConfig(
    String ingestionTopic,
    String commandsTopic,
    String deadLetterTopic,
    int bufferDays,
    int maxAheadDays,
    int maxBehindDays,
    Map<String, TablePolicy> policies) {

  public static final int DEFAULT_BUFFER_DAYS = 30;
  public static final int DEFAULT_MAX_AHEAD_DAYS = 366;
  public static final int DEFAULT_MAX_BEHIND_DAYS = 31;

  public PlannerConfig {
    Objects.requireNonNull(ingestionTopic, "ingestionTopic");
    Objects.requireNonNull(commandsTopic, "commandsTopic");
    Objects.requireNonNull(deadLetterTopic, "deadLetterTopic");
    policies = Map.copyOf(policies);
    if (bufferDays < 1 || bufferDays > 366) {
      throw new IllegalArgumentException("buffer days must be between 1 and 366, got " + bufferDays);
    }
    if (maxAheadDays < bufferDays || maxAheadDays > 3660) {
      throw new IllegalArgumentException(
          "max ahead days must be between the buffer (" + bufferDays + ") and 3660, got " + maxAheadDays);
    }
    if (maxBehindDays < 0 || maxBehindDays > 3660) {
      throw new IllegalArgumentException("max behind days must be between 0 and 3660, got " + maxBehindDays);
    }
  }

  /** Defaults on the standard topics for the given policies. */
  public static PlannerConfig defaults(Map<String, TablePolicy> policies) {
    return new PlannerConfig(
        Topics.INGESTION, Topics.COMMANDS, Topics.INGESTION_DLQ,
        DEFAULT_BUFFER_DAYS, DEFAULT_MAX_AHEAD_DAYS, DEFAULT_MAX_BEHIND_DAYS, policies);
  }

  public PlannerConfig withIngestionTopic(String topic) {
    return new PlannerConfig(topic, commandsTopic, deadLetterTopic, bufferDays, maxAheadDays, maxBehindDays, policies);
  }

  public PlannerConfig withBufferDays(int days) {
    return new PlannerConfig(ingestionTopic, commandsTopic, deadLetterTopic, days, Math.max(days, maxAheadDays), maxBehindDays, policies);
  }
}
