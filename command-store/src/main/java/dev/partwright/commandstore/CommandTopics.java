package dev.partwright.commandstore;

import dev.partwright.schemas.Topics;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;

/** Creates the pipeline's topics with the configured layout, leaving existing ones as they are. */
public final class CommandTopics {

  private CommandTopics() {}

  /** Ensures the command, boundary, snapshot, alert and dead-letter topics plus {@code extra} exist. */
  public static void ensure(Admin admin, CommandStoreConfig config, String... extra) {
    Map<String, String> durable = Map.of(
        TopicConfig.MIN_IN_SYNC_REPLICAS_CONFIG, Integer.toString(config.minInsyncReplicas()));
    Map<String, String> compacted = Map.of(
        TopicConfig.MIN_IN_SYNC_REPLICAS_CONFIG, Integer.toString(config.minInsyncReplicas()),
        TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT);
    List<NewTopic> wanted = new ArrayList<>();
    wanted.add(topic(config.commandsTopic(), config.partitions(), config, durable));
    wanted.add(topic(config.boundariesTopic(), config.partitions(), config, durable));
    wanted.add(topic(Topics.COMMANDS_DLQ, 1, config, durable));
    wanted.add(topic(Topics.INGESTION_DLQ, 1, config, durable));
    wanted.add(topic(Topics.SNAPSHOTS, 1, config, compacted));
    wanted.add(topic(Topics.ALERTS, 1, config, durable));
    for (String name : extra) {
      wanted.add(topic(name, config.partitions(), config, durable));
    }
    try {
      Set<String> existing = admin.listTopics().names().get();
      List<NewTopic> missing = wanted.stream().filter(t -> !existing.contains(t.name())).toList();
      if (!missing.isEmpty()) {
        admin.createTopics(missing).all().get();
      }
    } catch (ExecutionException e) {
      if (!(e.getCause() instanceof TopicExistsException)) {
        throw new IllegalStateException("cannot create topics on " + config.bootstrapServers() + ": " + e.getCause(), e);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while creating topics", e);
    }
  }

  private static NewTopic topic(String name, int partitions, CommandStoreConfig config, Map<String, String> configs) {
    return new NewTopic(name, partitions, config.replicationFactor()).configs(configs);
  }
}
