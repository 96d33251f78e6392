package dev.partwright.commandstore;

import dev.partwright.schemas.AggregateBody;
import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.schemas.PendingCommand;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.specific.SpecificDatumReader;

/**
 * Reads an encoded {@link AggregateBody} (Avro binary, as a snapshot holds it) straight into an
 * aggregate's command table: the idempotency keys go from the snapshot's bytes into the table's
 * arena as they are, with no {@code String}, boxed offset or list built on the way. Replay from a
 * snapshot decodes the body of every aggregate its tail touches, hundreds of keys each, and through
 * Avro's datum reader that was most of the tail's cost. The few pending commands are read by Avro.
 * {@code BodyReaderTest} checks it against Avro's reader, blocked arrays included.
 */
final class BodyReader {

  private static final SpecificDatumReader<PendingCommand> PENDING;

  static {
    PartwrightSerdes.trustContracts(); // Avro 1.12 instantiates only trusted classes
    PENDING = new SpecificDatumReader<>(PendingCommand.class);
  }

  private final byte[] a;
  private final int end;
  private int pos;

  private BodyReader(ByteBuffer body) {
    a = body.array();
    pos = body.arrayOffset() + body.position();
    end = pos + body.remaining();
  }

  /**
   * The body's commands (key to offset, in the body's order) in a table sized for them, its pending
   * commands added to {@code pending}; corrupt bytes throw.
   */
  static ByteTable read(ByteBuffer body, List<PendingCommand> pending) {
    if (!body.hasArray()) {
      throw new IllegalArgumentException("an aggregate body on the heap is expected");
    }
    return new BodyReader(body).into(pending);
  }

  private ByteTable into(List<PendingCommand> pending) {
    // commandKeys: array<string>, positions kept until the offsets (the next array) are read
    int[] keys = new int[16]; // start, length pairs
    int n = 0;
    for (long block = blockCount(); block != 0; block = blockCount()) {
      for (long i = 0; i < block; i++) {
        long length = readLong();
        if (length < 0 || length > end - pos) {
          throw corrupt("a command key of " + length + " bytes");
        }
        if (2 * n + 2 > keys.length) {
          keys = Arrays.copyOf(keys, keys.length * 2);
        }
        keys[2 * n] = pos;
        keys[2 * n + 1] = (int) length;
        n++;
        pos += (int) length;
      }
    }
    // commandOffsets: array<long>, one per key
    int bytes = 0;
    for (int i = 0; i < n; i++) {
      bytes += keys[2 * i + 1];
    }
    ByteTable commands = new ByteTable(n, bytes + n * 12); // per entry: state, two lengths, a varint offset
    int k = 0;
    for (long block = blockCount(); block != 0; block = blockCount()) {
      for (long i = 0; i < block; i++) {
        long offset = readLong();
        if (k == n) {
          throw corrupt("more command offsets than keys (" + n + ")");
        }
        PartitionCatalog.Aggregate.putCommand(commands, a, keys[2 * k], keys[2 * k + 1], offset);
        k++;
      }
    }
    if (k != n) {
      throw corrupt(n + " command keys but " + k + " offsets");
    }
    // pending: array<PendingCommand>, a handful at most
    BinaryDecoder d = DecoderFactory.get().binaryDecoder(a, pos, end - pos, null);
    try {
      for (long block = d.readArrayStart(); block != 0; block = d.arrayNext()) {
        for (long i = 0; i < block; i++) {
          pending.add(PENDING.read(null, d));
        }
      }
    } catch (IOException | RuntimeException e) {
      throw new CommandStoreException("corrupt aggregate state in a snapshot: pending commands: " + e.getMessage(), e);
    }
    return commands;
  }

  /** An array block's item count (0 ends the array); a negative count is followed by the block's size in bytes. */
  private long blockCount() {
    long count = readLong();
    if (count < 0) {
      readLong();
      count = -count;
    }
    return count;
  }

  /** A zig-zag varint. */
  private long readLong() {
    long z = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (pos >= end) {
        throw corrupt("truncated");
      }
      byte b = a[pos++];
      z |= (long) (b & 0x7F) << shift;
      if (b >= 0) {
        return (z >>> 1) ^ -(z & 1);
      }
    }
    throw corrupt("a varint longer than 10 bytes");
  }

  private static CommandStoreException corrupt(String what) {
    return new CommandStoreException("corrupt aggregate state in a snapshot: " + what);
  }
}
