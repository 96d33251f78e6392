package dev.partwright.commandstore;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * A hash table from byte-string keys to byte-string values, kept in three arrays: the entries back
 * to back in one byte array (the arena), and an open-addressing index of their positions and
 * hashes. An aggregate keeps its command keys (value: the command's offset) and its live
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
 */
final class ByteTable {

  private static final byte LIVE = 1;
  private static final byte DEAD = 0;
  /** Index slot values other than an entry's position + 1. */
  private static final int EMPTY = 0;
  private static final int TOMBSTONE = -1;

  private AvroOut arena;
  private int[] slots;
  /** Each slot's key hash: most probes of another key end without comparing bytes. */
  private int[] hashes;
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
    arena = new AvroOut(arenaBytes);
    int capacity = 16;
    while (capacity < 2 * (entries + 1)) {
      capacity *= 2;
    }
    slots = new int[capacity];
    hashes = new int[capacity];
  }

  int size() {
    return live;
  }

  /** The entry holding {@code key}, or -1. */
  int find(byte[] key, int offset, int length) {
    int h = hash(key, offset, length);
    int mask = slots.length - 1;
    for (int i = h & mask; ; i = (i + 1) & mask) {
      int s = slots[i];
      if (s == EMPTY) {
        return -1;
      }
      if (s != TOMBSTONE && hashes[i] == h && keyEquals(s - 1, key, offset, length)) {
        return s - 1;
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
    if (find(key, offset, length) >= 0) {
      return null;
    }
    if ((used + 1) * 2 > slots.length) {
      reindex(live * 4 >= slots.length ? slots.length * 2 : slots.length);
    }
    int h = hash(key, offset, length);
    int mask = slots.length - 1;
    int i = h & mask;
    while (slots[i] != EMPTY && slots[i] != TOMBSTONE) {
      i = (i + 1) & mask;
    }
    if (slots[i] == EMPTY) {
      used++;
    }
    int at = arena.size();
    arena.writeByte(LIVE);
    arena.writeFixedInt(length);
    arena.writeRaw(key, offset, length);
    arena.writeFixedInt(0); // the value's length, known at endValue
    slots[i] = at + 1;
    hashes[i] = h;
    live++;
    writing = at;
    writingSlot = i;
    return arena;
  }

  /** Takes back the entry {@link #beginIfAbsent} began, when its value could not be written. */
  void abandon() {
    slots[writingSlot] = TOMBSTONE;
    live--;
    arena.truncate(writing);
    writing = -1;
  }

  /** Ends the value of the entry {@link #beginIfAbsent} began. */
  void endValue() {
    int lengthAt = writing + 5 + keyLength(writing);
    arena.putFixedInt(lengthAt, arena.size() - lengthAt - 4);
    writing = -1;
  }

  /** Removes the entry holding {@code key}; false when there is none. */
  boolean remove(byte[] key, int offset, int length) {
    int h = hash(key, offset, length);
    int mask = slots.length - 1;
    for (int i = h & mask; ; i = (i + 1) & mask) {
      int s = slots[i];
      if (s == EMPTY) {
        return false;
      }
      if (s != TOMBSTONE && hashes[i] == h && keyEquals(s - 1, key, offset, length)) {
        arena.array()[s - 1] = DEAD;
        deadBytes += next(s - 1) - (s - 1);
        slots[i] = TOMBSTONE;
        live--;
        if (deadBytes > 4096 && deadBytes * 2 > arena.size()) {
          reindex(slots.length);
        }
        return true;
      }
    }
  }

  /** The first live entry in insertion order, or -1. */
  int first() {
    return skipDead(0);
  }

  /** The live entry after {@code entry} in insertion order, or -1. */
  int after(int entry) {
    return skipDead(next(entry));
  }

  /** Where entries' keys and values are: valid until the next change. */
  byte[] array() {
    return arena.array();
  }

  int keyAt(int entry) {
    return entry + 5;
  }

  int keyLength(int entry) {
    return AvroOut.fixedInt(arena.array(), entry + 1);
  }

  String keyString(int entry) {
    return new String(arena.array(), keyAt(entry), keyLength(entry), StandardCharsets.UTF_8);
  }

  int valueAt(int entry) {
    return keyAt(entry) + keyLength(entry) + 4;
  }

  int valueLength(int entry) {
    return AvroOut.fixedInt(arena.array(), keyAt(entry) + keyLength(entry));
  }

  byte[] value(int entry) {
    int at = valueAt(entry);
    return Arrays.copyOfRange(arena.array(), at, at + valueLength(entry));
  }

  private int next(int entry) {
    return end(arena.array(), entry);
  }

  private int skipDead(int entry) {
    return skipDead(arena.array(), arena.size(), entry);
  }

  private boolean keyEquals(int entry, byte[] key, int offset, int length) {
    int at = keyAt(entry);
    return keyLength(entry) == length && Arrays.equals(arena.array(), at, at + length, key, offset, offset + length);
  }

  /**
   * Rebuilds the index with {@code capacity} slots; and the arena without its dead entries, if it
   * has any. Growing moves positions and stored hashes only: no key is read or hashed again.
   */
  private void reindex(int capacity) {
    int[] oldSlots = slots;
    int[] oldHashes = hashes;
    slots = new int[capacity];
    hashes = new int[capacity];
    if (deadBytes > 0) {
      AvroOut old = arena;
      arena = new AvroOut(old.size() - deadBytes);
      byte[] a = old.array();
      for (int e = skipDead(a, old.size(), 0); e >= 0; e = skipDead(a, old.size(), end(a, e))) {
        int keyLength = AvroOut.fixedInt(a, e + 1);
        place(arena.size(), hash(a, e + 5, keyLength));
        arena.writeRaw(a, e, end(a, e) - e);
      }
      deadBytes = 0;
    } else {
      for (int i = 0; i < oldSlots.length; i++) {
        if (oldSlots[i] != EMPTY && oldSlots[i] != TOMBSTONE) {
          place(oldSlots[i] - 1, oldHashes[i]);
        }
      }
    }
    used = live;
  }

  /** Puts the entry at {@code entry} in the first free slot for {@code hash} (the index has no tombstones). */
  private void place(int entry, int hash) {
    int mask = slots.length - 1;
    int i = hash & mask;
    while (slots[i] != EMPTY) {
      i = (i + 1) & mask;
    }
    slots[i] = entry + 1;
    hashes[i] = hash;
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

  private static int hash(byte[] b, int offset, int length) {
    int h = 1;
    for (int i = offset; i < offset + length; i++) {
      h = 31 * h + b[i];
    }
    h *= 0x9E3779B9; // keys share long prefixes and differ at the end: spread the low bits used as the slot
    return h ^ (h >>> 16);
  }
}
