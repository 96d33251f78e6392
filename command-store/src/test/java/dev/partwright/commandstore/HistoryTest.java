package dev.partwright.commandstore;

import static org.assertj.core.api.Assertions.assertThat;

import dev.partwright.schemas.EntryKind;
import dev.partwright.schemas.EntryVerdict;
import dev.partwright.schemas.HistoryEntry;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.List;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.specific.SpecificDatumWriter;
import org.junit.jupiter.api.Test;

/** The hand-written history encoding is exactly Avro's encoding of {@link HistoryEntry}. */
class HistoryTest {

  @Test
  void entriesAreByteForByteWhatAvroWrites() throws Exception {
    Instant at = Instant.parse("2026-03-01T12:34:56.789012Z");
    List<HistoryEntry> entries = List.of(
        new HistoryEntry(0L, at, EntryKind.PROVISION_PARTITIONS, EntryVerdict.APPLIED, "k1", "demand-topology",
            "buffer below 2 days – ünïcode", List.of("app.events_d0", "app.events_d1"), 1L),
        new HistoryEntry(-1L, Instant.EPOCH.minusMillis(1), EntryKind.ROLLED_BACK, EntryVerdict.DUPLICATE, "", "", "",
            List.of(), Long.MAX_VALUE),
        new HistoryEntry(123_456_789_012L, at, EntryKind.FAILED, EntryVerdict.VERSION_CONFLICT, "k2", "w", "x",
            List.of("s.p"), 7L));
    History history = new History();
    history.begin(0, at, EntryKind.PROVISION_PARTITIONS, EntryVerdict.APPLIED, "k1", "demand-topology",
        "buffer below 2 days – ünïcode", 2);
    history.partition("app", "events_d0");
    history.partition("app.events_d1");
    history.end(1);
    history.begin(-1, Instant.EPOCH.minusMillis(1), EntryKind.ROLLED_BACK, EntryVerdict.DUPLICATE, "", null, null, 0);
    history.end(Long.MAX_VALUE);
    history.begin(123_456_789_012L, at, EntryKind.FAILED, EntryVerdict.VERSION_CONFLICT, "k2", "w", "x", 1);
    history.partition("s", "p");
    history.end(7);

    ByteArrayOutputStream avro = new ByteArrayOutputStream();
    BinaryEncoder e = EncoderFactory.get().directBinaryEncoder(avro, null);
    SpecificDatumWriter<HistoryEntry> writer = new SpecificDatumWriter<>(HistoryEntry.class);
    for (HistoryEntry entry : entries) {
      writer.write(entry, e);
    }

    assertThat(history.encoded()).isEqualTo(ByteBuffer.wrap(avro.toByteArray()));
    assertThat(history.decode()).isEqualTo(entries);
    History loaded = History.ofDeflated(history.deflated(), history.count());
    assertThat(loaded.decode()).isEqualTo(entries);
    assertThat(loaded.deflated()).as("untouched snapshot bytes go back as they came").isEqualTo(history.deflated());
    loaded.begin(9, at, EntryKind.REJECTED, EntryVerdict.APPLIED, "k3", "", "quota", 0);
    loaded.end(8);
    assertThat(loaded.decode()).hasSize(4).startsWith(entries.toArray(HistoryEntry[]::new));
  }
}
