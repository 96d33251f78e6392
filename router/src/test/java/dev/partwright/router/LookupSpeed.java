package dev.partwright.router;

import static dev.partwright.router.Changes.BY_TIME;
import static dev.partwright.router.Changes.added;
import static dev.partwright.router.Changes.hash;
import static dev.partwright.router.Changes.key;
import static dev.partwright.router.Changes.time;

import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.PartitionKey;
import dev.partwright.schemas.Strategy;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * A rough lookup-speed check (not JMH; {@code bench/} owns the real benchmark): 10,000 hourly range
 * partitions resolved by the router beside the seed's linear scan over the same bounds, and hash
 * routing for bigint and text keys. Run after {@code mvn -pl router test-compile} with
 * {@code mvn -q -pl router dependency:build-classpath -Dmdep.outputFile=/tmp/cp.txt} and
 * {@code java -cp router/target/test-classes:router/target/classes:$(cat /tmp/cp.txt) dev.partwright.router.LookupSpeed}.
 */
public final class LookupSpeed {

  private LookupSpeed() {}

  public static void main(String[] args) {
    int n = 10_000;
    PartitionRouter router = new PartitionRouter();
    List<BoundaryChange> changes = new ArrayList<>();
    Instant start = Instant.parse("2020-01-01T00:00:00Z");
    long[] lowers = new long[n];
    long[] uppers = new long[n];
    String[] names = new String[n];
    for (int i = 0; i < n; i++) {
      Instant from = start.plus(Duration.ofHours(i));
      names[i] = "public.events_h" + i;
      lowers[i] = KeyColumn.micros(from);
      uppers[i] = KeyColumn.micros(from.plus(Duration.ofHours(1)));
      changes.add(added(i, "public.events", BY_TIME, names[i], time(from.toString(), from.plus(Duration.ofHours(1)).toString())));
    }
    router.applyAll(changes);
    Random random = new Random(1);
    Instant[] probes = new Instant[1 << 16];
    long[] probeMicros = new long[probes.length];
    for (int i = 0; i < probes.length; i++) {
      probes[i] = start.plusSeconds(random.nextInt(n * 3600));
      probeMicros[i] = KeyColumn.micros(probes[i]);
    }
    PartitionKey byId = key(Strategy.HASH, "id", "bigint");
    PartitionKey byName = key(Strategy.HASH, "name", "text");
    List<BoundaryChange> hashes = new ArrayList<>();
    for (int r = 0; r < 64; r++) {
      hashes.add(added(1, "public.by_id", byId, "public.by_id_" + r, hash(64, r)));
      hashes.add(added(1, "public.by_name", byName, "public.by_name_" + r, hash(64, r)));
    }
    router.applyAll(hashes);
    Long[] ids = new Long[probes.length];
    String[] texts = new String[probes.length];
    for (int i = 0; i < probes.length; i++) {
      ids[i] = random.nextLong();
      texts[i] = "customer-" + random.nextInt(1_000_000);
    }
    for (int round = 0; round < 5; round++) {
      long sink = 0;
      int lookups = 4_000_000;
      long t0 = System.nanoTime();
      for (int i = 0; i < lookups; i++) {
        sink += router.resolve("public.events", probes[i & (probes.length - 1)]).length();
      }
      long routerNanos = System.nanoTime() - t0;
      int scans = 40_000;
      t0 = System.nanoTime();
      for (int i = 0; i < scans; i++) {
        long k = probeMicros[i & (probes.length - 1)];
        for (int j = 0; j < n; j++) {
          if (k >= lowers[j] && k < uppers[j]) {
            sink += names[j].length();
            break;
          }
        }
      }
      long scanNanos = System.nanoTime() - t0;
      t0 = System.nanoTime();
      for (int i = 0; i < lookups; i++) {
        sink += router.resolve("public.by_id", ids[i & (probes.length - 1)]).length();
      }
      long idNanos = System.nanoTime() - t0;
      t0 = System.nanoTime();
      for (int i = 0; i < lookups; i++) {
        sink += router.resolve("public.by_name", texts[i & (probes.length - 1)]).length();
      }
      long textNanos = System.nanoTime() - t0;
      double routerPerSec = lookups / (routerNanos / 1e9);
      double scanPerSec = scans / (scanNanos / 1e9);
      System.out.printf("round %d: range (10k partitions) %.1f M/s (%.0f ns), linear scan %.2f M/s -> %.0fx;"
              + " hash bigint %.1f M/s, hash text %.1f M/s [%d]%n",
          round, routerPerSec / 1e6, routerNanos / (double) lookups, scanPerSec / 1e6, routerPerSec / scanPerSec,
          lookups / (idNanos / 1e9) / 1e6, lookups / (textNanos / 1e9) / 1e6, sink % 10);
    }
  }
}
