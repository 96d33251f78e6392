package dev.partwright.connectors.registry;

import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.schemas.PayloadException;
import dev.partwright.schemas.RegistryAvroSerde;
import dev.partwright.schemas.SchemaRegistryException;
import java.net.URI;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import redis.clients.jedis.RedisClient;

/**
 * Follows the boundary topic into the {@link RedisRegistry}, so services that do not read Kafka see
 * the same boundaries. A consumer group: each root table (the record key) is owned by one instance, so
 * its changes apply in order. Offsets are committed only after Redis has applied the records (at least
 * once); the registry's per-partition versions make a re-delivered change a no-op. A change Redis
 * refuses is retried from its offset after {@link RegistrySinkConfig#retryBackoff()}; an undecodable
 * record is skipped and logged.
 */
public final class RedisRegistrySink implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(RedisRegistrySink.class);

  private final RegistrySinkConfig config;
  private final RedisRegistry registry;
  private final KafkaConsumer<String, byte[]> consumer;
  private final RegistryAvroSerde<BoundaryChange> serde;
  private final AtomicBoolean running = new AtomicBoolean(true);
  private final AtomicLong applied = new AtomicLong();
  private final Thread thread;

  private RedisRegistrySink(RegistrySinkConfig config, PartwrightSerdes serdes) {
    this.config = config;
    this.serde = serdes.serde(BoundaryChange.class);
    this.registry = new RedisRegistry(RedisClient.create(URI.create(config.redisUri())), config.prefix());
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
    p.put(ConsumerConfig.GROUP_ID_CONFIG, config.groupId());
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 50);
    this.consumer = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
    this.thread = new Thread(this::run, "partwright-registry-sink");
    this.thread.setDaemon(true);
  }

  /** Starts following the boundary topic on a daemon thread. */
  public static RedisRegistrySink start(RegistrySinkConfig config, PartwrightSerdes serdes) {
    RedisRegistrySink sink = new RedisRegistrySink(config, serdes);
    sink.consumer.subscribe(List.of(config.boundariesTopic()));
    sink.thread.start();
    return sink;
  }

  /** How many changes this instance has applied to Redis (stale ones not counted). */
  public long applied() {
    return applied.get();
  }

  private void run() {
    try {
      while (running.get()) {
        ConsumerRecords<String, byte[]> records = consumer.poll(Duration.ofMillis(200));
        if (!records.isEmpty() && !apply(records)) {
          sleep(config.retryBackoff());
        }
      }
    } catch (WakeupException e) {
      // closing
    } finally {
      consumer.close();
      registry.close();
    }
  }

  /** Applies and commits what it can; on a Redis failure rewinds to the first unapplied record. */
  private boolean apply(ConsumerRecords<String, byte[]> records) {
    Map<TopicPartition, OffsetAndMetadata> done = new HashMap<>();
    boolean ok = true;
    for (TopicPartition tp : records.partitions()) {
      for (ConsumerRecord<String, byte[]> r : records.records(tp)) {
        BoundaryChange change;
        try {
          change = serde.decode(r);
        } catch (PayloadException e) {
          LOG.warn("skipping undecodable boundary change: {}", e.getMessage());
          done.put(tp, new OffsetAndMetadata(r.offset() + 1));
          continue;
        } catch (SchemaRegistryException e) { // not the record's fault: retried, never skipped
          LOG.warn("schema registry unavailable for {}-{}@{} ({}); retrying in {}", r.topic(), r.partition(), r.offset(),
              e.getMessage(), config.retryBackoff());
          consumer.seek(tp, r.offset());
          ok = false;
          break;
        }
        try {
          if (registry.apply(change)) {
            applied.incrementAndGet();
          }
          done.put(tp, new OffsetAndMetadata(r.offset() + 1));
        } catch (RuntimeException e) {
          LOG.warn("registry refused boundary change {}-{}@{} ({}); retrying in {}", r.topic(), r.partition(), r.offset(),
              e.getMessage(), config.retryBackoff());
          consumer.seek(tp, r.offset());
          ok = false;
          break;
        }
      }
    }
    if (!done.isEmpty()) {
      consumer.commitSync(done);
    }
    return ok;
  }

  private void sleep(Duration d) {
    try {
      Thread.sleep(d.toMillis()); // backoff before retrying a refused write
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      running.set(false);
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
