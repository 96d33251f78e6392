package dev.partwright.connectors;

import static dev.partwright.connectors.Commands.provision;
import static dev.partwright.connectors.Commands.spec;
import static dev.partwright.connectors.Commands.time;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.partwright.schemas.CommandLogEntry;
import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.Provisioned;
import dev.partwright.schemas.Topics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Command-log records the worker cannot read — written without the registry, naming a schema id
 * the registry never gave out, cut short — go to the dead-letter topic with the reason (code,
 * topic, partition, offset) on the real broker and registry, and the next good command is applied.
 */
class UnreadableCommandTest {

  private static final Instant DAY0 = Instant.parse("2027-03-01T00:00:00Z");
  private static TestSchema db;
  private static WorkerFixture kafka;

  @BeforeAll
  static void setUp() throws Exception {
    db = TestSchema.create("unreadable");
    db.exec("CREATE TABLE ${s}.events (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts)");
    kafka = new WorkerFixture("unreadable");
    kafka.start(kafka.config(TestSchema.fastLimits()), db.provisioner(), new SimpleMeterRegistry());
  }

  @AfterAll
  static void tearDown() throws Exception {
    kafka.close();
    db.close();
  }

  @Test
  void unreadableRecordsAreDeadLetteredWithTheReasonAndTheNextCommandIsApplied() throws Exception {
    String aggregate = "*/" + db.q("events");
    ProvisionPartitions command = provision(aggregate,
        spec(db.q("events"), db.name, "events_d0", time(DAY0, DAY0.plus(Duration.ofDays(1)))));
    CommandLogEntry entry = CommandLogEntry.newBuilder().setAggregateId(aggregate).setRecordedAt(Instant.now())
        .setEntry(command).build();
    byte[] good = kafka.log.encode(kafka.commands, entry);
    ByteBuffer single = CommandLogEntry.getEncoder().encode(entry); // C3 01 + fingerprint: no registry
    byte[] singleObject = Arrays.copyOfRange(single.array(), single.arrayOffset(), single.arrayOffset() + single.limit());
    byte[] unknownId = good.clone();
    ByteBuffer.wrap(unknownId).putInt(1, 0x7ffffff0);
    byte[] truncated = Arrays.copyOf(good, good.length / 2);
    var deadLetters = kafka.deadLetters();
    var outcomes = kafka.outcomes(Provisioned.class);

    long[] offsets = {kafka.sendRaw(aggregate, singleObject), kafka.sendRaw(aggregate, unknownId),
        kafka.sendRaw(aggregate, truncated)};
    kafka.send(aggregate, command);

    Provisioned done = outcomes.first(p -> p.getIdempotencyKey().equals(command.getHeader().getIdempotencyKey()),
        Duration.ofSeconds(60));
    assertThat(done.getCreated()).extracting(s -> s.getName()).containsExactly("events_d0");
    await().atMost(Duration.ofSeconds(30)).until(() -> deadLetters.poll().size() >= 3);
    List<ConsumerRecord> dead = deadLetters.poll();
    assertThat(dead).hasSize(3);
    List<byte[]> sent = List.of(singleObject, unknownId, truncated);
    List<String> codes = List.of("WRONG_MAGIC_BYTE: ", "UNKNOWN_SCHEMA_ID: ", "TRUNCATED: ");
    for (int i = 0; i < 3; i++) {
      @SuppressWarnings("unchecked")
      ConsumerRecord<String, byte[]> r = dead.get(i);
      assertThat(r.value()).as("the payload as it came").isEqualTo(sent.get(i));
      assertThat(r.key()).isEqualTo(aggregate);
      String reason = new String(r.headers().lastHeader(Topics.REASON_HEADER).value(), StandardCharsets.UTF_8);
      assertThat(reason).startsWith(codes.get(i)).contains("topic " + kafka.commands + " partition ")
          .contains(" offset " + offsets[i] + ": CommandLogEntry payload");
    }
  }
}
