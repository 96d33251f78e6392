package dev.partwright.connectors;

import dev.partwright.connectors.postgres.PartitionProvisioner;
import dev.partwright.schemas.Topics;
import java.time.Duration;
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
 * @param alertsTopic where capacity alerts go ({@code CapacityAlert}, keyed by aggregate), in the outcome's transaction
 * @param quotas partition-count and byte limits per managed table, checked before any DDL
 * @param breaker when provisioning pauses: replication lag, lock waits on the managed table
 * @param monitorInterval how often the database gauges ({@code partwright.db.*}) are refreshed
 */
public record WorkerConfig(
    String bootstrapServers,
    String commandsTopic,
    String boundariesTopic,
    String deadLetterTopic,
    String groupId,
    String workerId,
    PartitionProvisioner.Limits limits,
    String alertsTopic,
    Quotas quotas,
    CircuitBreaker.Config breaker,
    Duration monitorInterval) {

  public static final Duration DEFAULT_MONITOR_INTERVAL = Duration.ofSeconds(15);

  public WorkerConfig {
    Objects.requireNonNull(bootstrapServers, "bootstrapServers");
    Objects.requireNonNull(commandsTopic, "commandsTopic");
    Objects.requireNonNull(boundariesTopic, "boundariesTopic");
    Objects.requireNonNull(deadLetterTopic, "deadLetterTopic");
    Objects.requireNonNull(groupId, "groupId");
    Objects.requireNonNull(workerId, "workerId");
    Objects.requireNonNull(limits, "limits");
    Objects.requireNonNull(alertsTopic, "alertsTopic");
    Objects.requireNonNull(quotas, "quotas");
    Objects.requireNonNull(breaker, "breaker");
    Objects.requireNonNull(monitorInterval, "monitorInterval");
    if (monitorInterval.isNegative() || monitorInterval.isZero()) {
      throw new IllegalArgumentException("monitorInterval must be positive, got " + monitorInterval);
    }
  }

  /** The configuration of the first worker: no quota, the default breaker and alerts topic. */
  public WorkerConfig(String bootstrapServers, String commandsTopic, String boundariesTopic, String deadLetterTopic,
      String groupId, String workerId, PartitionProvisioner.Limits limits) {
    this(bootstrapServers, commandsTopic, boundariesTopic, deadLetterTopic, groupId, workerId, limits, Topics.ALERTS,
        Quotas.unlimited(), CircuitBreaker.Config.defaults(), DEFAULT_MONITOR_INTERVAL);
  }

  public static WorkerConfig defaults(String bootstrapServers, String workerId) {
    return new WorkerConfig(bootstrapServers, Topics.COMMANDS, Topics.BOUNDARIES, Topics.COMMANDS_DLQ,
        "partwright-worker", workerId, PartitionProvisioner.Limits.defaults());
  }

  public WorkerConfig withQuotas(Quotas q) {
    return new WorkerConfig(bootstrapServers, commandsTopic, boundariesTopic, deadLetterTopic, groupId, workerId, limits,
        alertsTopic, q, breaker, monitorInterval);
  }

  public WorkerConfig withBreaker(CircuitBreaker.Config b) {
    return new WorkerConfig(bootstrapServers, commandsTopic, boundariesTopic, deadLetterTopic, groupId, workerId, limits,
        alertsTopic, quotas, b, monitorInterval);
  }

  public WorkerConfig withAlertsTopic(String topic) {
    return new WorkerConfig(bootstrapServers, commandsTopic, boundariesTopic, deadLetterTopic, groupId, workerId, limits,
        topic, quotas, breaker, monitorInterval);
  }

  public WorkerConfig withMonitorInterval(Duration interval) {
    return new WorkerConfig(bootstrapServers, commandsTopic, boundariesTopic, deadLetterTopic, groupId, workerId, limits,
        alertsTopic, quotas, breaker, interval);
  }

  public String transactionalId() {
    return "partwright-worker-" + workerId;
  }
}
