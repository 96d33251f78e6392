package dev.partwright.streams;

import dev.partwright.schemas.ManagedTablePolicy;
import java.time.DateTimeException;
import java.time.ZoneId;
import java.util.Objects;

/**
 * How one managed table is partitioned and how far ahead it is kept provisioned.
 *
 * @param schema schema of the partitioned parent
 * @param table name of the partitioned parent
 * @param interval width of one range partition
 * @param zone zone in which boundaries are computed
 * @param tenantScoped true when each tenant owns its own partitions (its own aggregate, a
 *     {@code list(tenant) -> range(time)} scheme); false when all tenants share the table's
 *     partitions (aggregate {@code * /schema.table})
 * @param timeColumn the range key column; required when tenant-scoped (it is the key of each
 *     tenant's sub-partitioned level), informational otherwise; may be null
 * @param bufferDays this table's minimum forward buffer in days (1–366), or null for the planner's
 * @param retentionDays partitions wholly older than this many days are retired; null keeps them
 * @param quota limits of each aggregate of this table
 */
public record TablePolicy(
    String schema,
    String table,
    Interval interval,
    ZoneId zone,
    boolean tenantScoped,
    String timeColumn,
    Integer bufferDays,
    Integer retentionDays,
    Quota quota) {

  public TablePolicy {
    Objects.requireNonNull(schema, "schema");
    Objects.requireNonNull(table, "table");
    Objects.requireNonNull(interval, "interval");
    Objects.requireNonNull(zone, "zone");
    Objects.requireNonNull(quota, "quota");
    if (tenantScoped && timeColumn == null) {
      throw new IllegalArgumentException("tenant-scoped table " + schema + "." + table
          + " needs its time column: each tenant's partition is itself range-partitioned on it");
    }
    if (bufferDays != null && (bufferDays < BufferPolicy.MIN_DAYS || bufferDays > BufferPolicy.MAX_DAYS)) {
      throw new IllegalArgumentException("buffer days of " + schema + "." + table + " must be between 1 and 366, got "
          + bufferDays);
    }
    if (retentionDays != null && retentionDays < 1) {
      throw new IllegalArgumentException("retention days of " + schema + "." + table + " must be >= 1, got "
          + retentionDays);
    }
  }

  /** A policy with the planner's buffer, no retention and no quota. */
  public TablePolicy(String schema, String table, Interval interval, ZoneId zone, boolean tenantScoped) {
    this(schema, table, interval, zone, tenantScoped, null, null, null, Quota.UNLIMITED);
  }

  public static TablePolicy dailyShared(String schema, String table) {
    return new TablePolicy(schema, table, Interval.DAY, ZoneId.of("UTC"), false);
  }

  /**
   * The policy a {@code partwright manage} record describes.
   *
   * @throws IllegalArgumentException when the record names an unknown strategy, interval or zone
   */
  public static TablePolicy fromRecord(ManagedTablePolicy r) {
    if (!"range".equalsIgnoreCase(r.getStrategy())) {
      throw new IllegalArgumentException("table " + r.getSchemaName() + "." + r.getTable() + " has strategy '"
          + r.getStrategy() + "'; the demand planner plans range partitions only");
    }
    ZoneId zone;
    try {
      zone = ZoneId.of(r.getZone());
    } catch (DateTimeException e) {
      throw new IllegalArgumentException("table " + r.getSchemaName() + "." + r.getTable() + " has unknown zone '"
          + r.getZone() + "'");
    }
    return new TablePolicy(r.getSchemaName(), r.getTable(), Interval.parse(r.getInterval()), zone,
        r.getTenantColumn() != null, r.getColumn(), r.getBufferDays(), r.getRetentionDays(),
        Quota.of(r.getMaxPartitions(), r.getMaxBytes()));
  }

  public String qualifiedName() {
    return schema + "." + table;
  }

  public TablePolicy withQuota(Quota q) {
    return new TablePolicy(schema, table, interval, zone, tenantScoped, timeColumn, bufferDays, retentionDays, q);
  }

  public TablePolicy withBufferDays(Integer days) {
    return new TablePolicy(schema, table, interval, zone, tenantScoped, timeColumn, days, retentionDays, quota);
  }

  /** A tenant-scoped copy of this policy, ranged on {@code column}. */
  public TablePolicy perTenant(String column) {
    return new TablePolicy(schema, table, interval, zone, true, column, bufferDays, retentionDays, quota);
  }
}
