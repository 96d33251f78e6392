package dev.partwright.commandstore;

import java.util.List;
import java.util.stream.Collectors;

/**
 * An existing topic contradicts the configured layout; the store refuses to start on it rather than
 * run with broken ordering, durability or retention.
 */
public final class TopicLayoutException extends CommandStoreException {

  /** One setting of one topic that is not what the store needs. */
  public record Mismatch(String topic, String setting, String expected, String actual, String why) {
    @Override
    public String toString() {
      return "topic " + topic + ": " + setting + " is " + actual + ", expected " + expected + " (" + why + ")";
    }
  }

  private final List<Mismatch> mismatches;

  public TopicLayoutException(String bootstrapServers, List<Mismatch> mismatches) {
    super("refusing to start on " + bootstrapServers + ": " + mismatches.stream().map(Mismatch::toString)
        .collect(Collectors.joining("; ")) + ". Fix the topics (kafka-topics / kafka-configs) or the configuration.");
    this.mismatches = List.copyOf(mismatches);
  }

  public List<Mismatch> mismatches() {
    return mismatches;
  }
}
