package dev.partwright.schemas;

import java.util.Objects;

/**
 * The unit of ordering in the command log: one managed table for one tenant, written
 * {@code tenant/schema.table}. Tables whose partitions are shared by every tenant (no tenant level
 * in the partition scheme) use the tenant {@value #SHARED}.
 */
public record AggregateId(String tenant, String schema, String table) {

  public static final String SHARED = "*";

  public AggregateId {
    Objects.requireNonNull(tenant, "tenant");
    Objects.requireNonNull(schema, "schema");
    Objects.requireNonNull(table, "table");
    if (tenant.isEmpty() || schema.isEmpty() || table.isEmpty()) {
      throw new IllegalArgumentException("aggregate id parts must not be empty: " + tenant + "/" + schema + "." + table);
    }
    if (tenant.indexOf('/') >= 0) {
      throw new IllegalArgumentException("tenant must not contain '/': " + tenant);
    }
  }

  public static AggregateId shared(String schema, String table) {
    return new AggregateId(SHARED, schema, table);
  }

  /** Parses {@code tenant/schema.table}. */
  public static AggregateId parse(String id) {
    int slash = id.indexOf('/');
    int dot = id.indexOf('.', slash + 1);
    if (slash <= 0 || dot < 0) {
      throw new IllegalArgumentException("not an aggregate id (tenant/schema.table): " + id);
    }
    return new AggregateId(id.substring(0, slash), id.substring(slash + 1, dot), id.substring(dot + 1));
  }

  public String qualifiedTable() {
    return schema + "." + table;
  }

  @Override
  public String toString() {
    return tenant + "/" + schema + "." + table;
  }
}
