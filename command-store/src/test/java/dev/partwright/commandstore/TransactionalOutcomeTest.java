package dev.partwright.commandstore;

import static dev.partwright.commandstore.Fixtures.aggregate;
import static dev.partwright.commandstore.Fixtures.day;
import static dev.partwright.commandstore.Fixtures.provision;
import static dev.partwright.commandstore.Fixtures.provisioned;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.partwright.embedded.Servers;
import dev.partwright.schemas.AggregateId;
import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.CommandLogEntry;
import dev.partwright.schemas.RegistryAvroSerde;
import dev.partwright.schemas.PartitionAdded;
import dev.partwright.schemas.PartitionKey;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.Provisioned;
import dev.partwright.schemas.Strategy;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * An outcome, its boundary changes and the consumed command offset commit in one Kafka
 * transaction; a crash between send and commit leaves nothing for {@code read_committed} readers;
 * a zombie writer is fenced and stops cleanly.
 */
class TransactionalOutcomeTest {

  private static final RegistryAvroSerde<CommandLogEntry> LOG = Fixtures.serdes().serde(CommandLogEntry.class);
  private static String bootstrap;

  /** Stands for the process dying: nothing in the store catches it. */
  private static final class SimulatedCrash extends Error {}

  @BeforeAll
  static void broker() {
    bootstrap = Servers.kafka().bootstrapServers();
  }

  private static BoundaryChange added(AggregateId a, PartitionSpec spec, long version) {
    return BoundaryChange.newBuilder().setAggregateId(a.toString()).setAggregateVersion(version)
        .setRootTable(spec.getParent()).setChangedAt(Instant.parse("2026-03-01T00:00:00Z"))
        .setChange(PartitionAdded.newBuilder().setPartition(spec.getSchemaName() + "." + spec.getName())
            .setParent(spec.getParent())
            .setParentKey(new PartitionKey(Strategy.RANGE, List.of("ts"), List.of("timestamp with time zone")))
            .setBound(spec.getBound()).build())
        .build();
  }

  private static Map<TopicPartition, OffsetAndMetadata> committed(String group) throws Exception {
    try (Admin admin = Fixtures.admin(bootstrap)) {
      return admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get();
    }
  }

  private static List<Object> committedEntries(CommandStoreConfig config) {
    return Fixtures.readAll(bootstrap, config.commandsTopic(), true).stream()
        .map(r -> (Object) LOG.decode(r.topic(), r.value()).getEntry()).toList();
  }

  @Test
  void theOutcomeItsBoundaryChangesAndTheConsumedOffsetCommitTogether() throws Exception {
    CommandStoreConfig config = Fixtures.ensured(bootstrap, 2);
    AggregateId a = aggregate("acme", "tx");
    String group = "workers-" + UUID.randomUUID();
    try (CommandStore worker = CommandStore.transactional(config, "worker-" + UUID.randomUUID())) {
      Appended command = worker.append(a, 0, provision(a, "k1", 0));
      TopicPartition consumed = new TopicPartition(config.commandsTopic(), command.partition());

      worker.appendOutcome(a, provisioned(a, "k1", 0), List.of(added(a, day(a, 0), command.offset())),
          Map.of(consumed, new OffsetAndMetadata(command.offset() + 1)), new ConsumerGroupMetadata(group));

      // commitTransaction returns once the coordinator decided; the markers that make the records
      // visible to read_committed readers reach each partition a moment later
      await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
        assertThat(committedEntries(config)).hasSize(2).last().isInstanceOf(Provisioned.class);
        assertThat(Fixtures.readAll(bootstrap, config.boundariesTopic(), true)).hasSize(1);
      });
      assertThat(committed(group)).containsEntry(consumed, new OffsetAndMetadata(command.offset() + 1));
      assertThat(worker.version(a)).isEqualTo(2);
    }
  }

  @Test
  void aCrashBetweenSendAndCommitLeavesNothingVisibleToCommittedReaders() throws Exception {
    CommandStoreConfig config = Fixtures.ensured(bootstrap, 2);
    AggregateId a = aggregate("acme", "crash");
    String group = "workers-" + UUID.randomUUID();
    String id = "worker-" + UUID.randomUUID();
    CommandStore dying = CommandStore.transactional(config, id);
    Appended command = dying.append(a, 0, provision(a, "k1", 0));
    TopicPartition consumed = new TopicPartition(config.commandsTopic(), command.partition());
    Map<TopicPartition, OffsetAndMetadata> offsets = Map.of(consumed, new OffsetAndMetadata(command.offset() + 1));
    dying.beforeCommit = () -> {
      throw new SimulatedCrash();
    };

    assertThatThrownBy(() -> dying.appendOutcome(a, provisioned(a, "k1", 0), List.of(added(a, day(a, 0), 0)),
        offsets, new ConsumerGroupMetadata(group))).isInstanceOf(SimulatedCrash.class);
    dying.crash();

    // its successor starts with the same transactional id: Kafka aborts what the dead one left open
    try (CommandStore successor = CommandStore.transactional(config, id)) {
      List<ConsumerRecord<String, byte[]>> everything = Fixtures.readAll(bootstrap, config.commandsTopic(), false);
      assertThat(everything).as("the outcome did reach the log, uncommitted").hasSize(2);
      assertThat(committedEntries(config)).as("committed readers see only the command").hasSize(1);
      assertThat(Fixtures.readAll(bootstrap, config.boundariesTopic(), true)).isEmpty();
      assertThat(committed(group)).isEmpty();

      // the command is consumed again and answered once
      successor.appendOutcome(a, provisioned(a, "k1", 0), List.of(), offsets, new ConsumerGroupMetadata(group));
      assertThat(committedEntries(config)).hasSize(2);
      assertThat(committed(group)).containsEntry(consumed, new OffsetAndMetadata(command.offset() + 1));
    }
  }

  @Test
  void aZombieFencedByANewerInstanceStopsCleanly() {
    CommandStoreConfig config = Fixtures.ensured(bootstrap, 2);
    AggregateId a = aggregate("acme", "zombie");
    String id = "worker-" + UUID.randomUUID();
    CommandStore zombie = CommandStore.transactional(config, id);
    Appended command = zombie.append(a, 0, provision(a, "k1", 0));

    try (CommandStore successor = CommandStore.transactional(config, id)) {
      assertThatThrownBy(() -> zombie.appendOutcome(a, provisioned(a, "k1", 0), List.of(), Map.of(), null))
          .isInstanceOfSatisfying(WriterFencedException.class, e -> assertThat(e.transactionalId()).isEqualTo(id));
      assertThatThrownBy(() -> zombie.append(a, -1, provision(a, "k2", 1))).isInstanceOf(WriterFencedException.class);
      zombie.close();

      successor.appendOutcome(a, provisioned(a, "k1", 0), List.of(), Map.of(), null);
    }
    assertThat(committedEntries(config)).hasSize(2);
    assertThat(command.version()).isEqualTo(1);
  }
}
