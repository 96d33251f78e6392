package dev.partwright.schemas;

import dev.partwright.embedded.Servers;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** Produce and read back on the shared broker; topics are single-partition (auto-created). */
final class TestKafka {

  private TestKafka() {}

  static String topic(String prefix) {
    return prefix + "-" + UUID.randomUUID();
  }

  static <V> void produce(String topic, Serializer<V> serializer, List<V> values) {
    Map<String, Object> config = Map.of(
        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, Servers.kafka().bootstrapServers(),
        ProducerConfig.ACKS_CONFIG, "all");
    try (KafkaProducer<String, V> producer = new KafkaProducer<>(config, new StringSerializer(), serializer)) {
      for (V value : values) {
        producer.send(new ProducerRecord<>(topic, 0, "k", value)).get();
      }
    } catch (InterruptedException | ExecutionException e) {
      throw new AssertionError("cannot produce to " + topic, e);
    }
  }

  static void produceBytes(String topic, List<byte[]> values) {
    produce(topic, new ByteArraySerializer(), values);
  }

  static KafkaConsumer<String, byte[]> rawConsumer(String topic) {
    return consumer(topic, new ByteArrayDeserializer());
  }

  /** A consumer assigned to partition 0 of {@code topic}, from the beginning. */
  static <V> KafkaConsumer<String, V> consumer(String topic, Deserializer<V> deserializer) {
    Map<String, Object> config = Map.of(
        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, Servers.kafka().bootstrapServers(),
        ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false,
        ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 50);
    KafkaConsumer<String, V> consumer = new KafkaConsumer<>(config, new StringDeserializer(), deserializer);
    TopicPartition partition = new TopicPartition(topic, 0);
    consumer.assign(List.of(partition));
    consumer.seekToBeginning(List.of(partition));
    return consumer;
  }

  /** Reads until {@code count} records arrived (bounded: 30 s). */
  static <V> List<ConsumerRecord<String, V>> read(KafkaConsumer<String, V> consumer, int count) {
    List<ConsumerRecord<String, V>> out = new ArrayList<>();
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (out.size() < count && System.nanoTime() < deadline) {
      consumer.poll(Duration.ofMillis(100)).forEach(out::add);
    }
    if (out.size() < count) {
      throw new AssertionError("expected " + count + " records, got " + out.size());
    }
    return out;
  }

  static List<ConsumerRecord<String, byte[]>> readBytes(String topic, int count) {
    try (KafkaConsumer<String, byte[]> consumer = rawConsumer(topic)) {
      return read(consumer, count);
    }
  }
}
