package dev.partwright.connectors.registry;

import static dev.partwright.connectors.registry.RedisRegistryTest.BY_DEVICE;
import static dev.partwright.connectors.registry.RedisRegistryTest.BY_TIME;
import static dev.partwright.connectors.registry.RedisRegistryTest.ROOT;
import static dev.partwright.connectors.registry.RedisRegistryTest.added;
import static dev.partwright.connectors.registry.RedisRegistryTest.change;
import static dev.partwright.connectors.registry.RedisRegistryTest.month;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.partwright.embedded.EmbeddedRedis;
import dev.partwright.embedded.Servers;
import dev.partwright.router.PartitionNotFoundException;
import dev.partwright.router.PartitionRouter;
import dev.partwright.router.RedisBoundarySource;
import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.DefaultBound;
import dev.partwright.schemas.HashBound;
import dev.partwright.schemas.PartitionAdded;
import dev.partwright.schemas.PartitionReplaced;
import dev.partwright.schemas.PartitionRetired;
import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.schemas.SchemaRegistryConfig;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiFunction;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.RedisClient;

/**
 * The metadata registry end to end: boundary changes on a real topic, {@link RedisRegistrySink} into
 * a real redis-server, and a router in another "application" that reads only Redis, through the
 * router module's {@link RedisBoundarySource}. (This test lives in connectors because connectors'
 * tests may see the router; the router never sees connectors.) Invariant 6 with a real worker and
 * PostgreSQL is {@code RegistryNoOrphansTest}.
 */
class RegistryRoundTripTest {

  static final String MARKER_ROOT = "public.marker";
  static final Instant JAN = Instant.parse("2024-01-15T00:00:00Z");
  static final Instant FEB = Instant.parse("2024-02-15T00:00:00Z");
  static final Instant MAR = Instant.parse("2024-03-15T00:00:00Z");

  /** The topics' wire format: the Confluent format through the real schema registry. */
  static PartwrightSerdes serdes;
  static BiFunction<String, BoundaryChange, byte[]> encode;

  static EmbeddedRedis server;
  static RedisClient redis;
  static KafkaProducer<String, byte[]> producer;
  static int run;

  String topic;
  String prefix;
  RegistrySinkConfig config;
  RedisRegistrySink sink;
  int markers;

  @BeforeAll
  static void start() {
    serdes = PartwrightSerdes.create(SchemaRegistryConfig.of(Servers.schemaRegistry().url()));
    encode = serdes.serde(BoundaryChange.class)::encode;
    server = EmbeddedRedis.start();
    redis = RedisClient.create(server.host(), server.port());
    producer = new KafkaProducer<>(Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, Servers.kafka().bootstrapServers(),
        ProducerConfig.LINGER_MS_CONFIG, 0), new StringSerializer(), new ByteArraySerializer());
  }

  @AfterAll
  static void stop() {
    producer.close();
    redis.close();
    server.close();
  }

  @BeforeEach
  void sink() throws Exception {
    topic = "registry-round-trip-" + UUID.randomUUID();
    // one partition: the marker (another root table) is then ordered after everything sent before it
    try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, Servers.kafka().bootstrapServers()))) {
      admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get();
    }
    prefix = "rt" + (++run);
    config = new RegistrySinkConfig(Servers.kafka().bootstrapServers(), topic, "sink-" + topic, server.uri(), prefix,
        Duration.ofMillis(200));
    sink = RedisRegistrySink.start(config, serdes);
  }

  @AfterEach
  void closeSink() {
    sink.close();
  }

  void publish(List<BoundaryChange> changes) throws Exception {
    for (BoundaryChange c : changes) {
      producer.send(new ProducerRecord<>(topic, c.getRootTable(), encode.apply(topic, c)));
    }
    producer.flush();
  }

  /** Publishes a change of another root table and waits until Redis has it: everything sent before is applied. */
  void awaitSinkPassed() throws Exception {
    String name = "public.marker_" + (++markers);
    publish(List.of(BoundaryChange.newBuilder().setAggregateId("*/" + MARKER_ROOT).setAggregateVersion(markers)
        .setRootTable(MARKER_ROOT).setChangedAt(Instant.now())
        .setChange(new PartitionAdded(name, MARKER_ROOT, BY_TIME, month(markers % 11 + 1), null)).build()));
    await().atMost(Duration.ofSeconds(30)).until(() -> redis.hexists(RedisRegistry.partitionsKey(prefix, MARKER_ROOT), name));
  }

  static List<BoundaryChange> composite() {
    return List.of(
        added(1, ROOT, "public.events_01", BY_TIME, month(1), null),
        added(2, ROOT, "public.events_02", BY_TIME, month(2), BY_DEVICE),
        added(3, "public.events_02", "public.events_02_0", BY_DEVICE, new HashBound(2, 0), null),
        added(4, "public.events_02", "public.events_02_1", BY_DEVICE, new HashBound(2, 1), null),
        added(5, ROOT, "public.events_default", BY_TIME, new DefaultBound(), null));
  }

  @Test
  void a_router_bootstrapped_from_redis_routes_as_one_fed_by_the_topic() throws Exception {
    List<BoundaryChange> changes = composite();
    publish(changes);
    awaitSinkPassed();
    PartitionRouter direct = new PartitionRouter();
    direct.applyAll(changes);
    try (RedisBoundarySource source = RedisBoundarySource.connect(server.uri(), prefix)) {
      assertThat(source.tables()).containsExactlyInAnyOrder(ROOT, MARKER_ROOT);
      assertThat(source.version(ROOT)).isEqualTo(5);
      PartitionRouter fromRedis = source.bootstrap(new PartitionRouter(), ROOT);
      assertThat(fromRedis.partitions(ROOT)).isEqualTo(direct.partitions(ROOT));
      assertThat(fromRedis.partitions("public.events_02")).isEqualTo(direct.partitions("public.events_02"));
      SplittableRandom random = new SplittableRandom(7);
      long from = Instant.parse("2023-12-01T00:00:00Z").getEpochSecond();
      long to = Instant.parse("2024-04-01T00:00:00Z").getEpochSecond();
      Set<String> seen = new TreeSet<>();
      for (int i = 0; i < 2_000; i++) {
        Map<String, Object> row = Map.of("created_at", Instant.ofEpochSecond(random.nextLong(from, to)), "device", random.nextLong());
        String expected = direct.resolve(ROOT, row);
        assertThat(fromRedis.resolve(ROOT, row)).as("row %s", row).isEqualTo(expected);
        seen.add(expected);
      }
      assertThat(seen).containsExactly("public.events_01", "public.events_02_0", "public.events_02_1", "public.events_default");
    }
  }

  @Test
  void a_following_router_sees_a_partition_added_later_and_loses_a_retired_one_without_restart() throws Exception {
    publish(List.of(added(1, ROOT, "public.events_01", BY_TIME, month(1), null)));
    awaitSinkPassed();
    PartitionRouter router = new PartitionRouter(PartitionRouter.WhenUncovered.THROW);
    List<BoundaryChange> heard = new CopyOnWriteArrayList<>();
    router.addListener(heard::add);
    try (RedisBoundarySource source = RedisBoundarySource.connect(server.uri(), prefix);
        AutoCloseable following = source.follow(router, ROOT)) {
      assertThat(router.resolve(ROOT, JAN)).isEqualTo("public.events_01");
      assertThatThrownBy(() -> router.resolve(ROOT, FEB)).isInstanceOf(PartitionNotFoundException.class);

      publish(List.of(added(2, ROOT, "public.events_02", BY_TIME, month(2), null)));
      await().atMost(Duration.ofSeconds(10)).until(() -> "public.events_02".equals(resolveOrNull(router, FEB)));

      publish(List.of(change(3, new PartitionRetired("public.events_01", ROOT))));
      await().atMost(Duration.ofSeconds(10)).until(() -> router.partitionCount(ROOT) == 1);
      assertThatThrownBy(() -> router.resolve(ROOT, JAN)).isInstanceOfSatisfying(PartitionNotFoundException.class,
          e -> assertThat(e.nearestCoveredRange()).startsWith("public.events_02 FROM"));
      assertThat(router.partitions(ROOT)).containsExactly("public.events_02");

      // a replacement (same range, new table) swaps the name in one change
      publish(List.of(change(4, new PartitionReplaced("public.events_02", "public.events_02_v2", ROOT, BY_TIME, month(2)))));
      await().atMost(Duration.ofSeconds(10)).until(() -> "public.events_02_v2".equals(resolveOrNull(router, FEB)));
      assertThat(router.partitions(ROOT)).containsExactly("public.events_02_v2");
      // listeners (cache invalidation in the application) heard the addition and the retirement
      assertThat(heard).extracting(c -> c.getChange().getClass().getSimpleName())
          .containsSubsequence("PartitionAdded", "PartitionAdded", "PartitionRetired", "PartitionAdded");
    }
  }

  @Test
  void re_delivered_changes_leave_map_versions_and_followers_unchanged() throws Exception {
    List<BoundaryChange> changes = new ArrayList<>(composite());
    changes.add(change(6, new PartitionRetired("public.events_01", ROOT)));
    publish(changes);
    awaitSinkPassed();
    Map<String, String> map = redis.hgetAll(RedisRegistry.partitionsKey(prefix, ROOT));
    Map<String, String> versions = redis.hgetAll(RedisRegistry.versionsKey(prefix, ROOT));
    String version = redis.get(RedisRegistry.versionKey(prefix, ROOT));
    assertThat(map).containsOnlyKeys("public.events_02", "public.events_02_0", "public.events_02_1", "public.events_default");
    assertThat(version).isEqualTo("6");

    PartitionRouter router = new PartitionRouter();
    AtomicInteger heard = new AtomicInteger();
    try (RedisBoundarySource source = RedisBoundarySource.connect(server.uri(), prefix);
        AutoCloseable following = source.follow(router, ROOT)) {
      router.addListener(c -> heard.incrementAndGet());
      List<String> before = router.partitions(ROOT);

      // a producer retry: the same changes again, the retired partition's addition included
      publish(changes);
      awaitSinkPassed();
      // a replay: a sink of a new group reads the whole topic again from the beginning
      sink.close();
      sink = RedisRegistrySink.start(new RegistrySinkConfig(config.bootstrapServers(), topic, "replay-" + topic,
          config.redisUri(), prefix, config.retryBackoff()), serdes);
      awaitSinkPassed();

      assertThat(sink.applied()).as("changes the replaying sink applied besides the marker").isEqualTo(1);
      assertThat(redis.hgetAll(RedisRegistry.partitionsKey(prefix, ROOT))).isEqualTo(map);
      assertThat(redis.hgetAll(RedisRegistry.versionsKey(prefix, ROOT))).isEqualTo(versions);
      assertThat(redis.get(RedisRegistry.versionKey(prefix, ROOT))).as("map version").isEqualTo(version);
      assertThat(router.partitions(ROOT)).isEqualTo(before);
      assertThat(heard.get()).as("changes the following router applied").isZero();
    }
  }

  @Test
  void readers_never_see_a_half_written_map_while_200_partitions_come_and_go() throws Exception {
    int n = 200;
    String parent = "public.events_03";
    List<String> children = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      children.add(parent + "_" + i);
    }
    publish(List.of(added(1, ROOT, "public.events_01", BY_TIME, month(1), null)));
    awaitSinkPassed();
    Set<String> base = Set.of("public.events_01");

    PartitionRouter router = new PartitionRouter();
    AtomicBoolean running = new AtomicBoolean(true);
    List<String> torn = new CopyOnWriteArrayList<>();
    AtomicInteger redisReads = new AtomicInteger();
    AtomicInteger routerReads = new AtomicInteger();
    Set<Integer> sizesSeen = java.util.concurrent.ConcurrentHashMap.newKeySet();
    try (RedisBoundarySource source = RedisBoundarySource.connect(server.uri(), prefix);
        RedisBoundarySource readerSource = RedisBoundarySource.connect(server.uri(), prefix);
        AutoCloseable following = source.follow(router, ROOT)) {
      // every observed map must be one of the complete versions the sink wrote: the base, the parent
      // with its first k sub-partitions (each change is one script), or the base again after the
      // parent's retirement took all 201 entries out in one script
      Thread redisReader = new Thread(() -> {
        while (running.get()) {
          Set<String> names = new HashSet<>();
          for (BoundaryChange c : readerSource.load(ROOT)) {
            names.add(((PartitionAdded) c.getChange()).getPartition());
          }
          check(names, base, parent, children, torn, "redis");
          sizesSeen.add(names.size());
          redisReads.incrementAndGet();
        }
      }, "redis-reader");
      Thread routerReader = new Thread(() -> {
        while (running.get()) {
          // the router publishes per level; a level's own list is one immutable snapshot
          List<String> top = router.partitions(ROOT);
          List<String> below = router.partitions(parent);
          Set<String> names = new HashSet<>(top);
          if (top.contains(parent)) {
            names.addAll(below);
          }
          check(names, base, parent, children, torn, "router");
          routerReads.incrementAndGet();
        }
      }, "router-reader");
      redisReader.start();
      routerReader.start();
      try {
        long version = 10;
        for (int round = 0; round < 3; round++) {
          List<BoundaryChange> changes = new ArrayList<>();
          changes.add(added(++version, ROOT, parent, BY_TIME, month(3), BY_DEVICE));
          for (int i = 0; i < n; i++) {
            changes.add(added(++version, parent, children.get(i), BY_DEVICE, new HashBound(n, i), null));
          }
          publish(changes);
          await().atMost(Duration.ofSeconds(30)).until(() -> router.partitionCount(parent) == n);
          assertThat(router.resolve(ROOT, Map.of("created_at", MAR, "device", 42L))).startsWith(parent + "_");
          publish(List.of(change(++version, new PartitionRetired(parent, ROOT))));
          await().atMost(Duration.ofSeconds(30)).until(() -> router.partitionCount(ROOT) == 1);
          assertThat(redis.hgetAll(RedisRegistry.partitionsKey(prefix, ROOT))).containsOnlyKeys(base);
        }
      } finally {
        running.set(false);
        redisReader.join(10_000);
        routerReader.join(10_000);
      }
    }
    assertThat(torn).as("maps no complete version had").isEmpty();
    assertThat(redisReads.get()).isGreaterThan(10);
    assertThat(routerReads.get()).isGreaterThan(10);
    assertThat(sizesSeen).as("the reader saw the map between versions, not only at its ends").hasSizeGreaterThan(2);
  }

  /** Records {@code names} unless it is the base, or the base plus the parent and its first k children. */
  private static void check(Set<String> names, Set<String> base, String parent, List<String> children, List<String> torn,
      String where) {
    Set<String> rest = new HashSet<>(names);
    if (!rest.containsAll(base)) {
      torn.add(where + " lost the base: " + new TreeSet<>(names));
      return;
    }
    rest.removeAll(base);
    if (rest.isEmpty()) {
      return;
    }
    if (!rest.remove(parent)) {
      torn.add(where + " has sub-partitions without their parent: " + rest.size());
      return;
    }
    int k = rest.size();
    if (k > children.size() || !rest.equals(new HashSet<>(children.subList(0, k)))) {
      torn.add(where + " has " + k + " sub-partitions that are not the first " + k + " applied");
    }
  }

  private static String resolveOrNull(PartitionRouter router, Instant t) {
    try {
      return router.resolve(ROOT, t);
    } catch (PartitionNotFoundException e) {
      return null;
    }
  }
}
