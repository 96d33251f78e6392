package dev.partwright.commandstore;

import dev.partwright.schemas.DateValue;
import dev.partwright.schemas.Int32Value;
import dev.partwright.schemas.Int64Value;
import dev.partwright.schemas.LivePartition;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.RangeBound;
import dev.partwright.schemas.TextValue;
import dev.partwright.schemas.TimestampTzValue;
import dev.partwright.schemas.Unbounded;
import dev.partwright.schemas.UuidValue;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Instant;
import java.util.List;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificDatumWriter;

/**
 * The Avro binary encoding of a {@link LivePartition}, as the catalog keeps each live partition.
 * A plain range partition (a {@link RangeBound}, not subpartitioned: what range-managed tables
 * provision every day) is written field by field in the schema's order, without building a
 * LivePartition: on replay this runs for every partition every outcome creates, and the datum
 * writer's reflection cost more than the rest of the outcome's fold. Every other shape goes
 * through Avro's own writer. {@code LivePartitionEncodingTest} checks the bytes are Avro's.
 */
final class LivePartitionEncoding {

  private static final SpecificDatumWriter<LivePartition> WRITER = new SpecificDatumWriter<>(LivePartition.class);
  /** Union branch indexes of PartitionSpec.bound and of a RangeBound value, in the schema's order. */
  private static final int RANGE_BOUND = 0;
  private static final int TIMESTAMP = 0;
  private static final int DATE = 1;
  private static final int INT64 = 2;
  private static final int INT32 = 3;
  private static final int TEXT = 4;
  private static final int UUID = 5;
  private static final int UNBOUNDED = 6;
  /** PartitionSpec.subpartitionBy's null branch. */
  private static final int NULL = 0;

  private LivePartitionEncoding() {}

  /** Appends {@code new LivePartition(spec, key, commandOffset, at)} to {@code out}. */
  static void write(AvroOut out, PartitionSpec spec, byte[] keyUtf8, int keyLength, long commandOffset, Instant at) {
    int start = out.size();
    if (!(spec.getBound() instanceof RangeBound range) || spec.getSubpartitionBy() != null
        || !writePlainRange(out, spec, range)) {
      out.truncate(start);
      String key = new String(keyUtf8, 0, keyLength, java.nio.charset.StandardCharsets.UTF_8);
      byte[] avro = withAvro(new LivePartition(spec, key, commandOffset, at));
      out.writeRaw(avro, 0, avro.length);
      return;
    }
    out.writeString(keyUtf8, 0, keyLength);
    out.writeLong(commandOffset);
    out.writeLong(micros(at));
  }

  /** The spec of a range partition; false (output partly written) for a value type this does not know. */
  private static boolean writePlainRange(AvroOut out, PartitionSpec spec, RangeBound range) {
    out.writeString(spec.getParent());
    out.writeString(spec.getSchemaName());
    out.writeString(spec.getName());
    out.writeLong(RANGE_BOUND);
    if (!writeValues(out, range.getFrom()) || !writeValues(out, range.getTo())) {
      return false;
    }
    out.writeLong(NULL);
    return true;
  }

  private static boolean writeValues(AvroOut out, List<Object> values) {
    if (!values.isEmpty()) {
      out.writeLong(values.size());
    }
    for (Object v : values) {
      if (v instanceof TimestampTzValue t) {
        out.writeLong(TIMESTAMP);
        out.writeLong(micros(t.getMicros()));
      } else if (v instanceof DateValue d) {
        out.writeLong(DATE);
        out.writeLong((int) d.getDate().toEpochDay()); // truncated as Avro's date conversion does
      } else if (v instanceof Int64Value l) {
        out.writeLong(INT64);
        out.writeLong(l.getValue());
      } else if (v instanceof Int32Value i) {
        out.writeLong(INT32);
        out.writeLong(i.getValue());
      } else if (v instanceof TextValue s) {
        out.writeLong(TEXT);
        out.writeString(s.getValue());
      } else if (v instanceof UuidValue u) {
        out.writeLong(UUID);
        out.writeString(u.getValue().toString());
      } else if (v instanceof Unbounded u) {
        out.writeLong(UNBOUNDED);
        out.writeLong(u.ordinal());
      } else {
        return false;
      }
    }
    out.writeLong(0); // end of the array (or the whole of an empty one)
    return true;
  }

  /** timestamp-micros as Avro's conversion computes it. */
  private static long micros(Instant at) {
    long seconds = at.getEpochSecond();
    int nanos = at.getNano();
    if (seconds < 0 && nanos > 0) {
      return Math.addExact(Math.multiplyExact(seconds + 1, 1_000_000L), nanos / 1_000L - 1_000_000L);
    }
    return Math.addExact(Math.multiplyExact(seconds, 1_000_000L), nanos / 1_000L);
  }

  /** Avro's own encoding, for the shapes written above and every other one. */
  static byte[] withAvro(LivePartition p) {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream(128);
    BinaryEncoder e = EncoderFactory.get().directBinaryEncoder(bytes, null);
    try {
      WRITER.write(p, e);
    } catch (IOException ex) {
      throw new UncheckedIOException(ex);
    }
    return bytes.toByteArray();
  }
}
