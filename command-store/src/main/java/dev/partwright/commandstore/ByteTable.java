package dev.partwright.commandstore;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * A hash table from byte-string keys to byte-string values, kept in two arrays: the entries back
 * to back in one byte array (the arena), and an open-addressing index of their positions and
 * hashes, side by side in one int array (a probe reads one cache line, not one in each of two
 * arrays: replay touches a different aggregate's tables at each record, so every probe misses). An aggregate keeps its command keys (value: the command's offset) and its live
 * partitions (value: the encoded {@code LivePartition}) in two of these.
 *
 * <p>Why not a {@code HashMap}: an aggregate holds hundreds of commands and live partitions, and as
 * map entries of strings, boxed longs and byte arrays that is four or five objects each, which the
 * garbage collector copies again at each young collection while replay builds them (most of a
 * replay's heap is these). The keys arrive as UTF-8 anyway (they are written to the history as
 * such), and values are written straight into the arena, not built and copied.
 *
 * <p>Entries are appended in insertion order, which iteration follows (a snapshot lists commands in
 * log order): {@code [state byte][key length: int4][key][value length: int4][value]}. Removing an
 * entry marks it dead and leaves a tombstone in the index; the arena is compacted when dead entries
 * outweigh live ones. Not thread-safe: one thread folds a partition's aggregates at a time.
 *
 * <p>The table is its arena (an {@link AvroOut}, which values are written into) rather than
 * holding one: a reference less to follow, so a cache miss less per record on replay.
 */
final class ByteTable extends AvroOut {

  private static final byte LIVE = 1;
  private static final byte DEAD = 0;
  /** Index slot values other than an entry's position + 1. */
  private static final int EMPTY = 0;
  private static final int TOMBSTONE = -1;

  /** Reads 8 key bytes at a time for {@link #hash}. */
  private static final VarHandle LONGS = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

  /**
   * Slot {@code i} is {@code index[2i]}, an entry's position + 1 (or EMPTY, TOMBSTONE), and
   * {@code index[2i + 1]}, its key's hash: most probes of another key end without comparing bytes.
   */
  private int[] index;
  private int live;
  /** Live entries plus tombstones: what fills the index. */
  private int used;
  private int deadBytes;
  /** The entry whose value is being written, between {@link #beginIfAbsent} and {@link #endValue}, and its slot. */
  private int writing = -1;
  private int writingSlot;

  ByteTable() {
    this(0, 256);
  }

  /** A table that holds {@code entries} entries in {@code arenaBytes} without growing. */
  ByteTable(int entries, int arenaBytes) {
    super(arenaBytes);
    int capacity = 16;
    while (capacity < 2 * (entries + 1)) {
      capacity *= 2;
    }
    index = new int[2 * capacity];
  }

  /** Live entries ({@link #size()} is the arena's bytes). */
  int entries() {
    return live;
  }

  /** The entry holding {@code key}, or -1. */
  int find(byte[] key, int offset, int length) {
    int i = slotOf(key, offset, length, hash(key, offset, length));
    return i < 0 ? -1 : index[2 * i] - 1;
  }

  /** The slot of the entry holding {@code key} (whose hash is {@code h}), or -1. */
  private int slotOf(byte[] key, int offset, int length, int h) {
    int[] ix = index;
    int mask = ix.length / 2 - 1;
    for (int i = h & mask; ; i = (i + 1) & mask) {
      int s = ix[2 * i];
      if (s == EMPTY) {
        return -1;
      }
      if (s != TOMBSTONE && ix[2 * i + 1] == h && keyEquals(s - 1, key, offset, length)) {
        return i;
      }
    }
  }

  /**
   * Adds an entry for {@code key} unless there is one: returns the arena to write the value into,
   * then call {@link #endValue()}; or null, and nothing changes, when the key is present.
   */
  AvroOut beginIfAbsent(byte[] key, int offset, int length) {
    if (writing >= 0) {
      throw new IllegalStateException("the value of the entry begun last is not ended");
    }
    int h = hash(key, offset, length); // once: the probe for the key and the one for a free slot share it
    if (slotOf(key, offset, length, h) >= 0) {
      return null;
    }
    int capacity = index.length / 2;
    if ((used + 1) * 2 > capacity) {
      reindex(live * 4 >= capacity ? capacity * 2 : capacity);
    }
    int[] ix = index;
    int mask = ix.length / 2 - 1;
    int i = h & mask;
    while (ix[2 * i] != EMPTY && ix[2 * i] != TOMBSTONE) {
      i = (i + 1) & mask;
    }
    if (ix[2 * i] == EMPTY) {
      used++;
    }
    int at = size();
    writeByte(LIVE);
    writeFixedInt(length);
    writeRaw(key, offset, length);
    writeFixedInt(0); // the value's length, known at endValue
    ix[2 * i] = at + 1;
    ix[2 * i + 1] = h;
    live++;
    writing = at;
    writingSlot = i;
    return this;
  }

  /** Takes back the entry {@link #beginIfAbsent} began, when its value could not be written. */
  void abandon() {
    index[2 * writingSlot] = TOMBSTONE;
    live--;
    truncate(writing);
    writing = -1;
  }

  /** Ends the value of the entry {@link #beginIfAbsent} began. */
  void endValue() {
    int lengthAt = writing + 5 + keyLength(writing);
    putFixedInt(lengthAt, size() - lengthAt - 4);
    writing = -1;
  }

  /** Removes the entry holding {@code key}; false when there is none. */
  boolean remove(byte[] key, int offset, int length) {
    int i = slotOf(key, offset, length, hash(key, offset, length));
    if (i < 0) {
      return false;
    }
    int entry = index[2 * i] - 1;
    array()[entry] = DEAD;
    deadBytes += next(entry) - entry;
    index[2 * i] = TOMBSTONE;
    live--;
    if (deadBytes > 4096 && deadBytes * 2 > size()) {
      reindex(index.length / 2);
    }
    return true;
  }

  /** The first live entry in insertion order, or -1. */
  int first() {
    return skipDead(0);
  }

  /** The live entry after {@code entry} in insertion order, or -1. */
  int after(int entry) {
    return skipDead(next(entry));
  }

  int keyAt(int entry) {
    return entry + 5;
  }

  int keyLength(int entry) {
    return AvroOut.fixedInt(array(), entry + 1);
  }

  String keyString(int entry) {
    return new String(array(), keyAt(entry), keyLength(entry), StandardCharsets.UTF_8);
  }

  int valueAt(int entry) {
    return keyAt(entry) + keyLength(entry) + 4;
  }

  int valueLength(int entry) {
    return AvroOut.fixedInt(array(), keyAt(entry) + keyLength(entry));
  }

  byte[] value(int entry) {
    int at = valueAt(entry);
    return Arrays.copyOfRange(array(), at, at + valueLength(entry));
  }

  private int next(int entry) {
    return end(array(), entry);
  }

  private int skipDead(int entry) {
    return skipDead(array(), size(), entry);
  }

  private boolean keyEquals(int entry, byte[] key, int offset, int length) {
    int at = keyAt(entry);
    return keyLength(entry) == length && Arrays.equals(array(), at, at + length, key, offset, offset + length);
  }

  /**
   * Rebuilds the index with {@code capacity} slots; and the arena without its dead entries, if it
   * has any. Growing moves positions and stored hashes only: no key is read or hashed again.
   */
  private void reindex(int capacity) {
    int[] old = index;
    index = new int[2 * capacity];
    if (deadBytes > 0) {
      AvroOut compacted = new AvroOut(size() - deadBytes);
      byte[] a = array();
      for (int e = skipDead(a, size(), 0); e >= 0; e = skipDead(a, size(), end(a, e))) {
        int keyLength = AvroOut.fixedInt(a, e + 1);
        place(compacted.size(), hash(a, e + 5, keyLength));
        compacted.writeRaw(a, e, end(a, e) - e);
      }
      replaceWith(compacted);
      deadBytes = 0;
    } else {
      for (int i = 0; i < old.length; i += 2) {
        if (old[i] != EMPTY && old[i] != TOMBSTONE) {
          place(old[i] - 1, old[i + 1]);
        }
      }
    }
    used = live;
  }

  /** Puts the entry at {@code entry} in the first free slot for {@code hash} (the index has no tombstones). */
  private void place(int entry, int hash) {
    int[] ix = index;
    int mask = ix.length / 2 - 1;
    int i = hash & mask;
    while (ix[2 * i] != EMPTY) {
      i = (i + 1) & mask;
    }
    ix[2 * i] = entry + 1;
    ix[2 * i + 1] = hash;
  }

  private static int skipDead(byte[] a, int size, int entry) {
    while (entry < size) {
      if (a[entry] == LIVE) {
        return entry;
      }
      entry = end(a, entry);
    }
    return -1;
  }

  /** Where the entry at {@code entry} ends. */
  private static int end(byte[] a, int entry) {
    int keyLength = AvroOut.fixedInt(a, entry + 1);
    return entry + 5 + keyLength + 4 + AvroOut.fixedInt(a, entry + 5 + keyLength);
  }

  /**
   * Eight bytes per step, then a full 64-bit mix (MurmurHash3's finalizer): keys are tens of bytes
   * (idempotency keys, qualified names) that share long prefixes and differ at the end, and a
   * byte-at-a-time chain over them was a chain of dependent multiplies per byte.
   */
  static int hash(byte[] b, int offset, int length) {
    long h = length * 0x9E3779B97F4A7C15L;
    int i = offset;
    int end = offset + length;
    for (; i + 8 <= end; i += 8) {
      h = Long.rotateLeft(h ^ (long) LONGS.get(b, i), 29) * 0xC2B2AE3D27D4EB4FL;
    }
    long tail = 0;
    for (int shift = 0; i < end; i++, shift += 8) {
      tail |= (b[i] & 0xFFL) << shift;
    }
    h = Long.rotateLeft(h ^ tail, 29) * 0xC2B2AE3D27D4EB4FL;
    h ^= h >>> 33;
    h *= 0xFF51AFD7ED558CCDL;
    h ^= h >>> 33;
    h *= 0xC4CEB9FE1A85EC53L;
    h ^= h >>> 33;
    return (int) h;
  }
}
