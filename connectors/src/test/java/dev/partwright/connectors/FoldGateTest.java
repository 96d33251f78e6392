package dev.partwright.connectors;

import static dev.partwright.connectors.Commands.provision;
import static dev.partwright.connectors.Commands.spec;
import static dev.partwright.connectors.Commands.time;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.partwright.commandstore.CatalogReplay;
import dev.partwright.commandstore.CommandStoreConfig;
import dev.partwright.commandstore.DeadLetter;
import dev.partwright.embedded.Servers;
import dev.partwright.schemas.AggregateId;
import dev.partwright.schemas.CommandHeader;
import dev.partwright.schemas.EntryKind;
import dev.partwright.schemas.EntryVerdict;
import dev.partwright.schemas.HistoryEntry;
import dev.partwright.schemas.Provisioned;
import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.Rejected;
import dev.partwright.schemas.Topics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The worker acts only on commands the fold applies: a stale command (version conflict) is answered
 * {@code Rejected} and never executed; a record whose aggregate order is broken goes to the
 * dead-letter topic with the reason. Replay reports the dead letters, goes on, and shows the
 * conflict and its answer in the history.
 */
class FoldGateTest {

  private static final Instant DAY0 = Instant.parse("2027-05-01T00:00:00Z");
  private static TestSchema db;
  private static WorkerFixture kafka;

  @BeforeAll
  static void setUp() throws Exception {
    db = TestSchema.create("foldgate");
    db.exec("CREATE TABLE ${s}.events (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts)");
    kafka = new WorkerFixture("foldgate");
    kafka.start(kafka.config(TestSchema.fastLimits()), db.provisioner(), new SimpleMeterRegistry());
  }

  @AfterAll
  static void tearDown() throws Exception {
    kafka.close();
    db.close();
  }

  private static ProvisionPartitions day(int d, String name, long expectedVersion) {
    Instant from = DAY0.plus(Duration.ofDays(d));
    String aggregate = "*/" + db.q("events");
    ProvisionPartitions p = provision(aggregate, spec(db.q("events"), db.name, name,
        time(from, from.plus(Duration.ofDays(1)))));
    return ProvisionPartitions.newBuilder(p)
        .setHeader(CommandHeader.newBuilder(p.getHeader()).setExpectedVersion(expectedVersion).build()).build();
  }

  @Test
  void staleCommandsAreRejectedUnexecutedAndBrokenOrderIsDeadLettered() throws Exception {
    String aggregate = "*/" + db.q("events");
    var outcomes = kafka.outcomes(Object.class);
    ProvisionPartitions first = day(0, "events_d0", 0);
    ProvisionPartitions stale = day(1, "events_stale", 0); // the first command took the aggregate to version 1 (2 once answered)
    String unknownKey = "never-sent-" + db.name;
    kafka.send(aggregate, first);
    kafka.send(aggregate, stale);
    // an outcome for a command the aggregate never received: broken order
    kafka.send(aggregate, Provisioned.newBuilder().setIdempotencyKey(unknownKey).setCreated(List.of())
        .setAlreadyPresent(List.of()).setWorker("elsewhere").setDurationMicros(0).build());
    ProvisionPartitions last = day(1, "events_d1", -1);
    kafka.send(aggregate, last);

    Rejected rejected = (Rejected) outcomes.first(o -> o instanceof Rejected r
        && r.getIdempotencyKey().equals(stale.getHeader().getIdempotencyKey()), Duration.ofSeconds(60));
    assertThat(rejected.getCode()).isEqualTo("VERSION_CONFLICT");
    assertThat(rejected.getReason()).contains("expected aggregate version 0", "not executed");
    outcomes.first(o -> o instanceof Provisioned p && p.getIdempotencyKey().equals(last.getHeader().getIdempotencyKey()),
        Duration.ofSeconds(60));
    // the stale command's partition was never created; the ones around it were
    assertThat(db.tree("events")).extracting(l -> l.split(" ")[0]).containsExactly("events_d0", "events_d1");

    List<ConsumerRecord<String, byte[]>> dead = deadLetters(1);
    String reason = new String(dead.get(0).headers().lastHeader(Topics.REASON_HEADER).value(), StandardCharsets.UTF_8);
    assertThat(reason).contains(unknownKey, "never received");

    // replay reports the dead letter and goes on; the history has the conflict and its answer
    CommandStoreConfig store = new CommandStoreConfig(Servers.kafka().bootstrapServers(), kafka.commands,
        kafka.boundaries, 2, (short) 1, 1, "snapshots." + kafka.commands, kafka.deadLetters, WorkerFixture.serdes());
    CatalogReplay.Result replay = CatalogReplay.fromZero(store, CatalogReplay.Progress.NONE);
    assertThat(replay.deadLetters()).extracting(DeadLetter::reason).singleElement().asString().contains(unknownKey);
    var events = replay.catalog().aggregate(AggregateId.parse(aggregate)).orElseThrow();
    assertThat(events.partitions()).containsOnlyKeys(db.q("events_d0"), db.q("events_d1"));
    List<String> history = new ArrayList<>();
    for (HistoryEntry h : events.history()) {
      if (h.getIdempotencyKey().equals(stale.getHeader().getIdempotencyKey())) {
        history.add(h.getKind() + " " + h.getVerdict());
      }
    }
    assertThat(history).containsExactly(EntryKind.PROVISION_PARTITIONS + " " + EntryVerdict.VERSION_CONFLICT,
        EntryKind.REJECTED + " " + EntryVerdict.VERSION_CONFLICT);
    assertThat(events.pending()).isEmpty();
  }

  private static List<ConsumerRecord<String, byte[]>> deadLetters(int atLeast) {
    Map<String, Object> p = Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, Servers.kafka().bootstrapServers(),
        ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    List<ConsumerRecord<String, byte[]>> out = new ArrayList<>();
    try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer())) {
      TopicPartition tp = new TopicPartition(kafka.deadLetters, 0);
      c.assign(List.of(tp));
      c.seekToBeginning(List.of(tp));
      await().atMost(Duration.ofSeconds(60)).until(() -> {
        c.poll(Duration.ofMillis(200)).forEach(out::add);
        return out.size() >= atLeast;
      });
    }
    return out;
  }
}
