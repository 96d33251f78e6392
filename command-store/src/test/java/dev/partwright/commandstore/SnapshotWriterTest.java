package dev.partwright.commandstore;

import static dev.partwright.commandstore.Fixtures.aggregate;
import static dev.partwright.commandstore.Fixtures.entry;
import static dev.partwright.commandstore.Fixtures.provisioned;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.partwright.embedded.Servers;
import dev.partwright.schemas.AggregateId;
import dev.partwright.schemas.CatalogSnapshot;
import dev.partwright.schemas.CommandLogEntry;
import dev.partwright.schemas.RegistryAvroSerde;
import dev.partwright.schemas.Topics;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Periodic snapshots to the compacted topic, and dead letters written exactly once with them. */
class SnapshotWriterTest {

  private static final RegistryAvroSerde<CatalogSnapshot> SNAPSHOTS = Fixtures.serdes().serde(CatalogSnapshot.class);
  private static final RegistryAvroSerde<CommandLogEntry> LOG = Fixtures.serdes().serde(CommandLogEntry.class);
  private static final Duration PATIENCE = Duration.ofSeconds(60);
  private static String bootstrap;

  @BeforeAll
  static void broker() {
    bootstrap = Servers.kafka().bootstrapServers();
  }

  private static List<CatalogSnapshot> snapshots(CommandStoreConfig config) {
    return Fixtures.readAll(bootstrap, config.snapshotsTopic(), true).stream()
        .map(r -> SNAPSHOTS.decode(r.topic(), r.value())).toList();
  }

  @Test
  void writesASnapshotEveryNRecordsAndReplayThenReadsOnlyTheTail() {
    CommandStoreConfig config = Fixtures.ensured(bootstrap, 1);
    try (SnapshotWriter writer = SnapshotWriter.start(config, new SnapshotPolicy(100, Duration.ofHours(1)), "n")) {
      int written = Fixtures.writeLog(bootstrap, config, 5, 0, 25); // 5 aggregates x 25 days: well over 200 records

      await().atMost(PATIENCE).until(() -> snapshots(config).stream().anyMatch(s -> s.getNextOffset() >= 200));
      assertThat(writer.failure()).isNull();
      CatalogReplay.Result replay = CatalogReplay.fromSnapshots(config, CatalogReplay.Progress.NONE);
      assertThat(replay.snapshotOffsets()).containsKey(0);
      assertThat(replay.recordsRead()).isEqualTo(written - replay.snapshotOffsets().get(0));
      assertThat(replay.recordsRead()).isLessThan(written);
    }
  }

  @Test
  void writesASnapshotAfterTheIntervalWhenAnythingIsNew() {
    CommandStoreConfig config = Fixtures.ensured(bootstrap, 1);
    try (SnapshotWriter writer = SnapshotWriter.start(config, new SnapshotPolicy(1_000_000, Duration.ofSeconds(1)), "t")) {
      int written = Fixtures.writeLog(bootstrap, config, 1, 0, 2);

      await().atMost(PATIENCE).until(() -> snapshots(config).stream().anyMatch(s -> s.getNextOffset() == written));
      CatalogSnapshot s = snapshots(config).get(snapshots(config).size() - 1);
      assertThat(s.getRecordsRead()).isEqualTo(written);
      assertThat(s.getAggregates()).hasSize(1);
    }
  }

  @Test
  void refusedRecordsGoToTheDeadLetterTopicWithTheReasonExactlyOnceAcrossRestarts() throws Exception {
    CommandStoreConfig config = Fixtures.ensured(bootstrap, 1);
    AggregateId a = aggregate("acme", "events");
    SnapshotPolicy policy = new SnapshotPolicy(1_000_000, Duration.ofHours(1));
    try (SnapshotWriter writer = SnapshotWriter.start(config, policy, "dlq");
         KafkaProducer<String, byte[]> p = Fixtures.rawProducer(bootstrap)) {
      p.send(new ProducerRecord<>(config.commandsTopic(), a.toString(), "garbage".getBytes(StandardCharsets.UTF_8))).get();
      p.send(new ProducerRecord<>(config.commandsTopic(), a.toString(),
          LOG.encode(config.commandsTopic(), entry(a, provisioned(a, "never-sent", 0))))).get();

      await().atMost(PATIENCE).until(() -> Fixtures.readAll(bootstrap, config.deadLetterTopic(), true).size() == 2);
      assertThat(writer.deadLettersWritten()).isEqualTo(2);
    }
    List<ConsumerRecord<String, byte[]>> dead = Fixtures.readAll(bootstrap, config.deadLetterTopic(), true);
    assertThat(dead).extracting(r -> new String(r.headers().lastHeader(Topics.REASON_HEADER).value(), StandardCharsets.UTF_8))
        .satisfiesExactly(
            reason -> assertThat(reason).startsWith("unreadable payload"),
            reason -> assertThat(reason).contains("never received (broken order)"));
    assertThat(dead).extracting(r -> new String(r.headers().lastHeader(SnapshotWriter.SOURCE_HEADER).value(), StandardCharsets.UTF_8))
        .containsExactly(config.commandsTopic() + "-0@0", config.commandsTopic() + "-0@1");
    assertThat(new String(dead.get(0).value(), StandardCharsets.UTF_8)).isEqualTo("garbage");

    // a restarted writer resumes from the snapshot that covered them: nothing is dead-lettered again
    try (SnapshotWriter again = SnapshotWriter.start(config, new SnapshotPolicy(1, Duration.ofHours(1)), "dlq")) {
      int more = Fixtures.writeLog(bootstrap, config, 1, 0, 1);
      await().atMost(PATIENCE).until(() -> snapshots(config).stream().anyMatch(s -> s.getNextOffset() == 2 + more));
      assertThat(again.deadLettersWritten()).isZero();
    }
    assertThat(Fixtures.readAll(bootstrap, config.deadLetterTopic(), true)).hasSize(2);
  }

  @Test
  void aSecondWriterWithTheSameIdFencesTheFirst() throws Exception {
    CommandStoreConfig config = Fixtures.ensured(bootstrap, 1);
    SnapshotPolicy policy = new SnapshotPolicy(1, Duration.ofHours(1));
    try (SnapshotWriter first = SnapshotWriter.start(config, policy, "same")) {
      assertThat(first.awaitCaughtUp(PATIENCE)).isTrue();
      try (SnapshotWriter second = SnapshotWriter.start(config, policy, "same")) {
        assertThat(second.awaitCaughtUp(PATIENCE)).isTrue();
        // both see new records; only the newer may write their snapshot
        Fixtures.writeLog(bootstrap, config, 1, 0, 1);

        await().atMost(PATIENCE).until(() -> !first.isRunning());
        assertThat(first.failure()).isInstanceOf(WriterFencedException.class);
        assertThat(first.snapshotsWritten()).isZero();
        await().atMost(PATIENCE).until(() -> second.snapshotsWritten() > 0);
        assertThat(second.failure()).isNull();
      }
    }
  }
}
