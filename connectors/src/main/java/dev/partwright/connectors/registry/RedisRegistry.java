package dev.partwright.connectors.registry;

import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.PartitionAdded;
import dev.partwright.schemas.PartitionReplaced;
import dev.partwright.schemas.PartitionRetired;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.io.JsonEncoder;
import org.apache.avro.specific.SpecificDatumWriter;
import redis.clients.jedis.UnifiedJedis;

/**
 * The metadata registry in Redis: each root table's boundary map, written atomically by one Lua
 * script per boundary change, so a reader never sees a half-applied change.
 *
 * <p>Layout (version 1; {@code dev.partwright.router.RedisBoundarySource} reads the same), with the
 * root table as hash tag so one table's keys share a cluster slot:
 * <ul>
 *   <li>{@code <prefix>:{<root>}:partitions} hash: partition name to its {@code PartitionAdded} as Avro
 *       JSON (parent, parent key, bound, sub-partition key), every level of a composite table;</li>
 *   <li>{@code <prefix>:{<root>}:versions} hash: partition name to the aggregate version of the last
 *       change applied to it, kept after retirement, so a re-delivered or stale change is ignored;</li>
 *   <li>{@code <prefix>:{<root>}:version} string: the map's version, incremented by every applied change;</li>
 *   <li>{@code <prefix>:tables} set: the root tables the registry holds;</li>
 *   <li>channel {@code <prefix>:boundaries}: {@code "<root> <map version>"} after every applied change.</li>
 * </ul>
 * A retired partition leaves the map with its whole subtree (a detached partitioned partition takes its
 * sub-partitions out of routing), so the registry never keeps a boundary the database dropped.
 */
public final class RedisRegistry implements AutoCloseable {

  public static final String DEFAULT_PREFIX = "partwright";

  // KEYS: partitions hash, versions hash, map version. ARGV: op, partition, aggregate version, json,
  // replaced partition, channel, root. Returns the new map version, or 0 when the change was stale.
  private static final String SCRIPT = """
      local version = tonumber(ARGV[3])
      local held = redis.call('HGET', KEYS[2], ARGV[2])
      if held and tonumber(held) >= version then return 0 end
      local function tombstone(name)
        local v = redis.call('HGET', KEYS[2], name)
        if not v or tonumber(v) < version then redis.call('HSET', KEYS[2], name, ARGV[3]) end
      end
      local function drop(name)
        redis.call('HDEL', KEYS[1], name)
        tombstone(name)
        local all = redis.call('HGETALL', KEYS[1])
        for i = 1, #all, 2 do
          local ok, v = pcall(cjson.decode, all[i + 1])
          if ok and v.parent == name then drop(all[i]) end
        end
      end
      if ARGV[1] == 'retire' then
        drop(ARGV[2])
      else
        if ARGV[1] == 'replace' and ARGV[5] ~= ARGV[2] then drop(ARGV[5]) end
        redis.call('HSET', KEYS[1], ARGV[2], ARGV[4])
        redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
      end
      local mapVersion = redis.call('INCR', KEYS[3])
      redis.call('PUBLISH', ARGV[6], ARGV[7] .. ' ' .. mapVersion)
      return mapVersion
      """;

  private final UnifiedJedis redis;
  private final String prefix;
  private final SpecificDatumWriter<PartitionAdded> writer = new SpecificDatumWriter<>(PartitionAdded.class);

  /** Writes through {@code redis} (not closed by {@link #close()} unless this registry created it). */
  public RedisRegistry(UnifiedJedis redis, String prefix) {
    this.redis = redis;
    this.prefix = prefix;
  }

  public static String partitionsKey(String prefix, String root) {
    return prefix + ":{" + root + "}:partitions";
  }

  public static String versionsKey(String prefix, String root) {
    return prefix + ":{" + root + "}:versions";
  }

  public static String versionKey(String prefix, String root) {
    return prefix + ":{" + root + "}:version";
  }

  public static String tablesKey(String prefix) {
    return prefix + ":tables";
  }

  public static String channel(String prefix) {
    return prefix + ":boundaries";
  }

  /**
   * Applies one boundary change atomically; returns false when the registry already holds it or a
   * newer change of the same partition (re-delivery is harmless).
   */
  public boolean apply(BoundaryChange change) {
    String root = change.getRootTable();
    String op;
    String partition;
    String json = "";
    String replaced = "";
    Object c = change.getChange();
    if (c instanceof PartitionAdded a) {
      op = "add";
      partition = a.getPartition();
      json = json(a);
    } else if (c instanceof PartitionRetired r) {
      op = "retire";
      partition = r.getPartition();
    } else if (c instanceof PartitionReplaced r) {
      op = "replace";
      partition = r.getPartition();
      replaced = r.getReplaced();
      json = json(new PartitionAdded(r.getPartition(), r.getParent(), r.getParentKey(), r.getBound(), null));
    } else {
      throw new IllegalArgumentException("unknown boundary change " + c);
    }
    Object result = redis.eval(SCRIPT,
        List.of(partitionsKey(prefix, root), versionsKey(prefix, root), versionKey(prefix, root)),
        List.of(op, partition, Long.toString(change.getAggregateVersion()), json, replaced, channel(prefix), root));
    redis.sadd(tablesKey(prefix), root);
    return ((Long) result) > 0;
  }

  private String json(PartitionAdded added) {
    try {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      JsonEncoder encoder = EncoderFactory.get().jsonEncoder(PartitionAdded.getClassSchema(), out);
      writer.write(added, encoder);
      encoder.flush();
      return out.toString(StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot encode " + added, e);
    }
  }

  @Override
  public void close() {
    redis.close();
  }
}
