package dev.partwright.connectors;

import dev.partwright.connectors.postgres.PartitionProvisioner;
import dev.partwright.schemas.Topics;
import java.util.Objects;

/**
 * Everything the provisioning worker is told.
 *
 * @param bootstrapServers Kafka bootstrap servers
 * @param commandsTopic the command store's topic (commands in, outcomes out)
 * @param boundariesTopic where boundary changes are published
 * @param deadLetterTopic where unreadable command-log records go, with the reason
 * @param groupId consumer group of all workers (one aggregate is owned by one worker at a time)
 * @param workerId this instance's name; also the stable part of its transactional id, so a restarted
 *     instance fences its zombie predecessor
 * @param limits lock and statement timeouts, retry attempts and backoff
 */
public record WorkerConfig(
    String bootstrapServers,
    String commandsTopic,
    String boundariesTopic,
    String deadLetterTopic,
    String groupId,
    String workerId,
    PartitionProvisioner.Limits limits) {

  public WorkerConfig {
    Objects.requireNonNull(bootstrapServers, "bootstrapServers");
    Objects.requireNonNull(commandsTopic, "commandsTopic");
    Objects.requireNonNull(boundariesTopic, "boundariesTopic");
    Objects.requireNonNull(deadLetterTopic, "deadLetterTopic");
    Objects.requireNonNull(groupId, "groupId");
    Objects.requireNonNull(workerId, "workerId");
    Objects.requireNonNull(limits, "limits");
  }

  public static WorkerConfig defaults(String bootstrapServers, String workerId) {
    return new WorkerConfig(bootstrapServers, Topics.COMMANDS, Topics.BOUNDARIES, Topics.COMMANDS_DLQ,
        "partwright-worker", workerId, PartitionProvisioner.Limits.defaults());
  }

  public String transactionalId() {
    return "partwright-worker-" + workerId;
  }
}
