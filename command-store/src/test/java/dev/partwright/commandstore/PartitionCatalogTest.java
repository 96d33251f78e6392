package dev.partwright.commandstore;

import static dev.partwright.commandstore.Fixtures.aggregate;
import static dev.partwright.commandstore.Fixtures.entry;
import static dev.partwright.commandstore.Fixtures.failed;
import static dev.partwright.commandstore.Fixtures.provision;
import static dev.partwright.commandstore.Fixtures.provisioned;
import static dev.partwright.commandstore.Fixtures.rejected;
import static dev.partwright.commandstore.Fixtures.rolledBack;
import static org.assertj.core.api.Assertions.assertThat;

import dev.partwright.schemas.CommandLogEntry;
import dev.partwright.schemas.AggregateId;
import dev.partwright.schemas.CommandHeader;
import dev.partwright.schemas.EntryVerdict;
import dev.partwright.schemas.Failed;
import dev.partwright.schemas.HistoryEntry;
import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.RetirePartitions;
import dev.partwright.schemas.Retired;
import java.time.Instant;
import java.util.List;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;

/** The fold's rules, without a broker: one partition, records applied by hand. */
class PartitionCatalogTest {

  private static final AggregateId A = aggregate("acme", "events");
  private final PartitionCatalog catalog = new PartitionCatalog("log", 1);
  private long offset;

  private PartitionCatalog.Verdict apply(Object e) {
    return catalog.apply(0, offset++, A.toString(), entry(A, e));
  }

  private static ProvisionPartitions expecting(ProvisionPartitions c, long version) {
    return ProvisionPartitions.newBuilder(c)
        .setHeader(CommandHeader.newBuilder(c.getHeader()).setExpectedVersion(version).build()).build();
  }

  @Test
  void provisioningMakesPartitionsLiveAndCountsVersions() {
    assertThat(apply(provision(A, "k1", 0, 1))).isEqualTo(new PartitionCatalog.Applied(1));
    assertThat(catalog.aggregate(A).orElseThrow().pending()).hasSize(1);
    assertThat(apply(provisioned(A, "k1", 0, 1))).isEqualTo(new PartitionCatalog.Applied(2));

    PartitionCatalog.Aggregate a = catalog.aggregate(A).orElseThrow();
    assertThat(a.pending()).isEmpty();
    assertThat(a.partitions()).containsOnlyKeys("app.events_d0", "app.events_d1");
    assertThat(a.partitions().get("app.events_d0").getCommandOffset()).isEqualTo(0);
    assertThat(a.history()).extracting(HistoryEntry::getVersion).containsExactly(1L, 2L);
    assertThat(a.history().get(0).getReason()).isEqualTo("because k1");
    assertThat(catalog.nextOffset(0)).isEqualTo(2);
  }

  @Test
  void aRepeatedKeyIsADuplicateWithoutEffect() {
    apply(provision(A, "k1", 0));
    apply(provisioned(A, "k1", 0));

    assertThat(apply(provision(A, "k1", 0))).isEqualTo(new PartitionCatalog.Duplicate(0, 2));
    assertThat(apply(provisioned(A, "k1", 0))).isEqualTo(new PartitionCatalog.Duplicate(0, 2));
    assertThat(catalog.aggregate(A).orElseThrow().version()).isEqualTo(2);
    assertThat(catalog.aggregate(A).orElseThrow().history()).extracting(HistoryEntry::getVerdict)
        .containsExactly(EntryVerdict.APPLIED, EntryVerdict.APPLIED, EntryVerdict.DUPLICATE, EntryVerdict.DUPLICATE);
  }

  @Test
  void aStaleExpectedVersionIsAConflictWithoutEffect() {
    apply(expecting(provision(A, "k1", 0), 0));

    assertThat(apply(expecting(provision(A, "k2", 1), 0))).isEqualTo(new PartitionCatalog.Conflict(0, 1));
    assertThat(catalog.aggregate(A).orElseThrow().commandKeys()).containsExactly("k1");
    // the conflicting key was never taken: the same command with the right version is applied
    assertThat(apply(expecting(provision(A, "k2", 1), 1))).isEqualTo(new PartitionCatalog.Applied(2));
  }

  @Test
  void aRejectedAnsweringAConflictIsRecordedWithoutEffectButAnAnswerToNothingIsRefused() {
    apply(expecting(provision(A, "k1", 0), 0));
    apply(expecting(provision(A, "k2", 1), 0)); // stale: a conflict

    // what the worker answers a command it skipped: the history shows both, nothing else changes
    assertThat(apply(rejected("k2"))).isEqualTo(new PartitionCatalog.Duplicate(1, 1));
    PartitionCatalog.Aggregate a = catalog.aggregate(A).orElseThrow();
    assertThat(a.version()).isEqualTo(1);
    assertThat(a.pending()).extracting(p -> PartitionCatalog.keyOf(p.getCommand())).containsExactly("k1");
    assertThat(a.history()).extracting(h -> h.getKind() + " " + h.getIdempotencyKey() + " " + h.getVerdict())
        .containsExactly("PROVISION_PARTITIONS k1 APPLIED", "PROVISION_PARTITIONS k2 VERSION_CONFLICT",
            "REJECTED k2 VERSION_CONFLICT");
    // a Rejected for a key the aggregate never saw is still broken order
    assertThat(apply(rejected("k9"))).isInstanceOf(PartitionCatalog.Refused.class);
  }

  @Test
  void aFailedOutcomeMakesThePartitionsItListsAsCreatedLiveAndEndsOrKeepsTheCommand() {
    apply(provision(A, "k1", 0, 1, 2, 3));
    // the worker committed days 0 and 1 in a first transaction, then failed for good
    assertThat(apply(Failed.newBuilder(failed("k1", false)).setCreated(List.of(Fixtures.day(A, 0), Fixtures.day(A, 1)))
        .build())).isEqualTo(new PartitionCatalog.Applied(2));
    PartitionCatalog.Aggregate a = catalog.aggregate(A).orElseThrow();
    assertThat(a.partitions()).containsOnlyKeys("app.events_d0", "app.events_d1");
    assertThat(a.pending()).isEmpty();

    apply(provision(A, "k2", 4, 5));
    // retryable: the command stays pending, what it created is live all the same
    apply(Failed.newBuilder(failed("k2", true)).setCreated(List.of(Fixtures.day(A, 4))).build());
    a = catalog.aggregate(A).orElseThrow();
    assertThat(a.partitions()).containsOnlyKeys("app.events_d0", "app.events_d1", "app.events_d4");
    assertThat(a.pending()).hasSize(1);
    // a failure listing nothing changes no partition (the logs written before the field existed)
    apply(failed("k2", false));
    assertThat(catalog.aggregate(A).orElseThrow().partitions()).hasSize(3);
  }

  @Test
  void outcomesEndOrKeepCommandsAndRollbacksDropPartitions() {
    apply(provision(A, "k1", 0));
    apply(provision(A, "k2", 1));
    apply(provision(A, "k3", 2));
    apply(rejected("k1"));
    apply(failed("k2", true));
    assertThat(catalog.aggregate(A).orElseThrow().pending()).extracting(p -> PartitionCatalog.keyOf(p.getCommand()))
        .containsExactly("k2", "k3");
    apply(provisioned(A, "k2", 1));
    apply(provisioned(A, "k3", 2));
    apply(rolledBack("k3", "app.events_d2"));

    PartitionCatalog.Aggregate a = catalog.aggregate(A).orElseThrow();
    assertThat(a.pending()).isEmpty();
    assertThat(a.partitions()).containsOnlyKeys("app.events_d1");
    assertThat(a.version()).isEqualTo(8);
  }

  @Test
  void aRetiredOutcomeDropsThePartitionsOfItsRetireCommand() {
    apply(provision(A, "k1", 0, 1));
    apply(provisioned(A, "k1", 0, 1));
    RetirePartitions retire = RetirePartitions.newBuilder()
        .setHeader(CommandHeader.newBuilder().setIdempotencyKey("r1").setAggregateId(A.toString()).setExpectedVersion(2)
            .setIssuedAt(Fixtures.DAY0).setIssuedBy("rotate").setReason("retention 1 day").build())
        .setPartitions(List.of("app.events_d0")).build();
    apply(retire);
    assertThat(catalog.aggregate(A).orElseThrow().pending()).hasSize(1);

    assertThat(apply(new Retired("r1", List.of("app.events_d0"), null, "rotate@host")))
        .isEqualTo(new PartitionCatalog.Applied(4));
    assertThat(catalog.aggregate(A).orElseThrow().partitions()).containsOnlyKeys("app.events_d1");
    assertThat(catalog.aggregate(A).orElseThrow().pending()).isEmpty();
    // a Retired cannot answer a provisioning command
    apply(provision(A, "k2", 2));
    assertThat(apply(new Retired("k2", List.of(), null, "w"))).isInstanceOf(PartitionCatalog.Refused.class);
  }

  @Test
  void refusesBrokenOrderUnreadablePayloadsAndForeignKeys() {
    assertThat(apply(provisioned(A, "never-sent", 0))).isInstanceOfSatisfying(PartitionCatalog.Refused.class,
        r -> assertThat(r.reason()).contains("never received (broken order)"));
    assertThat(catalog.apply(0, offset++, "someone/else.table", entry(A, provision(A, "k1", 0))))
        .isInstanceOf(PartitionCatalog.Refused.class);
    assertThat(catalog.apply(new ConsumerRecord<>("log", 0, offset++, A.toString(), new byte[] {1, 2, 3}),
        Fixtures.serdes().serde(CommandLogEntry.class)))
        .isInstanceOfSatisfying(PartitionCatalog.Refused.class, r -> assertThat(r.reason()).startsWith("unreadable payload"));

    assertThat(catalog.deadLetters()).isEqualTo(3);
    assertThat(catalog.recordsRead()).isEqualTo(3);
    assertThat(catalog.nextOffset(0)).isEqualTo(3);
    assertThat(catalog.aggregates()).isEmpty();
  }

  @Test
  void refusesARecordWhoseKeyHashesToAnotherPartition() {
    PartitionCatalog six = new PartitionCatalog("log", 6);
    int owner = LogPartitioner.partitionOf(A.toString(), 6);

    assertThat(six.apply((owner + 1) % 6, 0, A.toString(), entry(A, provision(A, "k1", 0))))
        .isInstanceOfSatisfying(PartitionCatalog.Refused.class,
            r -> assertThat(r.reason()).contains("belongs to partition " + owner + " of 6"));
    assertThat(six.apply(owner, 0, A.toString(), entry(A, provision(A, "k1", 0)))).isInstanceOf(PartitionCatalog.Applied.class);
  }

  @Test
  void aSnapshotRestoresTheSameCatalogByteForByte() {
    apply(provision(A, "k1", 0, 1));
    apply(provisioned(A, "k1", 0, 1));
    apply(provision(A, "k2", 2));
    apply(failed("k2", true));

    PartitionCatalog restored = new PartitionCatalog("log", 1);
    restored.restore(catalog.snapshot(0, Instant.now()));

    assertThat(Fixtures.digest(restored)).isEqualTo(Fixtures.digest(catalog));
    assertThat(restored.aggregate(A).orElseThrow().history()).isEqualTo(catalog.aggregate(A).orElseThrow().history());
    // and both go on identically
    restored.apply(0, offset, A.toString(), entry(A, provisioned(A, "k2", 2)));
    apply(provisioned(A, "k2", 2));
    assertThat(Fixtures.digest(restored)).isEqualTo(Fixtures.digest(catalog));
  }
}
