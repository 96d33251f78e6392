package dev.partwright.commandstore;

import static org.assertj.core.api.Assertions.assertThat;

import dev.partwright.schemas.Bounds;
import dev.partwright.schemas.DateValue;
import dev.partwright.schemas.DefaultBound;
import dev.partwright.schemas.HashBound;
import dev.partwright.schemas.Int32Value;
import dev.partwright.schemas.Int64Value;
import dev.partwright.schemas.ListBound;
import dev.partwright.schemas.LivePartition;
import dev.partwright.schemas.PartitionKey;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.schemas.RangeBound;
import dev.partwright.schemas.Strategy;
import dev.partwright.schemas.TextValue;
import dev.partwright.schemas.TimestampTzValue;
import dev.partwright.schemas.Unbounded;
import dev.partwright.schemas.UuidValue;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/** The hand-written live partition encoding is exactly Avro's encoding of {@link LivePartition}. */
class LivePartitionEncodingTest {

  static {
    PartwrightSerdes.trustContracts();
  }

  @Test
  void partitionsOfEveryShapeEncodeByteForByteAsAvroWritesThem() {
    List<Instant> instants = List.of(Instant.EPOCH, Instant.parse("2026-03-01T12:34:56.789012Z"),
        Instant.EPOCH.minusNanos(1_000), Instant.parse("1901-12-13T20:45:52.000001Z"), Instant.parse("9999-12-31T23:59:59.999999Z"));
    List<List<Object>> ranges = List.of(
        List.of(),
        List.of(new TimestampTzValue(Instant.parse("2026-01-01T00:00:00Z"))),
        List.of(new DateValue(LocalDate.of(1969, 12, 31)), new DateValue(LocalDate.of(2400, 2, 29)), new DateValue(LocalDate.MAX),
            new DateValue(LocalDate.MIN)),
        List.of(new Int64Value(Long.MIN_VALUE), new Int64Value(Long.MAX_VALUE), new Int64Value(0L), new Int64Value(-64L)),
        List.of(new Int32Value(Integer.MIN_VALUE), new Int32Value(Integer.MAX_VALUE), new Int32Value(63)),
        List.of(new TextValue(""), new TextValue("ünïcode – ✓ 𝄞"), new TextValue("x".repeat(300))),
        List.of(new UuidValue(UUID.fromString("0f8fad5b-d9cb-469f-a165-70867728950e"))),
        List.of(Unbounded.MINVALUE, Unbounded.MAXVALUE));
    List<PartitionSpec> specs = new ArrayList<>();
    for (List<Object> from : ranges) {
      for (List<Object> to : ranges) {
        specs.add(spec("app", "events_" + specs.size(), new RangeBound(from, to)));
      }
    }
    specs.add(spec("", "", Bounds.timeRange(Instant.EPOCH, Instant.EPOCH.plusSeconds(1))));
    specs.add(spec("schéma", "t_ß_" + "y".repeat(200), Bounds.timeRange(instants.get(3), instants.get(4))));
    // shapes written by Avro itself
    specs.add(spec("app", "h", new HashBound(8, 3)));
    specs.add(spec("app", "l", new ListBound(List.of(new TextValue("é"), new Int32Value(-7)), true)));
    specs.add(spec("app", "d", new DefaultBound()));
    specs.add(PartitionSpec.newBuilder(spec("app", "c", Bounds.timeRange(Instant.EPOCH, Instant.EPOCH.plusSeconds(1))))
        .setSubpartitionBy(new PartitionKey(Strategy.HASH, List.of("tenant_id"), List.of("text"))).build());

    List<String> keys = List.of("", "k1", "tenant-1/app.events#7", "clé – ✓", "k".repeat(200));
    long[] offsets = {0, 1, 63, 64, -1, Long.MAX_VALUE, Long.MIN_VALUE, 1L << 40};
    int i = 0;
    AvroOut out = new AvroOut(16);
    for (PartitionSpec s : specs) {
      for (String key : keys) {
        long offset = offsets[i % offsets.length];
        Instant at = instants.get(i % instants.size());
        i++;
        byte[] utf8 = key.getBytes(StandardCharsets.UTF_8);
        out.reset();
        out.writeByte(0x5A); // what is already in the buffer stays
        LivePartitionEncoding.write(out, s, utf8, utf8.length, offset, at);
        byte[] avro = LivePartitionEncoding.withAvro(new LivePartition(s, key, offset, at));
        assertThat(out.toByteArray()).as("%s, %s, %d, %s", s, key, offset, at)
            .startsWith((byte) 0x5A).hasSize(avro.length + 1).endsWith(avro);
      }
    }
  }

  private static PartitionSpec spec(String schema, String name, Object bound) {
    return PartitionSpec.newBuilder().setParent(schema + ".parent").setSchemaName(schema).setName(name).setBound(bound)
        .build();
  }
}
