package dev.partwright.commandstore;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.zip.DataFormatException;
import java.util.zip.Deflater;
import java.util.zip.Inflater;

/**
 * The compressed parts of a snapshot (history, live partitions): raw DEFLATE at its fastest level.
 * They are compressed in the catalog itself, not only on the wire, because replay from a snapshot
 * never reads them: the less there is to fetch and copy, the faster the catalog is back.
 */
final class Deflated {

  private Deflated() {}

  static byte[] deflate(ByteBuffer raw) {
    Deflater d = new Deflater(Deflater.BEST_SPEED, true);
    try {
      d.setInput(raw.duplicate());
      d.finish();
      ByteArrayOutputStream out = new ByteArrayOutputStream(Math.max(64, raw.remaining() / 4));
      byte[] chunk = new byte[64 * 1024];
      while (!d.finished()) {
        int n = d.deflate(chunk);
        out.write(chunk, 0, n);
      }
      return out.toByteArray();
    } finally {
      d.end();
    }
  }

  static byte[] inflate(ByteBuffer compressed) {
    Inflater i = new Inflater(true);
    try {
      i.setInput(compressed.duplicate());
      ByteArrayOutputStream out = new ByteArrayOutputStream(Math.max(64, compressed.remaining() * 4));
      byte[] chunk = new byte[64 * 1024];
      while (!i.finished()) {
        int n = i.inflate(chunk);
        if (n == 0 && (i.needsInput() || i.needsDictionary())) {
          throw new CommandStoreException("truncated compressed state in a snapshot");
        }
        out.write(chunk, 0, n);
      }
      return out.toByteArray();
    } catch (DataFormatException e) {
      throw new CommandStoreException("corrupt compressed state in a snapshot: " + e.getMessage(), e);
    } finally {
      i.end();
    }
  }
}
