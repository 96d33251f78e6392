package dev.partwright.router;

import java.nio.charset.StandardCharsets;
import java.util.UUID;

/**
 * PostgreSQL's partition hash, bit for bit (PostgreSQL 11 .. 17, little-endian servers):
 * {@code compute_partition_hash_value} in {@code partbounds.c} calls each key column's extended hash
 * support function with {@link #PARTITION_SEED}, skips NULL columns, and folds the results with
 * {@link #combine}; a row belongs to the partition whose remainder is {@code hash % modulus}, the hash
 * taken as an unsigned 64-bit number.
 *
 * <p>The column hashes are Bob Jenkins' lookup3 as {@code src/common/hashfn.c} implements it:
 * {@link #uint32} is {@code hash_bytes_uint32_extended} (what int2, int4 and date hash through),
 * {@link #bytes} is {@code hash_bytes_extended} (text, uuid). Words are read little-endian, which is
 * what x86-64 and arm64 servers do; a big-endian server would hash byte strings differently.
 */
final class PgHash {

  /** {@code HASH_PARTITION_SEED} in {@code src/include/catalog/partition.h}. */
  static final long PARTITION_SEED = 0x7A5B22367996DCFDL;

  private static final int INITIAL = 0x9e3779b9 + 3923095;

  private PgHash() {}

  /** {@code hash_combine64} in {@code src/include/common/hashfn.h}; C's {@code a >> 7} on a uint64 is {@code >>>}. */
  static long combine(long a, long b) {
    return a ^ (b + 0x49a0f4dd15e5a8e3L + (a << 54) + (a >>> 7));
  }

  /** {@code hashint4extended} / {@code hashint2extended} (the int2 is sign-extended first). */
  static long int4(int value, long seed) {
    return uint32(value, seed);
  }

  /**
   * {@code hashint8extended}: folds the high half into the low half (complemented for negatives) so
   * that an int8 hashes like the int4 of the same value, then hashes the low half.
   */
  static long int8(long value, long seed) {
    int lo = (int) value;
    int hi = (int) (value >> 32);
    lo ^= value >= 0 ? hi : ~hi;
    return uint32(lo, seed);
  }

  /** {@code hashtextextended} under a deterministic collation: the UTF-8 bytes. */
  static long text(String value, long seed) {
    byte[] b = value.getBytes(StandardCharsets.UTF_8);
    return bytes(b, 0, b.length, seed);
  }

  /** {@code uuid_hash_extended}: the 16 bytes in network order, as the uuid is stored. */
  static long uuid(UUID value, long seed) {
    byte[] b = new byte[16];
    long msb = value.getMostSignificantBits();
    long lsb = value.getLeastSignificantBits();
    for (int i = 0; i < 8; i++) {
      b[i] = (byte) (msb >>> (56 - 8 * i));
      b[8 + i] = (byte) (lsb >>> (56 - 8 * i));
    }
    return bytes(b, 0, 16, seed);
  }

  /** {@code hash_bytes_uint32_extended}. */
  static long uint32(int k, long seed) {
    int a = INITIAL + 4;
    int b = a;
    int c = a;
    if (seed != 0) {
      a += (int) (seed >>> 32);
      b += (int) seed;
      // mix(a, b, c)
      a -= c; a ^= Integer.rotateLeft(c, 4); c += b;
      b -= a; b ^= Integer.rotateLeft(a, 6); a += c;
      c -= b; c ^= Integer.rotateLeft(b, 8); b += a;
      a -= c; a ^= Integer.rotateLeft(c, 16); c += b;
      b -= a; b ^= Integer.rotateLeft(a, 19); a += c;
      c -= b; c ^= Integer.rotateLeft(b, 4); b += a;
    }
    a += k;
    // final(a, b, c)
    c ^= b; c -= Integer.rotateLeft(b, 14);
    a ^= c; a -= Integer.rotateLeft(c, 11);
    b ^= a; b -= Integer.rotateLeft(a, 25);
    c ^= b; c -= Integer.rotateLeft(b, 16);
    a ^= c; a -= Integer.rotateLeft(c, 4);
    b ^= a; b -= Integer.rotateLeft(a, 14);
    c ^= b; c -= Integer.rotateLeft(b, 24);
    return ((long) b << 32) | (c & 0xFFFFFFFFL);
  }

  /** {@code hash_bytes_extended} over {@code k[off, off + len)}. */
  static long bytes(byte[] k, int off, int len, long seed) {
    int a = INITIAL + len;
    int b = a;
    int c = a;
    if (seed != 0) {
      // the seed is hashed as a 12-byte chunk (high half, low half, four zero bytes)
      a += (int) (seed >>> 32);
      b += (int) seed;
      a -= c; a ^= Integer.rotateLeft(c, 4); c += b;
      b -= a; b ^= Integer.rotateLeft(a, 6); a += c;
      c -= b; c ^= Integer.rotateLeft(b, 8); b += a;
      a -= c; a ^= Integer.rotateLeft(c, 16); c += b;
      b -= a; b ^= Integer.rotateLeft(a, 19); a += c;
      c -= b; c ^= Integer.rotateLeft(b, 4); b += a;
    }
    int i = off;
    int rest = len;
    while (rest >= 12) {
      a += le32(k, i);
      b += le32(k, i + 4);
      c += le32(k, i + 8);
      a -= c; a ^= Integer.rotateLeft(c, 4); c += b;
      b -= a; b ^= Integer.rotateLeft(a, 6); a += c;
      c -= b; c ^= Integer.rotateLeft(b, 8); b += a;
      a -= c; a ^= Integer.rotateLeft(c, 16); c += b;
      b -= a; b ^= Integer.rotateLeft(a, 19); a += c;
      c -= b; c ^= Integer.rotateLeft(b, 4); b += a;
      i += 12;
      rest -= 12;
    }
    // the last 0..11 bytes; the lowest byte of c is reserved for the length, so k[8] lands at << 8
    switch (rest) {
      case 11: c += (k[i + 10] & 0xFF) << 24; // fall through
      case 10: c += (k[i + 9] & 0xFF) << 16; // fall through
      case 9: c += (k[i + 8] & 0xFF) << 8; // fall through
      case 8:
        b += le32(k, i + 4);
        a += le32(k, i);
        break;
      case 7: b += (k[i + 6] & 0xFF) << 16; // fall through
      case 6: b += (k[i + 5] & 0xFF) << 8; // fall through
      case 5: b += k[i + 4] & 0xFF; // fall through
      case 4:
        a += le32(k, i);
        break;
      case 3: a += (k[i + 2] & 0xFF) << 16; // fall through
      case 2: a += (k[i + 1] & 0xFF) << 8; // fall through
      case 1: a += k[i] & 0xFF; // fall through
      default: // 0: nothing left
    }
    c ^= b; c -= Integer.rotateLeft(b, 14);
    a ^= c; a -= Integer.rotateLeft(c, 11);
    b ^= a; b -= Integer.rotateLeft(a, 25);
    c ^= b; c -= Integer.rotateLeft(b, 16);
    a ^= c; a -= Integer.rotateLeft(c, 4);
    b ^= a; b -= Integer.rotateLeft(a, 14);
    c ^= b; c -= Integer.rotateLeft(b, 24);
    return ((long) b << 32) | (c & 0xFFFFFFFFL);
  }

  private static int le32(byte[] k, int i) {
    return (k[i] & 0xFF) | (k[i + 1] & 0xFF) << 8 | (k[i + 2] & 0xFF) << 16 | (k[i + 3] & 0xFF) << 24;
  }
}
