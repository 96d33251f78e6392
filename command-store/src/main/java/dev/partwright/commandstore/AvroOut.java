package dev.partwright.commandstore;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * A growable byte array that Avro binary primitives are written into (zig-zag varints,
 * length-prefixed UTF-8), the way Avro's {@code BinaryEncoder} writes them. The fold writes its
 * history entries, live partitions and command keys with it, straight where they are kept, instead
 * of building records for a datum writer to reflect over once per log record.
 *
 * <p>Not final: {@link History} and {@link ByteTable} are buffers of this kind themselves rather
 * than holding one, because replay touches a different aggregate at each record and every
 * reference followed from the aggregate to the bytes is one more cache miss.
 */
class AvroOut {

  private static final byte[] EMPTY = new byte[0];

  private byte[] buf;
  private int size;

  AvroOut(int capacity) {
    buf = new byte[Math.max(16, capacity)];
  }

  /** Empty, and no array until the first write. */
  AvroOut() {
    buf = EMPTY;
  }

  int size() {
    return size;
  }

  /** The backing array; valid up to {@link #size()}, and only until the next write. */
  byte[] array() {
    return buf;
  }

  void reset() {
    size = 0;
  }

  /** Forgets everything written from {@code size} on. */
  void truncate(int size) {
    this.size = size;
  }

  byte[] toByteArray() {
    return Arrays.copyOf(buf, size);
  }

  void writeLong(long n) {
    ensure(10);
    long z = (n << 1) ^ (n >> 63);
    while ((z & ~0x7FL) != 0) {
      buf[size++] = (byte) ((z & 0x7F) | 0x80);
      z >>>= 7;
    }
    buf[size++] = (byte) z;
  }

  /** An Avro string: its UTF-8 length, then the bytes. */
  void writeString(String s) {
    int lengthAt = size;
    writeLong(s.length()); // right when the string is ASCII, the common case; else rewritten below
    if (!writeAscii(s)) {
      size = lengthAt;
      byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
      writeLong(utf8.length);
      writeRaw(utf8, 0, utf8.length);
    }
  }

  /** An Avro string of bytes already in UTF-8. */
  void writeString(byte[] utf8, int offset, int length) {
    writeLong(length);
    writeRaw(utf8, offset, length);
  }

  /** The UTF-8 bytes of {@code s}, without a length. */
  void writeUtf8(String s) {
    if (!writeAscii(s)) {
      byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
      writeRaw(utf8, 0, utf8.length);
    }
  }

  void writeByte(int b) {
    ensure(1);
    buf[size++] = (byte) b;
  }

  void writeRaw(byte[] bytes, int offset, int length) {
    ensure(length);
    System.arraycopy(bytes, offset, buf, size, length);
    size += length;
  }

  /** A fixed 4-byte big-endian int: framing of our own, not Avro. */
  void writeFixedInt(int value) {
    ensure(4);
    putFixedInt(size, value);
    size += 4;
  }

  /** Overwrites the fixed int at {@code at} (a length known only after what follows it was written). */
  void putFixedInt(int at, int value) {
    buf[at] = (byte) (value >>> 24);
    buf[at + 1] = (byte) (value >>> 16);
    buf[at + 2] = (byte) (value >>> 8);
    buf[at + 3] = (byte) value;
  }

  static int fixedInt(byte[] b, int at) {
    return (b[at] & 0xFF) << 24 | (b[at + 1] & 0xFF) << 16 | (b[at + 2] & 0xFF) << 8 | (b[at + 3] & 0xFF);
  }

  /** Reads a zig-zag varint at {@code at}. */
  static long readLong(byte[] b, int at) {
    long z = 0;
    int shift = 0;
    byte x;
    do {
      x = b[at++];
      z |= (long) (x & 0x7F) << shift;
      shift += 7;
    } while (x < 0);
    return (z >>> 1) ^ -(z & 1);
  }

  /** Copies {@code s} as one byte per char when it is all ASCII; writes nothing and returns false otherwise. */
  private boolean writeAscii(String s) {
    int n = s.length();
    ensure(n);
    int start = size;
    for (int i = 0; i < n; i++) {
      char c = s.charAt(i);
      if (c >= 0x80) {
        size = start;
        return false;
      }
      buf[start + i] = (byte) c;
    }
    size = start + n;
    return true;
  }

  private void ensure(int more) {
    if (size + more > buf.length) {
      buf = Arrays.copyOf(buf, Math.max(Math.max(buf.length * 2, 64), size + more));
    }
  }

  /** Takes {@code other}'s bytes as its own (other must not be written to again). */
  void replaceWith(AvroOut other) {
    buf = other.buf;
    size = other.size;
  }
}
