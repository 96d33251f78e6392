package dev.partwright.schemas;

import java.time.Instant;
import java.time.LocalDate;
import java.util.List;
import java.util.UUID;

/** One instance of every record the topics carry, using every bound and bound-value type. */
final class Samples {

  static final Instant T0 = Instant.parse("2026-03-01T00:00:00.123456Z");
  static final String AGGREGATE = "acme/public.events";

  private Samples() {}

  static PartitionKey timeKey() {
    return new PartitionKey(Strategy.RANGE, List.of("ts"), List.of("timestamp with time zone"));
  }

  static PartitionAdded partitionAdded() {
    return new PartitionAdded("public.events_p2026_03_01", "public.events", timeKey(),
        Bounds.timeRange(T0, T0.plusSeconds(86_400)), null);
  }

  static BoundaryChange boundaryChange(Object change) {
    return new BoundaryChange(AGGREGATE, 42L, "public.events", T0, change);
  }

  /** Every bound type, and every bound-value type including MINVALUE / MAXVALUE. */
  static List<BoundaryChange> boundaryChanges() {
    PartitionKey composite = new PartitionKey(Strategy.RANGE, List.of("day", "id", "n", "name", "ref"),
        List.of("date", "bigint", "integer", "text", "uuid"));
    RangeBound allTypes = new RangeBound(
        List.of(new DateValue(LocalDate.of(2026, 3, 1)), new Int64Value(Long.MIN_VALUE), new Int32Value(Integer.MIN_VALUE),
            new TextValue("a\u00e9\u4e2d"), new UuidValue(new UUID(0, 1))),
        List.of(new DateValue(LocalDate.of(2026, 4, 1)), new Int64Value(Long.MAX_VALUE), new Int32Value(Integer.MAX_VALUE),
            new TextValue("z"), Unbounded.MAXVALUE));
    PartitionKey tenantKey = new PartitionKey(Strategy.LIST, List.of("tenant"), List.of("text"));
    return List.of(
        boundaryChange(partitionAdded()),
        boundaryChange(new PartitionAdded("public.events_all", "public.events", composite, allTypes, null)),
        boundaryChange(new PartitionAdded("public.events_h3", "public.events",
            new PartitionKey(Strategy.HASH, List.of("id"), List.of("bigint")), new HashBound(8, 3), null)),
        boundaryChange(new PartitionAdded("public.events_acme", "public.events", tenantKey,
            new ListBound(List.of(new TextValue("acme"), new TextValue("initech")), true), timeKey())),
        boundaryChange(new PartitionAdded("public.events_default", "public.events", tenantKey, new DefaultBound(), null)),
        boundaryChange(new PartitionRetired("public.events_p2025_01_01", "public.events")),
        boundaryChange(new PartitionReplaced("public.events_p2026_03", "public.events_p2026_03_a", "public.events",
            timeKey(), new RangeBound(List.of(Unbounded.MINVALUE), List.of(Bounds.timestamp(T0))))));
  }

  static CommandHeader header(String key) {
    return new CommandHeader(key, AGGREGATE, 41L, T0, "demand-topology", "runway below 30 days");
  }

  static PartitionSpec spec() {
    return new PartitionSpec("public.events", "public", "events_p2026_03_01", Bounds.timeRange(T0, T0.plusSeconds(86_400)),
        null);
  }

  /** Every command and outcome, as the command log carries them. */
  static List<CommandLogEntry> commandLogEntries() {
    List<Object> entries = List.of(
        new ProvisionPartitions(header("k1"), List.of(spec())),
        new RetirePartitions(header("k2"), List.of("public.events_p2025_01_01"), "archive"),
        new Rollback(header("k3"), "k1", List.of("public.events_p2026_03_01")),
        new Provisioned("k1", List.of(spec()), List.of(), "worker-1", 1234L),
        new Rejected("k4", "QUOTA_PARTITIONS", "acme/public.events has 500 partitions, quota 500"),
        new Failed("k5", true, 3, "55P03", "lock timeout on public.events", List.of()),
        new RolledBack("k1", List.of("public.events_p2026_03_01"), "index build failed"));
    return entries.stream().map(e -> new CommandLogEntry(AGGREGATE, T0, e)).toList();
  }

  /** A snapshot with one aggregate (its state bytes opaque here), and an empty one. */
  static List<CatalogSnapshot> catalogSnapshots() {
    AggregateState state = AggregateState.newBuilder().setAggregateId(AGGREGATE).setVersion(7)
        .setBody(java.nio.ByteBuffer.wrap(new byte[] {1, 2, 3})).setPartitions(java.nio.ByteBuffer.wrap(new byte[] {4, 5}))
        .setHistoryCount(2).setHistory(java.nio.ByteBuffer.wrap(new byte[] {6})).build();
    return List.of(
        CatalogSnapshot.newBuilder().setCommandsTopic("partwright.commands").setPartition(3).setNextOffset(1_000)
            .setFoldVersion(2).setTakenAt(T0).setRecordsRead(1_000).setDeadLetters(1).setAggregates(List.of(state)).build(),
        CatalogSnapshot.newBuilder().setCommandsTopic("partwright.commands").setPartition(0).setNextOffset(0)
            .setFoldVersion(2).setTakenAt(T0).setRecordsRead(0).setDeadLetters(0).setAggregates(List.of()).build());
  }

  static List<CapacityAlert> capacityAlerts() {
    return List.of(
        new CapacityAlert(AGGREGATE, "QUOTA_PARTITIONS", "would reach 501 partitions, quota 500", 500L, 501L, "k4", T0),
        new CapacityAlert(AGGREGATE, "QUOTA_BYTES", "projected 2 GiB, quota 1 GiB", 1L << 30, 2L << 30, null, T0));
  }

  static List<ManagedTablePolicy> managedTablePolicies() {
    return List.of(
        new ManagedTablePolicy("public", "events", "range", "created_at", "day", "UTC", null, null, null, null, null, T0),
        new ManagedTablePolicy("app", "metrics", "range", "recorded_at", "hour", "Europe/Paris", "tenant_id", 60, 365,
            1_000, 1L << 40, T0));
  }

  static List<IngestionEvent> ingestionEvents() {
    return List.of(
        new IngestionEvent("acme", "public", "events", T0, 512L, 10L),
        new IngestionEvent("acme", "public", "events", T0, null, null));
  }
}
