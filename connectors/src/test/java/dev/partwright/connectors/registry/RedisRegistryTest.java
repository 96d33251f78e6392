package dev.partwright.connectors.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.partwright.embedded.EmbeddedRedis;
import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.PartitionAdded;
import dev.partwright.schemas.PartitionKey;
import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.schemas.PartitionReplaced;
import dev.partwright.schemas.PartitionRetired;
import dev.partwright.schemas.RangeBound;
import dev.partwright.schemas.Strategy;
import dev.partwright.schemas.TimestampTzValue;
import dev.partwright.schemas.HashBound;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.specific.SpecificDatumReader;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.JedisPubSub;
import redis.clients.jedis.RedisClient;

/** The registry's Redis writes against a real redis-server: atomic map, versions, invalidation, retirement. */
class RedisRegistryTest {

  static final String ROOT = "public.events";
  static final PartitionKey BY_TIME = new PartitionKey(Strategy.RANGE, List.of("created_at"), List.of("timestamp with time zone"));
  static final PartitionKey BY_DEVICE = new PartitionKey(Strategy.HASH, List.of("device"), List.of("bigint"));

  static EmbeddedRedis server;
  RedisClient redis;
  RedisRegistry registry;
  String prefix;
  static int run;

  @BeforeAll
  static void start() {
    PartwrightSerdes.trustContracts(); // makes Avro 1.12 trust the contract classes for decode() below
    server = EmbeddedRedis.start();
  }

  @AfterAll
  static void stop() {
    server.close();
  }

  @BeforeEach
  void client() {
    redis = RedisClient.create(server.host(), server.port());
    prefix = "test" + (++run);
    registry = new RedisRegistry(redis, prefix);
  }

  static BoundaryChange change(long version, Object change) {
    return BoundaryChange.newBuilder().setAggregateId("acme/" + ROOT).setAggregateVersion(version).setRootTable(ROOT)
        .setChangedAt(Instant.parse("2024-01-01T00:00:00Z")).setChange(change).build();
  }

  static BoundaryChange added(long version, String parent, String partition, PartitionKey key, Object bound, PartitionKey sub) {
    return change(version, new PartitionAdded(partition, parent, key, bound, sub));
  }

  static RangeBound month(int m) {
    return new RangeBound(List.of(new TimestampTzValue(Instant.parse(String.format("2024-%02d-01T00:00:00Z", m)))),
        List.of(new TimestampTzValue(Instant.parse(String.format("2024-%02d-01T00:00:00Z", m + 1)))));
  }

  Map<String, String> partitions() {
    return redis.hgetAll(RedisRegistry.partitionsKey(prefix, ROOT));
  }

  long mapVersion() {
    String v = redis.get(RedisRegistry.versionKey(prefix, ROOT));
    return v == null ? 0 : Long.parseLong(v);
  }

  static PartitionAdded decode(String json) throws IOException {
    return new SpecificDatumReader<>(PartitionAdded.class).read(null, DecoderFactory.get().jsonDecoder(PartitionAdded.getClassSchema(), json));
  }

  @Test
  void the_map_holds_every_level_as_the_worker_published_it() throws IOException {
    BoundaryChange jan = added(1, ROOT, "public.events_01", BY_TIME, month(1), BY_DEVICE);
    assertThat(registry.apply(jan)).isTrue();
    assertThat(registry.apply(added(2, "public.events_01", "public.events_01_0", BY_DEVICE, new HashBound(2, 0), null))).isTrue();
    Map<String, String> map = partitions();
    assertThat(map).containsOnlyKeys("public.events_01", "public.events_01_0");
    assertThat(decode(map.get("public.events_01"))).isEqualTo(jan.getChange());
    assertThat(redis.hget(RedisRegistry.versionsKey(prefix, ROOT), "public.events_01_0")).isEqualTo("2");
    assertThat(mapVersion()).isEqualTo(2);
    assertThat(redis.smembers(RedisRegistry.tablesKey(prefix))).containsExactly(ROOT);
  }

  @Test
  void redelivery_and_stale_changes_change_nothing() {
    BoundaryChange jan = added(3, ROOT, "public.events_01", BY_TIME, month(1), null);
    assertThat(registry.apply(jan)).isTrue();
    assertThat(registry.apply(jan)).isFalse();
    assertThat(registry.apply(added(2, ROOT, "public.events_01", BY_TIME, month(2), null))).isFalse();
    assertThat(mapVersion()).isEqualTo(1);
    assertThat(registry.apply(change(5, new PartitionRetired("public.events_01", ROOT)))).isTrue();
    // the add arrives again after the retirement: the tombstone version keeps it out
    assertThat(registry.apply(jan)).isFalse();
    assertThat(partitions()).isEmpty();
  }

  @Test
  void a_retired_partition_leaves_with_its_subtree() {
    registry.apply(added(1, ROOT, "public.events_01", BY_TIME, month(1), BY_DEVICE));
    registry.apply(added(1, "public.events_01", "public.events_01_0", BY_DEVICE, new HashBound(2, 0), null));
    registry.apply(added(1, "public.events_01", "public.events_01_1", BY_DEVICE, new HashBound(2, 1), null));
    registry.apply(added(1, ROOT, "public.events_02", BY_TIME, month(2), null));
    assertThat(registry.apply(change(2, new PartitionRetired("public.events_01", ROOT)))).isTrue();
    assertThat(partitions()).containsOnlyKeys("public.events_02");
    assertThat(redis.hget(RedisRegistry.versionsKey(prefix, ROOT), "public.events_01_1")).isEqualTo("2");
  }

  @Test
  void every_applied_change_publishes_an_invalidation() {
    List<String> messages = new CopyOnWriteArrayList<>();
    JedisPubSub listener = new JedisPubSub() {
      @Override
      public void onMessage(String channel, String message) {
        messages.add(message);
      }
    };
    Thread subscriber = new Thread(() -> redis.subscribe(listener, RedisRegistry.channel(prefix)));
    subscriber.start();
    try {
      await().atMost(Duration.ofSeconds(5)).until(listener::isSubscribed);
      BoundaryChange jan = added(1, ROOT, "public.events_01", BY_TIME, month(1), null);
      registry.apply(jan);
      registry.apply(jan); // re-delivery: no message
      registry.apply(change(2, new PartitionReplaced("public.events_01", "public.events_01b", ROOT, BY_TIME, month(1))));
      await().atMost(Duration.ofSeconds(5)).until(() -> messages.size() >= 2);
      assertThat(messages).containsExactly(ROOT + " 1", ROOT + " 2");
      assertThat(partitions()).containsOnlyKeys("public.events_01b");
    } finally {
      listener.unsubscribe();
    }
  }

  @Test
  void readers_never_see_a_half_applied_replacement() throws Exception {
    registry.apply(added(1, ROOT, "public.events_a", BY_TIME, month(1), null));
    AtomicBoolean running = new AtomicBoolean(true);
    AtomicInteger snapshots = new AtomicInteger();
    List<String> torn = new CopyOnWriteArrayList<>();
    Thread reader = new Thread(() -> {
      try (RedisClient other = RedisClient.create(server.host(), server.port())) {
        while (running.get()) {
          Map<String, String> map = other.hgetAll(RedisRegistry.partitionsKey(prefix, ROOT));
          if (map.size() != 1) {
            torn.add(map.keySet().toString());
          }
          snapshots.incrementAndGet();
        }
      }
    });
    reader.start();
    try {
      for (int v = 2; v < 400; v++) {
        String from = v % 2 == 0 ? "public.events_a" : "public.events_b";
        String to = v % 2 == 0 ? "public.events_b" : "public.events_a";
        assertThat(registry.apply(change(v, new PartitionReplaced(from, to, ROOT, BY_TIME, month(1))))).isTrue();
      }
    } finally {
      running.set(false);
      reader.join();
    }
    assertThat(snapshots.get()).isPositive();
    assertThat(torn).isEmpty();
  }
}
