package dev.partwright.commandstore;

import dev.partwright.schemas.EntryKind;
import dev.partwright.schemas.EntryVerdict;
import dev.partwright.schemas.HistoryEntry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DatumReader;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.specific.SpecificDatumReader;

/**
 * An aggregate's history, kept as Avro binary {@link HistoryEntry} records back to back, as a
 * snapshot stores them (compressed there): loading a snapshot keeps its bytes as they are, and
 * history nobody reads is never decoded. Append-only, like the log it summarises.
 *
 * <p>Entries are written field by field in the schema's order ({@link AvroOut}: zig-zag varints,
 * length-prefixed UTF-8, one array block) instead of through a datum writer: this runs once per log record on
 * replay, and building and reflecting over a {@link HistoryEntry} there cost more than the rest of
 * the fold. {@code HistoryTest} checks the bytes against Avro's own encoding.
 */
final class History extends AvroOut {

  /**
   * Entries loaded from a snapshot, still compressed as the snapshot holds them (shared with it,
   * never copied), or null for a history that began empty. Inflated only to be read.
   */
  private final ByteBuffer base;
  // entries appended since are this buffer's bytes
  private long count;

  History() {
    this(null, 0);
  }

  private History(ByteBuffer base, long count) {
    this.base = base;
    this.count = count;
  }

  /** History over a snapshot's compressed entries, without copying them; appends go to a buffer of their own. */
  static History ofDeflated(ByteBuffer deflated, long count) {
    return new History(deflated.slice(), count);
  }

  /** Starts an entry: every field up to the partitions array, which has {@code partitions} items. */
  void begin(long offset, Instant at, EntryKind kind, EntryVerdict verdict, String key, String actor, String reason,
      int partitions) {
    byte[] utf8 = key.getBytes(StandardCharsets.UTF_8);
    begin(offset, at, kind, verdict, utf8, utf8.length, actor, reason, partitions);
  }

  /** {@link #begin(long, Instant, EntryKind, EntryVerdict, String, String, String, int)} with the key in UTF-8. */
  void begin(long offset, Instant at, EntryKind kind, EntryVerdict verdict, byte[] keyUtf8, int keyLength, String actor,
      String reason, int partitions) {
    writeLong(offset);
    writeLong(Math.addExact(Math.multiplyExact(at.getEpochSecond(), 1_000_000L), at.getNano() / 1_000));
    writeLong(kind.ordinal());
    writeLong(verdict.ordinal());
    writeString(keyUtf8, 0, keyLength);
    writeString(actor == null ? "" : actor);
    writeString(reason == null ? "" : reason);
    if (partitions > 0) {
      writeLong(partitions);
    }
  }

  /** One item of the partitions array, {@code schema.name}. */
  void partition(String schema, String name) {
    writeString(schema + "." + name);
  }

  void partition(String qualified) {
    writeString(qualified);
  }

  /** One item of the partitions array, a qualified name in UTF-8. */
  void partition(byte[] utf8, int length) {
    writeString(utf8, 0, length);
  }

  /** Ends the entry begun last. */
  void end(long version) {
    writeLong(0); // end of the partitions array (or the whole of an empty one)
    writeLong(version);
    count++;
  }

  /** Entries ({@link #size()} is the bytes appended since the snapshot). */
  long count() {
    return count;
  }

  /** The encoded entries, oldest first, uncompressed. */
  ByteBuffer encoded() {
    byte[] own = array();
    int size = size();
    if (base == null) {
      return ByteBuffer.wrap(own, 0, size).slice();
    }
    byte[] old = Deflated.inflate(base);
    if (size == 0) {
      return ByteBuffer.wrap(old);
    }
    ByteBuffer all = ByteBuffer.allocate(old.length + size);
    all.put(old).put(own, 0, size).flip();
    return all;
  }

  /** The entries as a snapshot stores them: compressed; untouched snapshot bytes are handed back as they came. */
  ByteBuffer deflated() {
    if (base != null && size() == 0) {
      return base.duplicate();
    }
    return ByteBuffer.wrap(Deflated.deflate(encoded()));
  }

  List<HistoryEntry> decode() {
    ByteBuffer all = encoded();
    DatumReader<HistoryEntry> reader = new SpecificDatumReader<>(HistoryEntry.class);
    BinaryDecoder d = DecoderFactory.get().binaryDecoder(all.array(), all.arrayOffset() + all.position(),
        all.remaining(), null);
    List<HistoryEntry> out = new ArrayList<>((int) Math.min(count, Integer.MAX_VALUE));
    try {
      for (long i = 0; i < count; i++) {
        out.add(reader.read(null, d));
      }
    } catch (IOException e) {
      throw new UncheckedIOException("corrupt history bytes", e);
    }
    return out;
  }
}
