package dev.partwright.connectors.registry;

import static dev.partwright.connectors.registry.RedisRegistryTest.BY_TIME;
import static dev.partwright.connectors.registry.RedisRegistryTest.ROOT;
import static dev.partwright.connectors.registry.RedisRegistryTest.added;
import static dev.partwright.connectors.registry.RedisRegistryTest.change;
import static dev.partwright.connectors.registry.RedisRegistryTest.month;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.partwright.embedded.EmbeddedRedis;
import dev.partwright.embedded.Servers;
import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.schemas.RegistryAvroSerde;
import dev.partwright.schemas.SchemaRegistryConfig;
import dev.partwright.schemas.PartitionRetired;
import java.time.Duration;
import java.util.List;
import java.util.Map;
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
import redis.clients.jedis.RedisClient;

/** The sink from a real boundary topic into a real redis-server, including re-delivery after a restart. */
class RedisRegistrySinkTest {

  @Test
  void follows_the_topic_and_redelivery_is_idempotent() throws Exception {
    String bootstrap = Servers.kafka().bootstrapServers();
    String topic = "registry-boundaries-" + UUID.randomUUID();
    try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap))) {
      admin.createTopics(List.of(new NewTopic(topic, 2, (short) 1))).all().get();
    }
    PartwrightSerdes serdes = PartwrightSerdes.create(SchemaRegistryConfig.of(Servers.schemaRegistry().url()));
    RegistryAvroSerde<BoundaryChange> serde = serdes.serde(BoundaryChange.class);
    try (EmbeddedRedis server = EmbeddedRedis.start();
        RedisClient redis = RedisClient.create(server.host(), server.port());
        KafkaProducer<String, byte[]> producer = new KafkaProducer<>(
            Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap), new StringSerializer(), new ByteArraySerializer())) {
      List<BoundaryChange> changes = List.of(
          added(1, ROOT, "public.events_01", BY_TIME, month(1), null),
          added(2, ROOT, "public.events_02", BY_TIME, month(2), null),
          added(3, ROOT, "public.events_03", BY_TIME, month(3), null),
          change(4, new PartitionRetired("public.events_01", ROOT)));
      for (BoundaryChange c : changes) {
        producer.send(new ProducerRecord<>(topic, ROOT, serde.encode(topic, c)));
      }
      producer.flush();
      RegistrySinkConfig config = new RegistrySinkConfig(bootstrap, topic, "sink-" + topic, server.uri(), "pw", Duration.ofMillis(200));
      String partitions = RedisRegistry.partitionsKey("pw", ROOT);
      try (RedisRegistrySink sink = RedisRegistrySink.start(config, serdes)) {
        await().atMost(Duration.ofSeconds(30)).until(() -> sink.applied() == 4);
        assertThat(redis.hgetAll(partitions)).containsOnlyKeys("public.events_02", "public.events_03");
        assertThat(redis.get(RedisRegistry.versionKey("pw", ROOT))).isEqualTo("4");
      }
      // the same changes again (a producer retry, a replay): nothing changes, not even the map version
      for (BoundaryChange c : changes) {
        producer.send(new ProducerRecord<>(topic, ROOT, serde.encode(topic, c)));
      }
      producer.send(new ProducerRecord<>(topic, ROOT, serde.encode(topic, added(5, ROOT, "public.events_04", BY_TIME, month(4), null))));
      producer.flush();
      try (RedisRegistrySink restarted = RedisRegistrySink.start(config, serdes)) {
        await().atMost(Duration.ofSeconds(30)).until(() -> redis.hexists(partitions, "public.events_04"));
        assertThat(restarted.applied()).isEqualTo(1);
        assertThat(redis.hgetAll(partitions)).containsOnlyKeys("public.events_02", "public.events_03", "public.events_04");
        assertThat(redis.get(RedisRegistry.versionKey("pw", ROOT))).isEqualTo("5");
      }
    }
  }
}
