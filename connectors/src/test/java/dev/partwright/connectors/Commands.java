package dev.partwright.connectors;

import dev.partwright.schemas.Bounds;
import dev.partwright.schemas.CommandHeader;
import dev.partwright.schemas.DefaultBound;
import dev.partwright.schemas.HashBound;
import dev.partwright.schemas.Int64Value;
import dev.partwright.schemas.ListBound;
import dev.partwright.schemas.PartitionKey;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.RangeBound;
import dev.partwright.schemas.RetirePartitions;
import dev.partwright.schemas.Strategy;
import dev.partwright.schemas.TextValue;
import dev.partwright.schemas.Unbounded;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;

/** Builders for the commands tests send. */
final class Commands {

  private Commands() {}

  static CommandHeader header(String aggregate) {
    return CommandHeader.newBuilder()
        .setIdempotencyKey("test-" + UUID.randomUUID())
        .setAggregateId(aggregate)
        .setExpectedVersion(-1)
        .setIssuedAt(Instant.now())
        .setIssuedBy("test")
        .setReason("test")
        .build();
  }

  static ProvisionPartitions provision(String aggregate, List<PartitionSpec> specs) {
    return ProvisionPartitions.newBuilder().setHeader(header(aggregate)).setPartitions(specs).build();
  }

  static ProvisionPartitions provision(String aggregate, PartitionSpec... specs) {
    return provision(aggregate, Arrays.asList(specs));
  }

  static RetirePartitions retire(String aggregate, String archiveSchema, String... partitions) {
    return RetirePartitions.newBuilder().setHeader(header(aggregate)).setPartitions(List.of(partitions))
        .setArchiveSchema(archiveSchema).build();
  }

  static PartitionSpec spec(String parent, String schema, String name, Object bound) {
    return spec(parent, schema, name, bound, null);
  }

  static PartitionSpec spec(String parent, String schema, String name, Object bound, PartitionKey subpartitionBy) {
    return PartitionSpec.newBuilder().setParent(parent).setSchemaName(schema).setName(name).setBound(bound)
        .setSubpartitionBy(subpartitionBy).build();
  }

  static RangeBound time(Instant from, Instant to) {
    return Bounds.timeRange(from, to);
  }

  static RangeBound longs(Long from, Long to) {
    return new RangeBound(List.of(from == null ? Unbounded.MINVALUE : new Int64Value(from)),
        List.of(to == null ? Unbounded.MAXVALUE : new Int64Value(to)));
  }

  static HashBound hash(int modulus, int remainder) {
    return new HashBound(modulus, remainder);
  }

  static ListBound list(String... tenants) {
    List<Object> values = new ArrayList<>();
    for (String t : tenants) {
      values.add(new TextValue(t));
    }
    return new ListBound(values, false);
  }

  static DefaultBound defaultBound() {
    return new DefaultBound();
  }

  static PartitionKey key(Strategy strategy, String column, String type) {
    return new PartitionKey(strategy, List.of(column), List.of(type));
  }

  /** Consecutive time partitions {@code name_0..n-1} of {@code parent} at the given boundaries. */
  static List<PartitionSpec> times(String parent, String schema, String prefix, List<Instant> edges) {
    List<PartitionSpec> specs = new ArrayList<>();
    for (int i = 0; i + 1 < edges.size(); i++) {
      specs.add(spec(parent, schema, prefix + i, time(edges.get(i), edges.get(i + 1))));
    }
    return specs;
  }
}
