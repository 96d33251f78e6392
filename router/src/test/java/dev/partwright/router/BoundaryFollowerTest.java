package dev.partwright.router;

import static dev.partwright.router.Changes.BY_TIME;
import static dev.partwright.router.Changes.added;
import static dev.partwright.router.Changes.time;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.partwright.embedded.Servers;
import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.schemas.RegistryAvroSerde;
import dev.partwright.schemas.SchemaRegistryConfig;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/**
 * The router following a real boundary topic: it bootstraps from what the topic holds, and a change
 * published later becomes visible to readers without a restart, within 100 ms of the send for 95 % of changes.
 */
class BoundaryFollowerTest {

  static final String TABLE = "public.readings";
  final PartwrightSerdes serdes = PartwrightSerdes.create(SchemaRegistryConfig.of(Servers.schemaRegistry().url()));
  final RegistryAvroSerde<BoundaryChange> serde = serdes.serde(BoundaryChange.class);

  @Test
  void bootstraps_from_the_topic_then_applies_live_changes_within_100_ms_at_p95() throws Exception {
    String bootstrap = Servers.kafka().bootstrapServers();
    String topic = "boundaries-" + UUID.randomUUID();
    try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap))) {
      admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1))).all().get();
    }
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.LINGER_MS_CONFIG, 0);
    Instant start = Instant.parse("2020-01-01T00:00:00Z");
    try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer())) {
      for (int i = 0; i < 3_000; i++) {
        producer.send(record(topic, i, start));
      }
      producer.flush();

      PartitionRouter router = new PartitionRouter();
      try (BoundaryFollower follower = BoundaryFollower.follow(router, bootstrap, serdes, topic)) {
        assertThat(follower.awaitCaughtUp(Duration.ofSeconds(30))).isTrue();
        assertThat(router.partitionCount(TABLE)).isEqualTo(3_000);

        List<Long> latencies = new ArrayList<>();
        for (int i = 3_000; i < 3_085; i++) {
          Instant probe = start.plus(Duration.ofHours(i)).plusSeconds(1);
          String expected = "public.readings_h" + i;
          long sent = System.nanoTime();
          producer.send(record(topic, i, start));
          // polled on this thread: a thread per await would add its own start-up to every sample
          await().pollInSameThread().pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(1)).atMost(Duration.ofSeconds(5))
              .until(() -> expected.equals(resolveOrNull(router, probe)));
          if (i >= 3_005) { // the first sends also fetch producer metadata and warm the JIT
            latencies.add((System.nanoTime() - sent) / 1_000_000);
          }
        }
        Collections.sort(latencies);
        long p95 = latencies.get((int) Math.ceil(latencies.size() * 0.95) - 1);
        System.out.printf("boundary event -> visible to readers, %d changes: p50 %d ms, p95 %d ms, max %d ms%n",
            latencies.size(), latencies.get(latencies.size() / 2), p95, latencies.get(latencies.size() - 1));
        // The issue's 100 ms, for the bulk of 80 changes: p95 (at most 4 samples above). Not p99 (the
        // single worst sample here): on a 2-core machine shared with other builds, the broker round
        // trip alone -- producer to a plain consumer, no router -- showed p99 of 24-86 ms in
        // BoundaryLatencyBenchmark, so the worst sample measures the machine's worst scheduling hiccup.
        // p95 still fails whenever the router's own path costs ~100 ms per change (a full rebuild per
        // change of a big table with its GC, a sleep between polls, listeners run before readers can
        // see the change). The p99 is the benchmark's figure.
        assertThat(p95).as("p95 ms from send to visible").isLessThanOrEqualTo(100);
        assertThat(latencies.get(latencies.size() - 1)).as("max ms from send to visible").isLessThanOrEqualTo(2_000);
      }
    }
  }

  private ProducerRecord<String, byte[]> record(String topic, int i, Instant start) {
    Instant from = start.plus(Duration.ofHours(i));
    BoundaryChange change = added(i, TABLE, BY_TIME, "public.readings_h" + i, time(from.toString(), from.plus(Duration.ofHours(1)).toString()));
    return new ProducerRecord<>(topic, TABLE + "#" + (i % 7), serde.encode(topic, change));
  }

  private static String resolveOrNull(PartitionRouter router, Instant t) {
    try {
      return router.resolve(TABLE, t);
    } catch (PartitionNotFoundException e) {
      return null;
    }
  }
}
