package dev.partwright.commandstore;

import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.schemas.Topics;
import java.util.Objects;

/**
 * Where the command store lives and how its topics are laid out.
 *
 * @param bootstrapServers Kafka bootstrap servers
 * @param commandsTopic the log of commands and outcomes, keyed by aggregate id
 * @param boundariesTopic the boundary-change topic, keyed by root table
 * @param partitions partition count of the commands and boundaries topics (one writer per aggregate: its partition)
 * @param replicationFactor replication factor of every topic the store creates
 * @param minInsyncReplicas {@code min.insync.replicas} of those topics
 * @param snapshotsTopic the compacted topic of catalog snapshots, one per partition of the commands topic
 * @param deadLetterTopic where log records that cannot be applied go, with the reason
 * @param serdes the payloads' serdes (Confluent wire format, the application's schema registry):
 *     part of where the store lives, like the brokers, and shared so registry ids are fetched once
 */
public record CommandStoreConfig(
    String bootstrapServers,
    String commandsTopic,
    String boundariesTopic,
    int partitions,
    short replicationFactor,
    int minInsyncReplicas,
    String snapshotsTopic,
    String deadLetterTopic,
    PartwrightSerdes serdes) {

  public CommandStoreConfig {
    Objects.requireNonNull(bootstrapServers, "bootstrapServers");
    Objects.requireNonNull(commandsTopic, "commandsTopic");
    Objects.requireNonNull(boundariesTopic, "boundariesTopic");
    Objects.requireNonNull(snapshotsTopic, "snapshotsTopic");
    Objects.requireNonNull(deadLetterTopic, "deadLetterTopic");
    Objects.requireNonNull(serdes, "serdes");
    if (partitions < 1) {
      throw new IllegalArgumentException("partitions must be >= 1, got " + partitions);
    }
    if (replicationFactor < 1) {
      throw new IllegalArgumentException("replication factor must be >= 1, got " + replicationFactor);
    }
    if (minInsyncReplicas < 1 || minInsyncReplicas > replicationFactor) {
      throw new IllegalArgumentException("min.insync.replicas must be between 1 and the replication factor ("
          + replicationFactor + "), got " + minInsyncReplicas);
    }
  }

  /** The standard snapshot and dead-letter topics ({@link Topics#SNAPSHOTS}, {@link Topics#COMMANDS_DLQ}). */
  public CommandStoreConfig(String bootstrapServers, String commandsTopic, String boundariesTopic, int partitions,
      short replicationFactor, int minInsyncReplicas, PartwrightSerdes serdes) {
    this(bootstrapServers, commandsTopic, boundariesTopic, partitions, replicationFactor, minInsyncReplicas,
        Topics.SNAPSHOTS, Topics.COMMANDS_DLQ, serdes);
  }

  /** Standard topic names, 6 partitions, replication 1: a single-broker setup such as the demo's. */
  public static CommandStoreConfig singleBroker(String bootstrapServers, PartwrightSerdes serdes) {
    return new CommandStoreConfig(bootstrapServers, Topics.COMMANDS, Topics.BOUNDARIES, 6, (short) 1, 1, serdes);
  }

  /** Every topic name prefixed with {@code prefix + "."}: an isolated store on a shared cluster (tests, staging). */
  public CommandStoreConfig withTopicPrefix(String prefix) {
    return new CommandStoreConfig(bootstrapServers, prefix + "." + commandsTopic, prefix + "." + boundariesTopic,
        partitions, replicationFactor, minInsyncReplicas, prefix + "." + snapshotsTopic, prefix + "." + deadLetterTopic,
        serdes);
  }
}
