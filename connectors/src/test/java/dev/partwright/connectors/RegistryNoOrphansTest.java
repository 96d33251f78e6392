package dev.partwright.connectors;

import static dev.partwright.connectors.Commands.provision;
import static dev.partwright.connectors.Commands.retire;
import static dev.partwright.connectors.Commands.spec;
import static dev.partwright.connectors.Commands.time;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.partwright.connectors.postgres.PartitionProvisioner;
import dev.partwright.connectors.registry.RedisRegistry;
import dev.partwright.connectors.registry.RedisRegistrySink;
import dev.partwright.connectors.registry.RegistrySinkConfig;
import dev.partwright.embedded.EmbeddedRedis;
import dev.partwright.router.PartitionNotFoundException;
import dev.partwright.router.PartitionRouter;
import dev.partwright.router.RedisBoundarySource;
import dev.partwright.schemas.Failed;
import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.Provisioned;
import dev.partwright.schemas.RetirePartitions;
import dev.partwright.schemas.Retired;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.RedisClient;

/**
 * Invariant 6 for the metadata registry, with the real pipeline's far end: a worker provisioning on
 * PostgreSQL and announcing on its boundary topic, the registry sink writing Redis, and a router
 * bootstrapped from Redis alone. After a provisioning, a verification failure that rolls its
 * transaction back (never committed, never announced) and a retirement, the registry holds exactly the partitions {@code pg_inherits}
 * has, the retired one is gone, and the Redis-fed router puts rows where PostgreSQL's tuple routing does.
 */
class RegistryNoOrphansTest {

  private static final Instant DAY0 = Instant.parse("2026-10-01T00:00:00Z");

  private static Object day(int d) {
    Instant from = DAY0.plus(Duration.ofDays(d));
    return time(from, from.plus(Duration.ofDays(1)));
  }

  @Test
  void the_registry_never_holds_a_boundary_the_database_lacks() throws Exception {
    try (TestSchema db = TestSchema.create("registry");
        EmbeddedRedis server = EmbeddedRedis.start();
        RedisClient redis = RedisClient.create(server.host(), server.port());
        WorkerFixture kafka = new WorkerFixture("registry")) {
      db.exec("CREATE TABLE ${s}.events (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts)",
          "CREATE INDEX events_ts ON ${s}.events (ts)");
      String parent = db.q("events");
      String aggregate = "*/" + parent;
      String broken = db.q("events_p3");
      // what a failed index build looks like to the catalog, for one partition only
      PartitionProvisioner provisioner = db.provisioner(TestSchema.fastLimits(), (step, partition, c) -> {
        // inside the attaching transaction, before verification
        if (step == PartitionProvisioner.Step.ATTACHED && partition.toString().equals(broken)) {
          try (Statement s = c.createStatement()) {
            s.execute("UPDATE pg_index SET indisvalid = false WHERE indrelid = '" + broken + "'::regclass");
          }
        }
      });
      kafka.start(kafka.config(TestSchema.fastLimits()), provisioner, new SimpleMeterRegistry());
      String prefix = "inv6";
      try (RedisRegistrySink sink = RedisRegistrySink.start(new RegistrySinkConfig(kafka.kafka.bootstrapServers(),
          kafka.boundaries, "registry-" + kafka.boundaries, server.uri(), prefix, Duration.ofMillis(200)),
          WorkerFixture.serdes())) {
        var outcomes = kafka.outcomes(Object.class);

        ProvisionPartitions three = provision(aggregate, spec(parent, db.name, "events_p0", day(0)),
            spec(parent, db.name, "events_p1", day(1)), spec(parent, db.name, "events_p2", day(2)));
        kafka.send(aggregate, three);
        outcomes.first(o -> o instanceof Provisioned p && p.getIdempotencyKey().equals(three.getHeader().getIdempotencyKey()),
            Duration.ofSeconds(60));
        ProvisionPartitions fourth = provision(aggregate, spec(parent, db.name, "events_p3", day(3)));
        kafka.send(aggregate, fourth);
        outcomes.first(o -> o instanceof Failed f && f.getIdempotencyKey().equals(fourth.getHeader().getIdempotencyKey())
            && f.getCreated().isEmpty() && f.getReason().contains(broken), Duration.ofSeconds(60));
        RetirePartitions retirement = retire(aggregate, null, db.q("events_p0"));
        kafka.send(aggregate, retirement);
        // a retirement is answered with Retired (h-store), no longer with RolledBack
        outcomes.first(o -> o instanceof Retired r
            && r.getIdempotencyKey().equals(retirement.getHeader().getIdempotencyKey()), Duration.ofSeconds(60));

        Set<String> inDatabase = children(db, parent);
        assertThat(inDatabase).containsExactly(db.q("events_p1"), db.q("events_p2"));
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
            assertThat(new TreeSet<>(redis.hgetAll(RedisRegistry.partitionsKey(prefix, parent)).keySet()))
                .as("the registry's map of %s", parent).isEqualTo(inDatabase));

        try (RedisBoundarySource source = RedisBoundarySource.connect(server.uri(), prefix)) {
          PartitionRouter router = source.bootstrap(new PartitionRouter(), parent);
          assertThat(router.partitions(parent)).containsExactly(db.q("events_p1"), db.q("events_p2"));
          for (int hour = 24; hour < 72; hour += 5) {
            Instant t = DAY0.plus(Duration.ofHours(hour));
            assertThat(router.resolve(parent, t)).as("row at %s", t).isEqualTo(whereRowGoes(db, parent, t));
          }
          for (int d : new int[] {0, 3}) { // retired, and rolled back: neither may be routed to
            Instant t = DAY0.plus(Duration.ofDays(d)).plusSeconds(60);
            assertThat(resolveOrNull(router, parent, t)).as("day %d", d).isNull();
          }
        }
      }
    }
  }

  private static Set<String> children(TestSchema db, String parent) throws Exception {
    return new TreeSet<>(db.rows("SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = '" + parent + "'::regclass"));
  }

  /** PostgreSQL's answer: insert in a transaction that is rolled back, read tableoid. */
  private static String whereRowGoes(TestSchema db, String parent, Instant t) throws Exception {
    try (Connection c = db.postgres.dataSource().getConnection()) {
      c.setAutoCommit(false);
      try (Statement s = c.createStatement();
          ResultSet rs = s.executeQuery("INSERT INTO " + parent + " VALUES ('" + t + "', 1) RETURNING tableoid::regclass::text")) {
        rs.next();
        return rs.getString(1);
      } finally {
        c.rollback();
      }
    }
  }

  private static String resolveOrNull(PartitionRouter router, String table, Instant t) {
    try {
      return router.resolve(table, t);
    } catch (PartitionNotFoundException e) {
      return null;
    }
  }
}
