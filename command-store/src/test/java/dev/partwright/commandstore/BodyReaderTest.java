package dev.partwright.commandstore;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.partwright.schemas.AggregateBody;
import dev.partwright.schemas.AggregateId;
import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.schemas.PendingCommand;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificDatumReader;
import org.apache.avro.specific.SpecificDatumWriter;
import org.junit.jupiter.api.Test;

/** {@link BodyReader} reads what Avro's own reader reads, from bytes written whole or in blocks. */
class BodyReaderTest {

  static {
    PartwrightSerdes.trustContracts();
  }

  private static final SpecificDatumWriter<AggregateBody> WRITER = new SpecificDatumWriter<>(AggregateBody.class);
  private static final SpecificDatumReader<AggregateBody> READER = new SpecificDatumReader<>(AggregateBody.class);

  @Test
  void readsTheSameCommandsAndPendingAsAvroWholeOrBlocked() throws IOException {
    Random random = new Random(7);
    AggregateId a = Fixtures.aggregate("tenant-1", "events");
    for (int round = 0; round < 300; round++) {
      int n = round == 0 ? 0 : random.nextInt(400);
      List<String> keys = new ArrayList<>();
      List<Long> offsets = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        // long shared prefixes like real keys, some not ASCII, offsets of every varint length
        keys.add("provision/" + a + "/" + (random.nextInt(5) == 0 ? "événement-" : "day-") + i + "-" + random.nextInt(1000));
        offsets.add(random.nextInt(4) == 0 ? random.nextLong() & Long.MAX_VALUE : random.nextInt(1 << 20));
      }
      List<PendingCommand> pending = new ArrayList<>();
      for (int i = random.nextInt(3); i > 0; i--) {
        pending.add(new PendingCommand((long) random.nextInt(1_000_000), Fixtures.provision(a, "k" + i, i, i + 1)));
      }
      AggregateBody body = new AggregateBody(keys, offsets, pending);
      byte[] whole = encode(body, false, 0);
      for (boolean blocked : new boolean[] {false, true}) {
        byte[] bytes = blocked ? encode(body, true, 1 + random.nextInt(200)) : whole;
        if (blocked && n > 0) {
          assertThat(bytes).as("blocked arrays (negative counts and sizes)").isNotEqualTo(whole);
        }
        AggregateBody expected = READER.read(null, DecoderFactory.get().binaryDecoder(bytes, null));
        List<PendingCommand> readPending = new ArrayList<>();
        ByteTable table = BodyReader.read(ByteBuffer.wrap(bytes), readPending);

        List<String> readKeys = new ArrayList<>();
        List<Long> readOffsets = new ArrayList<>();
        for (int e = table.first(); e >= 0; e = table.after(e)) {
          readKeys.add(table.keyString(e));
          readOffsets.add(AvroOut.readLong(table.array(), table.valueAt(e)));
        }
        assertThat(readKeys).isEqualTo(expected.getCommandKeys().stream().map(Object::toString).toList());
        assertThat(readOffsets).isEqualTo(expected.getCommandOffsets());
        assertThat(readPending).isEqualTo(expected.getPending());
      }
    }
  }

  @Test
  void corruptBodiesAreRefusedWithTheReason() throws IOException {
    AggregateId a = Fixtures.aggregate("tenant-1", "events");
    byte[] bytes = encode(new AggregateBody(List.of("k1", "k2"), List.of(10L, 20L), List.of()), false, 0);
    assertThatThrownBy(() -> BodyReader.read(ByteBuffer.wrap(Arrays.copyOf(bytes, 5)), new ArrayList<>()))
        .isInstanceOf(CommandStoreException.class).hasMessageContaining("corrupt aggregate state");
    byte[] moreOffsets = encode(new AggregateBody(List.of("k1"), List.of(10L, 20L), List.of()), false, 0);
    assertThatThrownBy(() -> BodyReader.read(ByteBuffer.wrap(moreOffsets), new ArrayList<>()))
        .isInstanceOf(CommandStoreException.class).hasMessageContaining("more command offsets than keys");
    byte[] fewerOffsets = encode(new AggregateBody(List.of("k1", "k2"), List.of(10L), List.of()), false, 0);
    assertThatThrownBy(() -> BodyReader.read(ByteBuffer.wrap(fewerOffsets), new ArrayList<>()))
        .isInstanceOf(CommandStoreException.class).hasMessageContaining("2 command keys but 1 offsets");
    byte[] pending = encode(new AggregateBody(List.of(), List.of(),
        List.of(new PendingCommand(1L, Fixtures.provision(a, "k", 1)))), false, 0);
    assertThatThrownBy(() -> BodyReader.read(ByteBuffer.wrap(Arrays.copyOf(pending, pending.length - 3)), new ArrayList<>()))
        .isInstanceOf(CommandStoreException.class).hasMessageContaining("pending commands");
  }

  private static byte[] encode(AggregateBody body, boolean blocked, int blockBytes) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    // the blocking encoder writes arrays as blocks of negative counts followed by their size in bytes
    BinaryEncoder e = blocked ? new EncoderFactory().configureBlockSize(Math.max(64, blockBytes)).blockingBinaryEncoder(out, null)
        : EncoderFactory.get().directBinaryEncoder(out, null);
    WRITER.write(body, e);
    e.flush();
    return out.toByteArray();
  }
}
