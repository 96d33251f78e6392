package dev.partwright.commandstore;

import dev.partwright.schemas.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

/**
 * Creates the pipeline's topics with the configured layout and refuses ({@link TopicLayoutException})
 * to go on when one of the store's own topics exists with settings that contradict it:
 *
 * <ul>
 *   <li>commands: partition count (another count sends an aggregate's key to another partition, so
 *       its order is lost), replication factor, {@code min.insync.replicas}, and infinite
 *       time and size retention with {@code cleanup.policy=delete} (the log is the source of truth:
 *       retention would delete history, compaction would keep one record per aggregate);
 *   <li>boundaries: partition count, replication factor, {@code min.insync.replicas};
 *   <li>snapshots: {@code cleanup.policy=compact} (the latest snapshot per partition must survive),
 *       replication factor, {@code min.insync.replicas}, and {@code max.message.bytes} large enough
 *       for a snapshot.
 * </ul>
 *
 * The dead-letter, alert and extra topics are created when missing and otherwise left alone: their
 * layout does not affect correctness, and an extra topic such as the ingestion topic belongs to the user.
 */
public final class CommandTopics {

  /** Largest snapshot record (one partition's catalog, compressed); the snapshots topic allows it. */
  public static final int SNAPSHOT_MAX_BYTES = 64 * 1024 * 1024;

  private static final Duration METADATA_WAIT = Duration.ofSeconds(30);

  private CommandTopics() {}

  /** What one topic must look like; null settings are not checked. */
  private record Layout(String name, int partitions, boolean checkPartitions, Map<String, String> configs) {}

  /**
   * Ensures the command, boundary, snapshot, alert and dead-letter topics plus {@code extra} exist,
   * then checks the store's own topics against the configuration.
   *
   * @throws TopicLayoutException when an existing topic contradicts the configuration
   */
  public static void ensure(Admin admin, CommandStoreConfig config, String... extra) {
    String minIsr = Integer.toString(config.minInsyncReplicas());
    Layout commands = new Layout(config.commandsTopic(), config.partitions(), true, ordered(
        TopicConfig.MIN_IN_SYNC_REPLICAS_CONFIG, minIsr,
        TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_DELETE,
        TopicConfig.RETENTION_MS_CONFIG, "-1",
        TopicConfig.RETENTION_BYTES_CONFIG, "-1"));
    Layout boundaries = new Layout(config.boundariesTopic(), config.partitions(), true, ordered(
        TopicConfig.MIN_IN_SYNC_REPLICAS_CONFIG, minIsr));
    Layout snapshots = new Layout(config.snapshotsTopic(), 1, false, ordered(
        TopicConfig.MIN_IN_SYNC_REPLICAS_CONFIG, minIsr,
        TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT,
        TopicConfig.MAX_MESSAGE_BYTES_CONFIG, Integer.toString(SNAPSHOT_MAX_BYTES),
        // roll segments hourly so superseded snapshots become compactable instead of piling up
        TopicConfig.SEGMENT_MS_CONFIG, "3600000",
        // a batch larger than a segment is refused, whatever max.message.bytes says
        TopicConfig.SEGMENT_BYTES_CONFIG, Integer.toString(2 * SNAPSHOT_MAX_BYTES)));
    List<Layout> checked = List.of(commands, boundaries, snapshots);
    List<NewTopic> wanted = new ArrayList<>();
    for (Layout l : checked) {
      wanted.add(new NewTopic(l.name(), l.partitions(), config.replicationFactor()).configs(l.configs()));
    }
    Map<String, String> durable = Map.of(TopicConfig.MIN_IN_SYNC_REPLICAS_CONFIG, minIsr);
    for (String name : distinct(config.deadLetterTopic(), Topics.INGESTION_DLQ, Topics.ALERTS)) {
      wanted.add(new NewTopic(name, 1, config.replicationFactor()).configs(durable));
    }
    for (String name : extra) {
      wanted.add(new NewTopic(name, config.partitions(), config.replicationFactor()).configs(durable));
    }
    try {
      Set<String> existing = admin.listTopics().names().get();
      List<NewTopic> missing = wanted.stream().filter(t -> !existing.contains(t.name()))
          .collect(Collectors.toMap(NewTopic::name, t -> t, (a, b) -> a, LinkedHashMap::new)).values().stream().toList();
      if (!missing.isEmpty()) {
        createAll(admin, missing);
        awaitLeaders(admin, missing.stream().map(NewTopic::name).toList());
      }
      List<TopicLayoutException.Mismatch> mismatches = checkWhenKnown(admin, config, checked);
      if (!mismatches.isEmpty()) {
        throw new TopicLayoutException(config.bootstrapServers(), mismatches);
      }
    } catch (ExecutionException e) {
      throw new CommandStoreException("cannot create or describe topics on " + config.bootstrapServers() + ": "
          + e.getCause(), e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CommandStoreException("interrupted while creating topics", e);
    }
  }

  private static void createAll(Admin admin, List<NewTopic> missing) throws ExecutionException, InterruptedException {
    try {
      admin.createTopics(missing).all().get();
    } catch (ExecutionException e) {
      // another instance created some of them at the same moment: fine, they are checked next
      if (!(e.getCause() instanceof TopicExistsException)) {
        throw e;
      }
    }
  }

  /**
   * Waits until every partition of the new topics has a leader: a producer that writes before that
   * gets NOT_LEADER_OR_FOLLOWER for some batches while later ones succeed, and its retried first
   * batch is then refused as out of sequence (the records are lost after the delivery timeout).
   */
  private static void awaitLeaders(Admin admin, List<String> topics) throws ExecutionException, InterruptedException {
    long deadline = System.nanoTime() + METADATA_WAIT.toNanos();
    while (true) {
      try {
        boolean led = admin.describeTopics(topics).allTopicNames().get().values().stream()
            .flatMap(d -> d.partitions().stream()).allMatch(p -> p.leader() != null && !p.leader().isEmpty());
        if (led) {
          return;
        }
      } catch (ExecutionException e) {
        if (!(e.getCause() instanceof UnknownTopicOrPartitionException)) {
          throw e;
        }
      }
      if (System.nanoTime() > deadline) {
        throw new CommandStoreException("topics " + topics + " have partitions without a leader after " + METADATA_WAIT);
      }
      Thread.sleep(50);
    }
  }

  /** Topics just created take a moment to reach every broker's metadata: retry describing them briefly. */
  private static List<TopicLayoutException.Mismatch> checkWhenKnown(Admin admin, CommandStoreConfig config,
      List<Layout> layouts) throws ExecutionException, InterruptedException {
    long deadline = System.nanoTime() + METADATA_WAIT.toNanos();
    while (true) {
      try {
        return check(admin, config, layouts);
      } catch (ExecutionException e) {
        if (!(e.getCause() instanceof UnknownTopicOrPartitionException) || System.nanoTime() > deadline) {
          throw e;
        }
        Thread.sleep(100);
      }
    }
  }

  private static List<TopicLayoutException.Mismatch> check(Admin admin, CommandStoreConfig config, List<Layout> layouts)
      throws ExecutionException, InterruptedException {
    List<String> names = layouts.stream().map(Layout::name).toList();
    Map<String, TopicDescription> described = admin.describeTopics(names).allTopicNames().get();
    List<ConfigResource> resources = names.stream().map(n -> new ConfigResource(ConfigResource.Type.TOPIC, n)).toList();
    Map<ConfigResource, Config> configs = admin.describeConfigs(resources).all().get();
    List<TopicLayoutException.Mismatch> out = new ArrayList<>();
    for (Layout l : layouts) {
      TopicDescription d = described.get(l.name());
      Config c = configs.get(new ConfigResource(ConfigResource.Type.TOPIC, l.name()));
      if (l.checkPartitions() && d.partitions().size() != l.partitions()) {
        out.add(new TopicLayoutException.Mismatch(l.name(), "partitions", Integer.toString(l.partitions()),
            Integer.toString(d.partitions().size()),
            "a different partition count maps an aggregate's key to another partition and breaks its order"));
      }
      int replicas = d.partitions().stream().mapToInt(p -> p.replicas().size()).min().orElse(0);
      if (replicas != config.replicationFactor()) {
        out.add(new TopicLayoutException.Mismatch(l.name(), "replication factor",
            Short.toString(config.replicationFactor()), Integer.toString(replicas), "durability differs from the configuration"));
      }
      for (Map.Entry<String, String> want : l.configs().entrySet()) {
        if (want.getKey().equals(TopicConfig.SEGMENT_MS_CONFIG) || want.getKey().equals(TopicConfig.SEGMENT_BYTES_CONFIG)) {
          continue; // tuning, not a contract
        }
        ConfigEntry have = c.get(want.getKey());
        String actual = have == null ? "unset" : have.value();
        if (!satisfies(want.getKey(), want.getValue(), actual)) {
          out.add(new TopicLayoutException.Mismatch(l.name(), want.getKey(), expectation(want.getKey(), want.getValue()),
              actual, why(l, want.getKey(), config)));
        }
      }
    }
    return out;
  }

  private static boolean satisfies(String setting, String wanted, String actual) {
    if (setting.equals(TopicConfig.MAX_MESSAGE_BYTES_CONFIG)) {
      try {
        return Long.parseLong(actual) >= Long.parseLong(wanted);
      } catch (NumberFormatException e) {
        return false;
      }
    }
    return wanted.equals(actual);
  }

  private static String expectation(String setting, String wanted) {
    return setting.equals(TopicConfig.MAX_MESSAGE_BYTES_CONFIG) ? "at least " + wanted : wanted;
  }

  private static String why(Layout l, String setting, CommandStoreConfig config) {
    return switch (setting) {
      case TopicConfig.MIN_IN_SYNC_REPLICAS_CONFIG -> "acknowledged writes must survive the configured number of failures";
      case TopicConfig.CLEANUP_POLICY_CONFIG -> l.name().equals(config.snapshotsTopic())
          ? "only compaction keeps the latest snapshot of every partition"
          : "the command log is the source of truth: compaction would keep only the last record of each aggregate";
      case TopicConfig.RETENTION_MS_CONFIG, TopicConfig.RETENTION_BYTES_CONFIG ->
          "the command log is the source of truth: retention would delete history that replay needs";
      case TopicConfig.MAX_MESSAGE_BYTES_CONFIG -> "a snapshot of a large catalog would be refused";
      default -> "required by the command store";
    };
  }

  private static Map<String, String> ordered(String... kv) {
    Map<String, String> m = new LinkedHashMap<>();
    for (int i = 0; i < kv.length; i += 2) {
      m.put(kv[i], kv[i + 1]);
    }
    return m;
  }

  private static List<String> distinct(String... names) {
    return List.of(names).stream().distinct().toList();
  }
}
