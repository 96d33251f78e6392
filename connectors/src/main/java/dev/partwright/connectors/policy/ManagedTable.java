package dev.partwright.connectors.policy;

import dev.partwright.connectors.postgres.Identifier;
import dev.partwright.connectors.postgres.QualifiedName;
import dev.partwright.schemas.ManagedTablePolicy;
import java.time.DateTimeException;
import java.time.Instant;
import java.time.ZoneId;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * One row of {@code partwright.managed_tables}: a partitioned parent Partwright keeps provisioned,
 * and how.
 *
 * @param table the partitioned parent
 * @param strategy {@code range} (on a time column)
 * @param column the range key column (timestamptz)
 * @param interval hour, day, week or month
 * @param zone IANA zone boundaries are computed in
 * @param tenantColumn the list key of a {@code list(tenant) -> range(column)} table; null when all
 *     tenants share the table's partitions
 * @param bufferDays this table's forward buffer (1–366); null: the caller's default
 * @param retentionDays partitions wholly older than this are retired; null: kept
 * @param maxPartitions quota on partitions per aggregate; null: unlimited
 * @param maxBytes quota on bytes per aggregate; null: unlimited
 * @param registeredAt when the policy was last registered
 */
public record ManagedTable(
    QualifiedName table,
    String strategy,
    Identifier column,
    String interval,
    String zone,
    Identifier tenantColumn,
    Integer bufferDays,
    Integer retentionDays,
    Integer maxPartitions,
    Long maxBytes,
    Instant registeredAt) {

  public static final List<String> STRATEGIES = List.of("range");
  public static final List<String> INTERVALS = List.of("hour", "day", "week", "month");

  public ManagedTable {
    Objects.requireNonNull(table, "table");
    Objects.requireNonNull(column, "column");
    Objects.requireNonNull(registeredAt, "registeredAt");
    strategy = strategy == null ? null : strategy.toLowerCase(Locale.ROOT);
    interval = interval == null ? null : interval.toLowerCase(Locale.ROOT);
    if (!STRATEGIES.contains(strategy)) {
      throw new InvalidPolicyException(table, "strategy '" + strategy + "' is not supported; use " + STRATEGIES);
    }
    if (!INTERVALS.contains(interval)) {
      throw new InvalidPolicyException(table, "interval '" + interval + "' is not one of " + INTERVALS);
    }
    try {
      ZoneId.of(zone);
    } catch (DateTimeException | NullPointerException e) {
      throw new InvalidPolicyException(table, "zone '" + zone + "' is not a known time zone");
    }
    if (bufferDays != null && (bufferDays < 1 || bufferDays > 366)) {
      throw new InvalidPolicyException(table, "buffer days must be between 1 and 366, got " + bufferDays);
    }
    if (retentionDays != null && retentionDays < 1) {
      throw new InvalidPolicyException(table, "retention days must be at least 1, got " + retentionDays);
    }
    if (maxPartitions != null && maxPartitions < 1) {
      throw new InvalidPolicyException(table, "max partitions must be at least 1, got " + maxPartitions);
    }
    if (maxBytes != null && maxBytes < 1) {
      throw new InvalidPolicyException(table, "max bytes must be at least 1, got " + maxBytes);
    }
    if (tenantColumn != null && tenantColumn.equals(column)) {
      throw new InvalidPolicyException(table, "the tenant column and the range column must differ");
    }
  }

  /** The record {@code partwright manage} publishes to the policies topic (key: {@link #table}). */
  public ManagedTablePolicy toRecord() {
    return ManagedTablePolicy.newBuilder()
        .setSchemaName(table.schema().name())
        .setTable(table.table().name())
        .setStrategy(strategy)
        .setColumn(column.name())
        .setInterval(interval)
        .setZone(zone)
        .setTenantColumn(tenantColumn == null ? null : tenantColumn.name())
        .setBufferDays(bufferDays)
        .setRetentionDays(retentionDays)
        .setMaxPartitions(maxPartitions)
        .setMaxBytes(maxBytes)
        .setRegisteredAt(registeredAt)
        .build();
  }
}
