package dev.partwright.router;

import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.DefaultBound;
import dev.partwright.schemas.HashBound;
import dev.partwright.schemas.Int64Value;
import dev.partwright.schemas.ListBound;
import dev.partwright.schemas.PartitionAdded;
import dev.partwright.schemas.PartitionKey;
import dev.partwright.schemas.PartitionReplaced;
import dev.partwright.schemas.PartitionRetired;
import dev.partwright.schemas.RangeBound;
import dev.partwright.schemas.Strategy;
import dev.partwright.schemas.TextValue;
import dev.partwright.schemas.TimestampTzValue;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;

/** Boundary changes for tests, built the way a worker builds them. */
final class Changes {

  private Changes() {}

  static PartitionKey key(Strategy strategy, String... columnsAndTypes) {
    List<String> columns = new java.util.ArrayList<>();
    List<String> types = new java.util.ArrayList<>();
    for (int i = 0; i < columnsAndTypes.length; i += 2) {
      columns.add(columnsAndTypes[i]);
      types.add(columnsAndTypes[i + 1]);
    }
    return new PartitionKey(strategy, columns, types);
  }

  static final PartitionKey BY_TIME = key(Strategy.RANGE, "created_at", "timestamp with time zone");
  static final PartitionKey BY_ID = key(Strategy.RANGE, "id", "bigint");

  static BoundaryChange added(long version, String parent, PartitionKey key, String partition, Object bound) {
    return added(version, parent, key, partition, bound, null);
  }

  static BoundaryChange added(long version, String parent, PartitionKey key, String partition, Object bound, PartitionKey sub) {
    return change(version, parent, PartitionAdded.newBuilder().setPartition(partition).setParent(parent).setParentKey(key)
        .setBound(bound).setSubpartitionBy(sub).build());
  }

  static BoundaryChange retired(long version, String parent, String partition) {
    return change(version, parent, new PartitionRetired(partition, parent));
  }

  static BoundaryChange replaced(long version, String parent, PartitionKey key, String replaced, String partition, Object bound) {
    return change(version, parent, new PartitionReplaced(replaced, partition, parent, key, bound));
  }

  static BoundaryChange change(long version, String parent, Object change) {
    return BoundaryChange.newBuilder().setAggregateId("t/" + parent).setAggregateVersion(version).setRootTable(parent)
        .setChangedAt(Instant.parse("2024-01-01T00:00:00Z")).setChange(change).build();
  }

  static RangeBound time(String from, String to) {
    return new RangeBound(List.of(new TimestampTzValue(Instant.parse(from))), List.of(new TimestampTzValue(Instant.parse(to))));
  }

  static RangeBound ids(Object from, Object to) {
    return new RangeBound(List.of(from instanceof Long l ? new Int64Value(l) : from), List.of(to instanceof Long l ? new Int64Value(l) : to));
  }

  static ListBound list(boolean includesNull, String... values) {
    return new ListBound(Arrays.stream(values).map(v -> (Object) new TextValue(v)).toList(), includesNull);
  }

  static HashBound hash(int modulus, int remainder) {
    return new HashBound(modulus, remainder);
  }

  static DefaultBound byDefault() {
    return new DefaultBound();
  }
}
