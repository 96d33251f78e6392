package dev.partwright.router;

import dev.partwright.schemas.HashBound;
import java.util.Map;
import java.util.Set;

/**
 * Hash partitions: PostgreSQL's {@code get_partition_for_tuple} takes the row hash modulo the greatest
 * modulus and looks the partition up in an array of that size, where a partition {@code (m, r)} fills
 * every slot {@code r + k*m} (every modulus divides the greatest one). Same here. Hash-partitioned
 * tables have no DEFAULT partition.
 */
final class HashLevel extends Level {

  /** Child index by {@code hash % greatestModulus}; -1 where no partition takes that remainder. */
  private final int[] slots;

  private HashLevel(String table, KeyColumn[] columns, String[] children, Set<String> partitioned, int[] slots) {
    super(table, columns, children, partitioned, -1);
    this.slots = slots;
  }

  static HashLevel build(String table, KeyColumn[] columns, Map<String, Object> bounds, Set<String> partitioned) {
    int greatest = 0;
    for (Object b : bounds.values()) {
      greatest = Math.max(greatest, ((HashBound) b).getModulus());
    }
    int[] slots = new int[greatest];
    java.util.Arrays.fill(slots, -1);
    String[] children = new String[bounds.size()];
    int i = 0;
    for (Map.Entry<String, Object> e : bounds.entrySet()) {
      HashBound h = (HashBound) e.getValue();
      int m = h.getModulus();
      int r = h.getRemainder();
      if (m <= 0 || r < 0 || r >= m || greatest % m != 0) {
        throw new IllegalArgumentException("partition " + e.getKey() + " of " + table + " has modulus " + m + " remainder " + r
            + "; every modulus must divide the greatest one (" + greatest + ") and 0 <= remainder < modulus");
      }
      children[i] = e.getKey();
      for (int s = r; s < greatest; s += m) {
        slots[s] = i;
      }
      i++;
    }
    return new HashLevel(table, columns, children, partitioned, slots);
  }

  /** PostgreSQL's {@code compute_partition_hash_value}: NULL columns are skipped. */
  long rowHash(Object[] raw) {
    long hash = 0;
    for (int i = 0; i < columns.length; i++) {
      if (raw[i] != null) {
        hash = PgHash.combine(hash, columns[i].hash(columns[i].normalize(raw[i])));
      }
    }
    return hash;
  }

  @Override
  int route(Object[] raw) {
    if (slots.length == 0) {
      return -1;
    }
    return slots[(int) Long.remainderUnsigned(rowHash(raw), slots.length)];
  }

  @Override
  String nearest(Object[] raw) {
    if (slots.length == 0) {
      return null;
    }
    long hash = rowHash(raw);
    return "row hash " + Long.toUnsignedString(hash) + " has remainder " + Long.remainderUnsigned(hash, slots.length)
        + " for modulus " + slots.length + ", which no partition takes";
  }
}
