package dev.partwright.streams;

import java.time.ZoneId;
import java.util.Objects;

/**
 * How one managed table is partitioned and how far ahead it is kept provisioned.
 *
 * @param schema schema of the partitioned parent
 * @param table name of the partitioned parent
 * @param interval width of one range partition
 * @param zone zone in which boundaries are computed
 * @param tenantScoped true when each tenant owns its own partitions (its own aggregate); false when
 *     all tenants share the table's partitions (aggregate {@code * /schema.table})
 */
public record TablePolicy(String schema, String table, Interval interval, ZoneId zone, boolean tenantScoped) {

  public TablePolicy {
    Objects.requireNonNull(schema, "schema");
    Objects.requireNonNull(table, "table");
    Objects.requireNonNull(interval, "interval");
    Objects.requireNonNull(zone, "zone");
  }

  public static TablePolicy dailyShared(String schema, String table) {
    return new TablePolicy(schema, table, Interval.DAY, ZoneId.of("UTC"), false);
  }

  public String qualifiedName() {
    return schema + "." + table;
  }
}
