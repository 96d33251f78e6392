package dev.partwright.router;

import static dev.partwright.router.Changes.BY_TIME;
import static dev.partwright.router.Changes.hash;
import static dev.partwright.router.Changes.key;
import static dev.partwright.router.Changes.time;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.partwright.embedded.EmbeddedRedis;
import dev.partwright.schemas.PartitionAdded;
import dev.partwright.schemas.PartitionKey;
import dev.partwright.schemas.Strategy;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.io.JsonEncoder;
import org.apache.avro.specific.SpecificDatumWriter;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.RedisClient;

/**
 * {@link RedisBoundarySource} against a real redis-server holding the registry layout (written here
 * the way the registry sink's script writes it: map entry, version, map version, then the message).
 */
class RedisBoundarySourceTest {

  static final PartitionKey BY_DEVICE = key(Strategy.HASH, "device", "bigint");
  static EmbeddedRedis server;
  static RedisClient redis;
  static int run;

  @BeforeAll
  static void start() {
    server = EmbeddedRedis.start();
    redis = RedisClient.create(server.host(), server.port());
  }

  @AfterAll
  static void stop() {
    redis.close();
    server.close();
  }

  /** What the sink does for PartitionAdded. */
  static void put(String prefix, String root, long version, PartitionAdded added) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    JsonEncoder encoder = EncoderFactory.get().jsonEncoder(PartitionAdded.getClassSchema(), out);
    new SpecificDatumWriter<>(PartitionAdded.class).write(added, encoder);
    encoder.flush();
    redis.hset(prefix + ":{" + root + "}:partitions", added.getPartition(), out.toString(StandardCharsets.UTF_8));
    redis.hset(prefix + ":{" + root + "}:versions", added.getPartition(), Long.toString(version));
    redis.sadd(prefix + ":tables", root);
    redis.publish(prefix + ":boundaries", root + " " + redis.incr(prefix + ":{" + root + "}:version"));
  }

  /** What the sink does for PartitionRetired (subtree included). */
  static void remove(String prefix, String root, long version, String... partitions) {
    for (String p : partitions) {
      redis.hdel(prefix + ":{" + root + "}:partitions", p);
      redis.hset(prefix + ":{" + root + "}:versions", p, Long.toString(version));
    }
    redis.publish(prefix + ":boundaries", root + " " + redis.incr(prefix + ":{" + root + "}:version"));
  }

  static PartitionAdded month(String parent, String partition, int m, PartitionKey sub) {
    return new PartitionAdded(partition, parent, BY_TIME,
        time(String.format("2024-%02d-01T00:00:00Z", m), String.format("2024-%02d-01T00:00:00Z", m + 1)), sub);
  }

  @Test
  void bootstraps_a_composite_table_from_the_registry() throws IOException {
    String prefix = "boot" + (++run);
    put(prefix, "s.t", 1, new PartitionAdded("s.t_01_1", "s.t_01", BY_DEVICE, hash(2, 1), null)); // children may come first
    put(prefix, "s.t", 1, month("s.t", "s.t_01", 1, BY_DEVICE));
    put(prefix, "s.t", 1, new PartitionAdded("s.t_01_0", "s.t_01", BY_DEVICE, hash(2, 0), null));
    try (RedisBoundarySource source = RedisBoundarySource.connect(server.uri(), prefix)) {
      assertThat(source.tables()).containsExactly("s.t");
      assertThat(source.version("s.t")).isEqualTo(3);
      assertThat(source.load("s.t")).hasSize(3);
      PartitionRouter router = source.bootstrap(new PartitionRouter(), "s.t");
      assertThat(router.resolve("s.t", Map.of("created_at", Instant.parse("2024-01-05T00:00:00Z"), "device", 7L)))
          .isIn("s.t_01_0", "s.t_01_1");
    }
  }

  @Test
  void a_following_router_sees_additions_and_retirements() throws Exception {
    String prefix = "follow" + (++run);
    put(prefix, "s.e", 1, month("s.e", "s.e_01", 1, null));
    Instant feb = Instant.parse("2024-02-10T00:00:00Z");
    PartitionRouter router = new PartitionRouter();
    try (RedisBoundarySource source = RedisBoundarySource.connect(server.uri(), prefix);
        AutoCloseable following = source.follow(router, "s.e")) {
      assertThat(router.partitions("s.e")).containsExactly("s.e_01");
      put(prefix, "s.e", 2, month("s.e", "s.e_02", 2, null));
      await().atMost(Duration.ofSeconds(5)).until(() -> router.partitionCount("s.e") == 2);
      assertThat(router.resolve("s.e", feb)).isEqualTo("s.e_02");
      put(prefix, "s.other", 1, month("s.other", "s.other_01", 1, null)); // not followed
      remove(prefix, "s.e", 3, "s.e_01");
      await().atMost(Duration.ofSeconds(5)).until(() -> router.partitionCount("s.e") == 1);
      assertThatThrownBy(() -> router.resolve("s.e", Instant.parse("2024-01-10T00:00:00Z"))).isInstanceOf(PartitionNotFoundException.class);
      assertThat(router.partitionCount("s.other")).isZero();
    }
  }
}
