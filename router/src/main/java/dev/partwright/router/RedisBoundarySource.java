package dev.partwright.router;

import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.PartitionAdded;
import dev.partwright.schemas.PartitionRetired;
import dev.partwright.schemas.PartwrightSerdes;
import java.io.IOException;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.specific.SpecificDatumReader;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import redis.clients.jedis.JedisPubSub;
import redis.clients.jedis.RedisClient;

/**
 * Bootstraps and follows a {@link PartitionRouter} from the metadata registry in Redis, for
 * applications without Kafka access. Reads the layout the registry sink writes (version 1, see
 * {@code dev.partwright.connectors.registry.RedisRegistry}): per root table a hash of partitions
 * ({@code PartitionAdded} as Avro JSON) and a hash of their aggregate versions, read together in one
 * script so the pair is consistent; and an invalidation channel that names the table after each change.
 *
 * <p>Following subscribes first, then loads, so no change falls between the two; every invalidation
 * (and every re-subscription after a lost connection) reconciles the table: partitions new or changed
 * in Redis are applied as added, partitions gone from Redis as retired, each with the version Redis
 * holds for it, so the router's own stale-change check applies. Needs {@code redis.clients:jedis} on
 * the classpath (an optional dependency of the router).
 */
public final class RedisBoundarySource implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(RedisBoundarySource.class);

  static {
    PartwrightSerdes.trustContracts(); // Avro 1.12 instantiates only trusted classes
  }

  public static final String DEFAULT_PREFIX = "partwright";

  private static final String READ = "return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}";

  private final RedisClient redis;
  private final String uri;
  private final String prefix;
  private final List<Following> following = new ArrayList<>();

  private RedisBoundarySource(RedisClient redis, String uri, String prefix) {
    this.redis = redis;
    this.uri = uri;
    this.prefix = prefix;
  }

  /** The registry at {@code redis://host:port} with the default key prefix. */
  public static RedisBoundarySource connect(String redisUri) {
    return connect(redisUri, DEFAULT_PREFIX);
  }

  public static RedisBoundarySource connect(String redisUri, String prefix) {
    return new RedisBoundarySource(RedisClient.create(URI.create(redisUri)), redisUri, prefix);
  }

  /** The root tables the registry holds. */
  public List<String> tables() {
    return redis.smembers(prefix + ":tables").stream().sorted().toList();
  }

  /** The registry's version of {@code table}'s map (0 when it holds none): it grows with every change. */
  public long version(String table) {
    String v = redis.get(prefix + ":{" + table + "}:version");
    return v == null ? 0 : Long.parseLong(v);
  }

  /** The registry's partitions of {@code table} as boundary changes, parents before their sub-partitions. */
  public List<BoundaryChange> load(String table) {
    return changes(table, read(table), Map.of());
  }

  /** Applies the registry's boundaries of {@code tables} to {@code router}; returns the router. */
  public PartitionRouter bootstrap(PartitionRouter router, String... tables) {
    List<BoundaryChange> all = new ArrayList<>();
    for (String table : tables) {
      all.addAll(load(table));
    }
    router.applyAll(all);
    return router;
  }

  /**
   * Loads {@code tables} into {@code router} and keeps it current until the returned handle (or this
   * source) is closed. Returns once subscribed and loaded.
   *
   * @throws BoundarySourceException when the subscription is not up within 10 seconds
   */
  public AutoCloseable follow(PartitionRouter router, String... tables) throws InterruptedException {
    Following f = new Following(router, Set.of(tables));
    f.thread.start();
    if (!f.ready.await(10, TimeUnit.SECONDS)) {
      f.close();
      throw new BoundarySourceException(uri, String.join(",", tables), "could not subscribe to " + prefix + ":boundaries", null);
    }
    synchronized (following) {
      following.add(f);
    }
    return f;
  }

  /** The partitions hash and the versions hash of one table, read atomically. */
  private record Snapshot(Map<String, String> partitions, Map<String, Long> versions) {}

  @SuppressWarnings("unchecked")
  private Snapshot read(String table) {
    List<Object> both = (List<Object>) redis.eval(READ,
        List.of(prefix + ":{" + table + "}:partitions", prefix + ":{" + table + "}:versions"), List.of());
    return new Snapshot(pairs((List<Object>) both.get(0)), longs(pairs((List<Object>) both.get(1))));
  }

  private static Map<String, String> pairs(List<Object> flat) {
    Map<String, String> out = new HashMap<>();
    for (int i = 0; i + 1 < flat.size(); i += 2) {
      out.put(text(flat.get(i)), text(flat.get(i + 1)));
    }
    return out;
  }

  private static String text(Object o) {
    return o instanceof byte[] b ? new String(b, java.nio.charset.StandardCharsets.UTF_8) : String.valueOf(o);
  }

  private static Map<String, Long> longs(Map<String, String> in) {
    Map<String, Long> out = new HashMap<>();
    in.forEach((k, v) -> out.put(k, Long.parseLong(v)));
    return out;
  }

  /**
   * The changes that take a router from {@code seen} (partition to the JSON last applied) to
   * {@code now}: adds for new or changed partitions, parents first; retirements for vanished ones.
   */
  private List<BoundaryChange> changes(String table, Snapshot now, Map<String, String> seen) {
    // only what changed is decoded: an invalidation of a table of thousands of partitions usually
    // concerns one, and decoding every entry each time would make the follower's lag grow with the table
    Map<String, PartitionAdded> changed = new HashMap<>();
    for (Map.Entry<String, String> e : now.partitions().entrySet()) {
      if (!e.getValue().equals(seen.get(e.getKey()))) {
        changed.put(e.getKey(), decode(table, e.getKey(), e.getValue()));
      }
    }
    Instant at = Instant.now().truncatedTo(ChronoUnit.MICROS);
    List<BoundaryChange> out = new ArrayList<>();
    // parents before their sub-partitions among the changed ones; unchanged parents are applied already
    changed.keySet().stream()
        .sorted(Comparator.comparingInt((String p) -> depth(p, changed)).thenComparing(p -> p))
        .forEach(p -> out.add(change(table, now.versions().getOrDefault(p, 0L), at, changed.get(p))));
    for (String p : seen.keySet()) {
      if (!now.partitions().containsKey(p)) {
        String parent = decode(table, p, seen.get(p)).getParent();
        out.add(change(table, now.versions().getOrDefault(p, 0L), at, new PartitionRetired(p, parent)));
      }
    }
    return out;
  }

  private static int depth(String partition, Map<String, PartitionAdded> all) {
    int depth = 0;
    for (PartitionAdded a = all.get(partition); a != null && depth < 64; a = all.get(a.getParent())) {
      depth++;
    }
    return depth;
  }

  private static BoundaryChange change(String table, long version, Instant at, Object change) {
    return BoundaryChange.newBuilder().setAggregateId("*/" + table).setAggregateVersion(version).setRootTable(table)
        .setChangedAt(at).setChange(change).build();
  }

  private PartitionAdded decode(String table, String partition, String json) {
    try {
      return new SpecificDatumReader<>(PartitionAdded.class)
          .read(null, DecoderFactory.get().jsonDecoder(PartitionAdded.getClassSchema(), json));
    } catch (IOException | RuntimeException e) {
      throw new BoundarySourceException(uri, table, "cannot read partition " + partition + ": " + e.getMessage(), e);
    }
  }

  /** One router following some tables: a subscriber thread that reconciles on every invalidation. */
  private final class Following extends JedisPubSub implements AutoCloseable {
    private final PartitionRouter router;
    private final Set<String> tables;
    private final Map<String, Map<String, String>> seen = new ConcurrentHashMap<>();
    private final CountDownLatch ready = new CountDownLatch(1);
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final Thread thread;

    Following(PartitionRouter router, Set<String> tables) {
      this.router = router;
      this.tables = tables;
      this.thread = new Thread(this::run, "partwright-redis-boundaries");
      this.thread.setDaemon(true);
    }

    private void run() {
      while (running.get()) {
        try {
          redis.subscribe(this, prefix + ":boundaries");
        } catch (RuntimeException e) {
          if (!running.get()) {
            return;
          }
          LOG.warn("lost the registry subscription at {} ({}); subscribing again in 1 s", uri, e.getMessage());
          try {
            Thread.sleep(1_000); // backoff before reconnecting
          } catch (InterruptedException ie) {
            return;
          }
        }
      }
    }

    @Override
    public void onSubscribe(String channel, int subscribedChannels) {
      // (re)subscribed: whatever changed while we were not listening is reconciled now
      for (String table : tables) {
        reconcile(table);
      }
      ready.countDown();
    }

    @Override
    public void onMessage(String channel, String message) {
      int space = message.lastIndexOf(' ');
      String table = space < 0 ? message : message.substring(0, space);
      if (tables.contains(table)) {
        reconcile(table);
      }
    }

    private void reconcile(String table) {
      try {
        Snapshot now = read(table);
        Map<String, String> before = seen.getOrDefault(table, Map.of());
        List<BoundaryChange> changes = changes(table, now, before);
        if (!changes.isEmpty()) {
          router.applyAll(changes);
        }
        seen.put(table, now.partitions());
      } catch (RuntimeException e) {
        LOG.warn("cannot reconcile {} from the registry at {}: {}", table, uri, e.getMessage());
      }
    }

    @Override
    public void close() {
      running.set(false);
      try {
        if (isSubscribed()) {
          unsubscribe();
        }
      } catch (RuntimeException ignored) {
        // the connection is already gone
      }
      try {
        thread.join(5_000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  @Override
  public void close() {
    synchronized (following) {
      for (Following f : following) {
        f.close();
      }
      following.clear();
    }
    redis.close();
  }
}
