package dev.partwright.commandstore;

import static dev.partwright.commandstore.Fixtures.entry;
import static dev.partwright.commandstore.Fixtures.failed;
import static dev.partwright.commandstore.Fixtures.provision;
import static dev.partwright.commandstore.Fixtures.provisioned;
import static dev.partwright.commandstore.Fixtures.rejected;
import static dev.partwright.commandstore.Fixtures.rolledBack;
import static org.assertj.core.api.Assertions.assertThat;

import dev.partwright.schemas.AggregateId;
import dev.partwright.schemas.Bounds;
import dev.partwright.schemas.CommandHeader;
import dev.partwright.schemas.DateValue;
import dev.partwright.schemas.DefaultBound;
import dev.partwright.schemas.Failed;
import dev.partwright.schemas.HashBound;
import dev.partwright.schemas.Int32Value;
import dev.partwright.schemas.Int64Value;
import dev.partwright.schemas.ListBound;
import dev.partwright.schemas.PartitionKey;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.Provisioned;
import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.schemas.RangeBound;
import dev.partwright.schemas.RetirePartitions;
import dev.partwright.schemas.Retired;
import dev.partwright.schemas.Rollback;
import dev.partwright.schemas.Strategy;
import dev.partwright.schemas.TextValue;
import dev.partwright.schemas.Unbounded;
import dev.partwright.schemas.UuidValue;
import java.time.Instant;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * The catalog's canonical bytes for a fixed log are pinned: the digest below was taken from the
 * fold before its internal storage was made compact, so any change to how the catalog keeps its
 * state that changes what it serializes (or what a snapshot holds) fails here. Snapshots written by
 * one build are restored by the next, and replays must agree byte for byte.
 */
class CanonicalFormTest {

  /** Taken with the HashMap-based fold (commit 653b26c); do not update it to make a change pass. */
  private static final String EXPECTED =
      "19886 bytes, sha-256 a4a950969cbafcbe11ec0e7b0b7ac3e647522946fd3aa653e128c35597f234a5";

  private static final Instant T = Instant.parse("2026-03-01T12:34:56.789012Z");
  private static final int PARTITIONS = 3;

  static {
    PartwrightSerdes.trustContracts(); // the builders below deep-copy records, which Avro 1.12 allows for trusted classes only
  }

  @Test
  void aFixedLogFoldsToPinnedBytesFromZeroAndFromASnapshotTakenAnywhere() {
    List<Rec> log = log();
    PartitionCatalog full = new PartitionCatalog("log", PARTITIONS);
    for (Rec r : log) {
      full.apply(r.partition, r.offset, r.key, r.entry);
    }
    assertThat(Fixtures.digest(full)).isEqualTo(EXPECTED);

    for (int cut : new int[] {1, log.size() / 3, log.size() / 2, log.size() - 1}) {
      PartitionCatalog head = new PartitionCatalog("log", PARTITIONS);
      log.subList(0, cut).forEach(r -> head.apply(r.partition, r.offset, r.key, r.entry));
      PartitionCatalog restored = new PartitionCatalog("log", PARTITIONS);
      for (int p = 0; p < PARTITIONS; p++) {
        restored.restore(head.snapshot(p, T));
      }
      log.subList(cut, log.size()).forEach(r -> restored.apply(r.partition, r.offset, r.key, r.entry));
      assertThat(Fixtures.digest(restored)).as("snapshot after %d records + tail", cut).isEqualTo(EXPECTED);
    }
  }

  private record Rec(int partition, long offset, String key, dev.partwright.schemas.CommandLogEntry entry) {}

  /** Every kind of record and verdict, partitions of every bound kind, over aggregates on all partitions. */
  private static List<Rec> log() {
    List<Rec> out = new ArrayList<>();
    long[] next = new long[PARTITIONS];
    List<AggregateId> aggregates = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      aggregates.add(new AggregateId(i == 5 ? "tënant-ü" : "tenant-" + i, "app", "events"));
    }
    for (int round = 0; round < 6; round++) {
      for (AggregateId a : aggregates) {
        List<Object> entries = new ArrayList<>();
        String key = a + "#" + round;
        ProvisionPartitions c = provision(a, key, round, round + 1);
        if (round == 2) {
          c = ProvisionPartitions.newBuilder(c).setPartitions(List.of(odd(a, round, "hash"), odd(a, round, "list"),
              odd(a, round, "default"), odd(a, round, "composite"), odd(a, round, "range-mixed"))).build();
        }
        entries.add(c);
        switch (round) {
          case 0 -> entries.add(provisioned(a, key, round, round + 1));
          case 1 -> {
            entries.add(failed(key, true));
            entries.add(c); // duplicate command
            entries.add(Failed.newBuilder(failed(key, false)).setCreated(List.of(Fixtures.day(a, round))).build());
            entries.add(provisioned(a, key, round)); // answer to an answered command
          }
          case 2 -> entries.add(Provisioned.newBuilder(provisioned(a, key)).setCreated(c.getPartitions().subList(0, 3))
              .setAlreadyPresent(c.getPartitions().subList(3, 5)).build());
          case 3 -> {
            entries.add(rejected(key));
            ProvisionPartitions stale = ProvisionPartitions.newBuilder(provision(a, key + "-stale", 9))
                .setHeader(CommandHeader.newBuilder(provision(a, key + "-stale", 9).getHeader()).setExpectedVersion(1)
                    .build()).build();
            entries.add(stale); // version conflict
            entries.add(rejected(key + "-stale")); // answer to the conflict
            entries.add(provisioned(a, "never-sent", 1)); // refused
          }
          case 4 -> {
            entries.add(provisioned(a, key, round, round + 1));
            String rb = key + "-rollback";
            entries.add(new Rollback(header(a, rb), key, List.of("app.events_d" + (round + 1))));
            entries.add(rolledBack(key, "app.events_d" + (round + 1)));
          }
          default -> {
            String rk = key + "-retire";
            entries.add(new RetirePartitions(header(a, rk), List.of("app.events_d0", "app.events_d99"), "retention"));
            entries.add(new Retired(rk, List.of("app.events_d0", "app.events_d99"), round % 2 == 0 ? null : "archive",
                "rotate@host"));
            entries.add(provisioned(a, key, round, round + 1));
          }
        }
        int p = LogPartitioner.partitionOf(a.toString(), PARTITIONS);
        for (Object e : entries) {
          out.add(new Rec(p, next[p]++, a.toString(), entry(a, e)));
        }
      }
    }
    return out;
  }

  private static CommandHeader header(AggregateId a, String key) {
    return CommandHeader.newBuilder().setIdempotencyKey(key).setAggregateId(a.toString()).setExpectedVersion(-1)
        .setIssuedAt(T).setIssuedBy("opérateur").setReason("why – ✓").build();
  }

  private static PartitionSpec odd(AggregateId a, int round, String kind) {
    PartitionSpec.Builder b = PartitionSpec.newBuilder().setParent(a.qualifiedTable()).setSchemaName(a.schema())
        .setName(a.table() + "_" + kind + "_" + round + "_ß");
    return switch (kind) {
      case "hash" -> b.setBound(new HashBound(8, 3)).build();
      case "list" -> b.setBound(new ListBound(List.of(new TextValue("é"), new Int32Value(-7), new Int64Value(Long.MIN_VALUE),
          new UuidValue(UUID.fromString("0f8fad5b-d9cb-469f-a165-70867728950e")),
          new DateValue(LocalDate.of(1969, 12, 31))), true)).build();
      case "default" -> b.setBound(new DefaultBound()).build();
      case "composite" -> b.setBound(Bounds.timeRange(T, T.plusSeconds(86_400)))
          .setSubpartitionBy(new PartitionKey(Strategy.HASH, List.of("tenant_id"), List.of("text"))).build();
      default -> b.setBound(new RangeBound(List.of(Unbounded.MINVALUE, new Int64Value(Long.MAX_VALUE)),
          List.of(new TextValue("zzz ✓"), Unbounded.MAXVALUE))).build();
    };
  }
}
