package dev.partwright.connectors.registry;

import dev.partwright.schemas.Topics;
import java.time.Duration;
import java.util.Objects;

/**
 * Everything the registry sink is told.
 *
 * @param bootstrapServers Kafka bootstrap servers
 * @param boundariesTopic the boundary topic the workers publish to
 * @param groupId consumer group of all sink instances (a root table's changes go to one of them, in order)
 * @param redisUri the registry, {@code redis://[user:password@]host:port[/db]}
 * @param prefix first part of every key and of the invalidation channel
 * @param retryBackoff how long to wait before retrying a change Redis refused
 */
public record RegistrySinkConfig(
    String bootstrapServers, String boundariesTopic, String groupId, String redisUri, String prefix, Duration retryBackoff) {

  public RegistrySinkConfig {
    Objects.requireNonNull(bootstrapServers, "bootstrapServers");
    Objects.requireNonNull(boundariesTopic, "boundariesTopic");
    Objects.requireNonNull(groupId, "groupId");
    Objects.requireNonNull(redisUri, "redisUri");
    Objects.requireNonNull(prefix, "prefix");
    Objects.requireNonNull(retryBackoff, "retryBackoff");
    if (!redisUri.startsWith("redis://") && !redisUri.startsWith("rediss://")) {
      throw new IllegalArgumentException("redisUri must be redis://host:port or rediss://host:port, not " + redisUri);
    }
    if (prefix.isBlank() || prefix.contains("{") || prefix.contains("}")) {
      throw new IllegalArgumentException("prefix must be non-blank and without braces (they mark the hash tag): " + prefix);
    }
    if (retryBackoff.isNegative() || retryBackoff.isZero()) {
      throw new IllegalArgumentException("retryBackoff must be positive, not " + retryBackoff);
    }
  }

  /** The default boundary topic, group {@code partwright-registry}, prefix {@code partwright}, 1 s backoff. */
  public static RegistrySinkConfig defaults(String bootstrapServers, String redisUri) {
    return new RegistrySinkConfig(bootstrapServers, Topics.BOUNDARIES, "partwright-registry", redisUri,
        RedisRegistry.DEFAULT_PREFIX, Duration.ofSeconds(1));
  }
}
