package dev.partwright.commandstore;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** {@link ByteTable} behaves as a {@code LinkedHashMap} of strings, through growth, removals and compaction. */
class ByteTableTest {

  @Test
  void behavesAsAnInsertionOrderedMapThroughGrowthRemovalsAndCompaction() {
    Random random = new Random(42);
    ByteTable table = new ByteTable();
    Map<String, String> model = new LinkedHashMap<>();
    for (int step = 0; step < 200_000; step++) {
      // a small key space so that keys come back after removal; long shared prefixes like real keys
      String key = "tenant-" + random.nextInt(50) + "/app.événements#" + random.nextInt(60);
      byte[] k = key.getBytes(StandardCharsets.UTF_8);
      if (random.nextInt(3) == 0) {
        assertThat(table.remove(k, 0, k.length)).isEqualTo(model.remove(key) != null);
      } else {
        String value = "v" + step + "x".repeat(random.nextInt(40));
        AvroOut out = table.beginIfAbsent(k, 0, k.length);
        assertThat(out == null).isEqualTo(model.containsKey(key));
        if (out != null && random.nextInt(50) == 0) {
          out.writeString("half a value");
          table.abandon(); // as when a value cannot be encoded
        } else if (out != null) {
          out.writeString(value);
          table.endValue();
          model.put(key, value);
        }
      }
      if (step % 10_000 == 0) {
        assertSame(table, model);
      }
    }
    assertSame(table, model);
  }

  private static void assertSame(ByteTable table, Map<String, String> model) {
    assertThat(table.entries()).isEqualTo(model.size());
    List<String> keys = new ArrayList<>();
    for (int e = table.first(); e >= 0; e = table.after(e)) {
      String key = table.keyString(e);
      keys.add(key);
      byte[] value = table.value(e);
      assertThat(AvroOut.readLong(value, 0)).isEqualTo(model.get(key).getBytes(StandardCharsets.UTF_8).length);
      byte[] k = key.getBytes(StandardCharsets.UTF_8);
      assertThat(table.find(k, 0, k.length)).isEqualTo(e);
    }
    assertThat(keys).containsExactlyElementsOf(model.keySet());
    byte[] absent = "absent".getBytes(StandardCharsets.UTF_8);
    assertThat(table.find(absent, 0, absent.length)).isEqualTo(-1);
  }
}
