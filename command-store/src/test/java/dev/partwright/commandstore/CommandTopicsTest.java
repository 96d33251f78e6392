package dev.partwright.commandstore;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.partwright.embedded.Servers;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class CommandTopicsTest {

  private static String bootstrap;

  @BeforeAll
  static void broker() {
    bootstrap = Servers.kafka().bootstrapServers();
  }

  @Test
  void createsMissingTopicsWithTheConfiguredLayoutAndAcceptsThemAgain() throws Exception {
    CommandStoreConfig config = Fixtures.isolated(bootstrap, 3);
    try (Admin admin = Fixtures.admin(bootstrap)) {
      CommandTopics.ensure(admin, config);
      CommandTopics.ensure(admin, config); // its own layout is not a contradiction

      assertThat(admin.describeTopics(List.of(config.commandsTopic())).allTopicNames().get()
          .get(config.commandsTopic()).partitions()).hasSize(3);
      Config commands = config(admin, config.commandsTopic());
      assertThat(commands.get(TopicConfig.CLEANUP_POLICY_CONFIG).value()).isEqualTo("delete");
      assertThat(commands.get(TopicConfig.RETENTION_MS_CONFIG).value()).isEqualTo("-1");
      assertThat(commands.get(TopicConfig.MIN_IN_SYNC_REPLICAS_CONFIG).value()).isEqualTo("1");
      Config snapshots = config(admin, config.snapshotsTopic());
      assertThat(snapshots.get(TopicConfig.CLEANUP_POLICY_CONFIG).value()).isEqualTo("compact");
      assertThat(Integer.parseInt(snapshots.get(TopicConfig.MAX_MESSAGE_BYTES_CONFIG).value()))
          .isGreaterThanOrEqualTo(CommandTopics.SNAPSHOT_MAX_BYTES);
      assertThat(admin.listTopics().names().get()).contains(config.deadLetterTopic(), config.boundariesTopic());
    }
  }

  @Test
  void refusesACommandsTopicWithAnotherPartitionCount() throws Exception {
    CommandStoreConfig config = Fixtures.isolated(bootstrap, 6);
    try (Admin admin = Fixtures.admin(bootstrap)) {
      admin.createTopics(List.of(new NewTopic(config.commandsTopic(), 3, (short) 1)
          .configs(Map.of(TopicConfig.RETENTION_MS_CONFIG, "-1")))).all().get();

      assertThatThrownBy(() -> CommandTopics.ensure(admin, config))
          .isInstanceOfSatisfying(TopicLayoutException.class, e -> assertThat(e.mismatches()).containsExactly(
              new TopicLayoutException.Mismatch(config.commandsTopic(), "partitions", "6", "3",
                  "a different partition count maps an aggregate's key to another partition and breaks its order")))
          .hasMessageContaining("topic " + config.commandsTopic() + ": partitions is 3, expected 6");
    }
  }

  @Test
  void refusesASnapshotsTopicThatIsNotCompactedAndACommandsTopicWithRetention() throws Exception {
    CommandStoreConfig config = Fixtures.isolated(bootstrap, 2);
    try (Admin admin = Fixtures.admin(bootstrap)) {
      admin.createTopics(List.of(
          new NewTopic(config.commandsTopic(), 2, (short) 1).configs(Map.of(TopicConfig.RETENTION_MS_CONFIG, "604800000")),
          new NewTopic(config.snapshotsTopic(), 1, (short) 1)
              .configs(Map.of(TopicConfig.MAX_MESSAGE_BYTES_CONFIG, Integer.toString(CommandTopics.SNAPSHOT_MAX_BYTES)))))
          .all().get();

      assertThatThrownBy(() -> CommandTopics.ensure(admin, config))
          .isInstanceOfSatisfying(TopicLayoutException.class, e -> assertThat(e.mismatches())
              .extracting(m -> m.topic() + " " + m.setting() + " " + m.actual() + " -> " + m.expected())
              .containsExactlyInAnyOrder(
                  config.commandsTopic() + " retention.ms 604800000 -> -1",
                  config.snapshotsTopic() + " cleanup.policy delete -> compact"));
    }
  }

  private static Config config(Admin admin, String topic) throws Exception {
    ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, topic);
    return admin.describeConfigs(List.of(r)).all().get().get(r);
  }
}
