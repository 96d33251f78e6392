package dev.partwright.commandstore;

import static dev.partwright.commandstore.Fixtures.aggregate;
import static dev.partwright.commandstore.Fixtures.provision;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.partwright.embedded.Servers;
import dev.partwright.schemas.AggregateId;
import dev.partwright.schemas.EntryVerdict;
import dev.partwright.schemas.HistoryEntry;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Two appenders (two store instances, as two processes would be) competing for one aggregate. */
class CompetingAppendersTest {

  private static String bootstrap;

  @BeforeAll
  static void broker() {
    bootstrap = Servers.kafka().bootstrapServers();
  }

  @Test
  void whenBothExpectTheSameVersionExactlyOneWinsEachRound() throws Exception {
    CommandStoreConfig config = Fixtures.ensured(bootstrap, 2);
    AggregateId a = aggregate("acme", "race");
    int rounds = 15;
    CyclicBarrier start = new CyclicBarrier(2);
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try (CommandStore left = new CommandStore(config); CommandStore right = new CommandStore(config)) {
      for (int round = 0; round < rounds; round++) {
        long v = left.version(a);
        List<Future<Object>> results = new ArrayList<>();
        for (CommandStore store : List.of(left, right)) {
          String key = (store == left ? "left-" : "right-") + round;
          results.add(pool.submit(() -> {
            start.await(30, TimeUnit.SECONDS);
            try {
              return store.append(a, v, provision(a, key, 0));
            } catch (VersionConflictException e) {
              return e;
            }
          }));
        }
        Object l = results.get(0).get(60, TimeUnit.SECONDS);
        Object r = results.get(1).get(60, TimeUnit.SECONDS);

        List<Object> both = List.of(l, r);
        assertThat(both).filteredOn(Appended.class::isInstance).as("round %d winners", round).hasSize(1);
        assertThat(both).filteredOn(VersionConflictException.class::isInstance).as("round %d losers", round)
            .singleElement().satisfies(e -> {
              assertThat(((VersionConflictException) e).expectedVersion()).isEqualTo(v);
              assertThat(((VersionConflictException) e).actualVersion()).isEqualTo(v + 1);
            });
      }
    } finally {
      pool.shutdownNow();
    }
    PartitionCatalog catalog = CatalogReplay.fromZero(config, CatalogReplay.Progress.NONE).catalog();
    PartitionCatalog.Aggregate agg = catalog.aggregate(a).orElseThrow();
    assertThat(agg.version()).isEqualTo(rounds);
    assertThat(agg.pending()).hasSize(rounds);
  }

  @Test
  void anAppendOvertakenBetweenCheckAndWriteIsAConflictInTheLogAndForTheAppender() {
    CommandStoreConfig config = Fixtures.ensured(bootstrap, 2);
    AggregateId a = aggregate("acme", "overtaken");
    try (CommandStore slow = new CommandStore(config); CommandStore fast = new CommandStore(config)) {
      slow.append(a, 0, provision(a, "first", 0));
      // slow has checked version 1 and is about to write when fast appends at version 1 too
      slow.beforeSend = () -> fast.append(a, 1, provision(a, "fast", 1));

      assertThatThrownBy(() -> slow.append(a, 1, provision(a, "slow", 2)))
          .isInstanceOfSatisfying(VersionConflictException.class, e -> {
            assertThat(e.expectedVersion()).isEqualTo(1);
            assertThat(e.actualVersion()).isEqualTo(2);
          });
    }
    // the loser's record is in the log, and every reader agrees it had no effect
    assertThat(Fixtures.readAll(bootstrap, config.commandsTopic(), true)).hasSize(3);
    PartitionCatalog.Aggregate agg = CatalogReplay.fromZero(config, CatalogReplay.Progress.NONE).catalog()
        .aggregate(a).orElseThrow();
    assertThat(agg.version()).isEqualTo(2);
    assertThat(agg.commandKeys()).containsExactly("first", "fast");
    assertThat(agg.history()).extracting(HistoryEntry::getIdempotencyKey, HistoryEntry::getVerdict).containsExactly(
        org.assertj.core.groups.Tuple.tuple("first", EntryVerdict.APPLIED),
        org.assertj.core.groups.Tuple.tuple("fast", EntryVerdict.APPLIED),
        org.assertj.core.groups.Tuple.tuple("slow", EntryVerdict.VERSION_CONFLICT));
  }
}
