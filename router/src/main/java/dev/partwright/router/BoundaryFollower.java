package dev.partwright.router;

import dev.partwright.schemas.AvroSerde;
import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.Topics;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Feeds a {@link PartitionRouter} from the boundary topic: reads it from the beginning (committed
 * records only), then follows it, on a daemon thread. No consumer group: every application
 * instance sees every change.
 */
public final class BoundaryFollower implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(BoundaryFollower.class);

  private final PartitionRouter router;
  private final KafkaConsumer<String, byte[]> consumer;
  private final AvroSerde<BoundaryChange> serde = AvroSerde.of(BoundaryChange.class);
  private final AtomicBoolean running = new AtomicBoolean(true);
  private final Thread thread;

  private BoundaryFollower(PartitionRouter router, String bootstrapServers, String topic) {
    this.router = router;
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 20);
    this.consumer = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
    List<TopicPartition> partitions = consumer.partitionsFor(topic, Duration.ofSeconds(30)).stream()
        .map(i -> new TopicPartition(topic, i.partition()))
        .toList();
    consumer.assign(partitions);
    consumer.seekToBeginning(partitions);
    this.thread = new Thread(this::run, "partwright-router-" + topic);
    this.thread.setDaemon(true);
  }

  /** Starts following {@code topic} into {@code router}. */
  public static BoundaryFollower follow(PartitionRouter router, String bootstrapServers, String topic) {
    BoundaryFollower follower = new BoundaryFollower(router, bootstrapServers, topic);
    follower.thread.start();
    return follower;
  }

  public static BoundaryFollower follow(PartitionRouter router, String bootstrapServers) {
    return follow(router, bootstrapServers, Topics.BOUNDARIES);
  }

  private void run() {
    try {
      while (running.get()) {
        for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
          try {
            router.apply(serde.decode(r.topic(), r.value()));
          } catch (RuntimeException e) {
            LOG.warn("skipping boundary change {}-{}@{}: {}", r.topic(), r.partition(), r.offset(), e.getMessage());
          }
        }
      }
    } catch (WakeupException e) {
      // closing
    } finally {
      consumer.close();
    }
  }

  @Override
  public void close() {
    running.set(false);
    consumer.wakeup();
    try {
      thread.join(10_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
