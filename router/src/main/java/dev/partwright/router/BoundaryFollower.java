package dev.partwright.router;

import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.schemas.PayloadException;
import dev.partwright.schemas.RegistryAvroSerde;
import dev.partwright.schemas.SchemaRegistryException;
import dev.partwright.schemas.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
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
 * instance sees every change. Each poll's records are applied as one batch, so bootstrapping from a
 * compacted topic of thousands of partitions rebuilds each table's snapshot once per poll.
 */
public final class BoundaryFollower implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(BoundaryFollower.class);

  private final PartitionRouter router;
  private final KafkaConsumer<String, byte[]> consumer;
  private final RegistryAvroSerde<BoundaryChange> serde;
  private final AtomicBoolean running = new AtomicBoolean(true);
  private final Thread thread;
  private final Map<TopicPartition, Long> endAtStart;
  private final CountDownLatch caughtUp = new CountDownLatch(1);

  private BoundaryFollower(PartitionRouter router, String bootstrapServers, PartwrightSerdes serdes, String topic) {
    this.router = router;
    this.serde = serdes.serde(BoundaryChange.class);
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    // a long poll: the broker answers the moment a change arrives, so a shorter wait buys no latency
    // (measured: BoundaryLatencyBenchmark, 20 ms vs 500 ms) and costs every idle application instance
    // an empty fetch per wait
    p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 500);
    this.consumer = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
    List<TopicPartition> partitions = consumer.partitionsFor(topic, Duration.ofSeconds(30)).stream()
        .map(i -> new TopicPartition(topic, i.partition()))
        .toList();
    consumer.assign(partitions);
    consumer.seekToBeginning(partitions);
    this.endAtStart = consumer.endOffsets(partitions, Duration.ofSeconds(30));
    this.thread = new Thread(this::run, "partwright-router-" + topic);
    this.thread.setDaemon(true);
  }

  /**
   * Starts following {@code topic} into {@code router}; {@code serdes} read the topic's Confluent
   * wire format through the schema registry.
   */
  public static BoundaryFollower follow(PartitionRouter router, String bootstrapServers, PartwrightSerdes serdes,
      String topic) {
    BoundaryFollower follower = new BoundaryFollower(router, bootstrapServers, serdes, topic);
    follower.thread.start();
    return follower;
  }

  public static BoundaryFollower follow(PartitionRouter router, String bootstrapServers, PartwrightSerdes serdes) {
    return follow(router, bootstrapServers, serdes, Topics.BOUNDARIES);
  }

  /**
   * Waits until the router holds every change that was in the topic when following started (what an
   * application waits for before serving). Returns false on timeout.
   */
  public boolean awaitCaughtUp(Duration timeout) throws InterruptedException {
    return caughtUp.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
  }

  private void run() {
    try {
      checkCaughtUp();
      while (running.get()) {
        ConsumerRecords<String, byte[]> records = consumer.poll(Duration.ofMillis(200));
        if (!records.isEmpty()) {
          apply(records);
        }
        checkCaughtUp();
      }
    } catch (WakeupException e) {
      // closing
    } catch (RuntimeException e) {
      LOG.error("boundary follower stopped: {}", e.toString(), e);
    } finally {
      consumer.close();
    }
  }

  private void apply(ConsumerRecords<String, byte[]> records) {
    List<BoundaryChange> batch = new ArrayList<>(records.count());
    boolean registryDown = false;
    for (TopicPartition tp : records.partitions()) {
      for (ConsumerRecord<String, byte[]> r : records.records(tp)) {
        try {
          batch.add(serde.decode(r));
        } catch (PayloadException e) {
          LOG.warn("skipping undecodable boundary change: {}", e.getMessage());
        } catch (SchemaRegistryException e) {
          // not the record's fault: read it again later, skip nothing
          LOG.warn("schema registry unavailable for {}-{}@{}; retrying: {}", r.topic(), r.partition(), r.offset(),
              e.getMessage());
          consumer.seek(tp, r.offset());
          registryDown = true;
          break;
        }
      }
    }
    if (registryDown) {
      pause(Duration.ofSeconds(1));
    }
    try {
      router.applyAll(batch);
    } catch (RuntimeException batchFailure) {
      // one malformed change: re-apply one by one (idempotent) so only that one is skipped
      for (BoundaryChange change : batch) {
        try {
          router.apply(change);
        } catch (RuntimeException e) {
          LOG.warn("skipping boundary change {} of {}: {}", change.getAggregateVersion(), change.getAggregateId(), e.getMessage());
        }
      }
    }
  }

  private void pause(Duration d) {
    try {
      Thread.sleep(d.toMillis()); // backoff before asking an unavailable registry again
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      running.set(false);
    }
  }

  private void checkCaughtUp() {
    if (caughtUp.getCount() == 0) {
      return;
    }
    for (Map.Entry<TopicPartition, Long> e : endAtStart.entrySet()) {
      if (consumer.position(e.getKey()) < e.getValue()) {
        return;
      }
    }
    caughtUp.countDown();
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
