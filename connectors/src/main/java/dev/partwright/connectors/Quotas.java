package dev.partwright.connectors;

import java.util.Map;
import java.util.Objects;

/**
 * Quotas by managed table configured on the worker (the worker also applies the quota registered
 * with the table's policy in {@code partwright.managed_tables}, the tighter of the two): the most specific
 * entry wins — the aggregate ({@code tenant/schema.table}), then the table ({@code schema.table}),
 * then {@code fallback}.
 */
public record Quotas(Quota fallback, Map<String, Quota> byTable) {

  public Quotas {
    Objects.requireNonNull(fallback, "fallback");
    byTable = Map.copyOf(byTable);
  }

  public static Quotas unlimited() {
    return new Quotas(Quota.UNLIMITED, Map.of());
  }

  public Quota forTable(String aggregateId, String qualifiedTable) {
    Quota q = byTable.get(aggregateId);
    if (q == null) {
      q = byTable.get(qualifiedTable);
    }
    return q == null ? fallback : q;
  }
}
