package dev.partwright.commandstore;

import dev.partwright.schemas.AggregateId;

/**
 * Where a command is in the log after {@link CommandStore#append(AggregateId, long,
 * dev.partwright.schemas.ProvisionPartitions)}.
 *
 * @param aggregate the aggregate
 * @param idempotencyKey the command's key
 * @param partition the commands-topic partition that owns the aggregate
 * @param offset the offset of the command; for a duplicate, of the command first stored with this key
 * @param version the aggregate's version once the command is applied (for a duplicate: its version now)
 * @param duplicate whether the aggregate already had this key, so nothing new took effect
 */
public record Appended(AggregateId aggregate, String idempotencyKey, int partition, long offset, long version,
    boolean duplicate) {}
