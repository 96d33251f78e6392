package dev.partwright.connectors;

import static dev.partwright.connectors.Commands.provision;
import static dev.partwright.connectors.Commands.spec;
import static dev.partwright.connectors.Commands.time;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.partwright.schemas.ProvisionPartitions;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/**
 * A zombie worker — one whose transactional id a newer instance has taken — stops cleanly at its
 * next transaction: it reports why, and nothing of that transaction (outcome, offset) is committed.
 */
class WorkerFencingTest {

  private static final Instant DAY0 = Instant.parse("2027-07-01T00:00:00Z");

  @Test
  void aWorkerFencedByANewerInstanceStopsWithoutCommittingItsOutcome() throws Exception {
    try (TestSchema db = TestSchema.create("fencing"); WorkerFixture kafka = new WorkerFixture("fencing")) {
      db.exec("CREATE TABLE ${s}.events (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts)");
      WorkerConfig config = kafka.config(TestSchema.fastLimits());
      ProvisioningWorker zombie = kafka.start(config, db.provisioner(), new SimpleMeterRegistry());

      // the newer instance: same transactional id; initialising it fences every older producer
      try (KafkaProducer<String, byte[]> successor = new KafkaProducer<>(Map.of(
          ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.kafka.bootstrapServers(),
          ProducerConfig.TRANSACTIONAL_ID_CONFIG, config.transactionalId()), new StringSerializer(),
          new ByteArraySerializer())) {
        successor.initTransactions();
        ProvisionPartitions command = provision("*/" + db.q("events"), spec(db.q("events"), db.name, "events_d0",
            time(DAY0, DAY0.plus(Duration.ofDays(1)))));
        kafka.send("*/" + db.q("events"), command);

        await().atMost(Duration.ofSeconds(60)).until(() -> zombie.failure() != null);
        assertThat(fencing(zombie.failure())).as(String.valueOf(zombie.failure())).isTrue();
        // its transaction was never committed: the command is all a committed reader sees of the log
        assertThat(committedRecords(kafka.kafka.bootstrapServers(), kafka.commands)).isEqualTo(1);
      }
    }
  }

  private static int committedRecords(String bootstrap, String topic) {
    try (KafkaConsumer<String, byte[]> c = new KafkaConsumer<>(Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
        ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"), new StringDeserializer(), new ByteArrayDeserializer())) {
      List<TopicPartition> tps = c.partitionsFor(topic).stream().map(i -> new TopicPartition(topic, i.partition())).toList();
      c.assign(tps);
      c.seekToBeginning(tps);
      Map<TopicPartition, Long> end = c.endOffsets(tps);
      int count = 0;
      while (tps.stream().anyMatch(tp -> c.position(tp) < end.get(tp))) {
        count += c.poll(Duration.ofMillis(200)).count();
      }
      return count;
    }
  }

  private static boolean fencing(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof ProducerFencedException || t instanceof InvalidProducerEpochException) {
        return true;
      }
    }
    return false;
  }
}
