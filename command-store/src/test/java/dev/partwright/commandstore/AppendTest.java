package dev.partwright.commandstore;

import static dev.partwright.commandstore.Fixtures.aggregate;
import static dev.partwright.commandstore.Fixtures.entry;
import static dev.partwright.commandstore.Fixtures.provision;
import static dev.partwright.commandstore.Fixtures.provisioned;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.partwright.embedded.Servers;
import dev.partwright.schemas.AggregateId;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Idempotent append and per-aggregate optimistic concurrency on the real broker. */
class AppendTest {

  private static String bootstrap;

  @BeforeAll
  static void broker() {
    bootstrap = Servers.kafka().bootstrapServers();
  }

  @Test
  void theSameCommandAppendedTwiceIsStoredOnce() {
    CommandStoreConfig config = Fixtures.ensured(bootstrap, 3);
    AggregateId a = aggregate("acme", "events");
    try (CommandStore store = new CommandStore(config)) {
      Appended first = store.append(a, -1, provision(a, "k1", 0, 1));
      Appended again = store.append(a, -1, provision(a, "k1", 0, 1));

      assertThat(first.duplicate()).isFalse();
      assertThat(first.version()).isEqualTo(1);
      assertThat(again).isEqualTo(new Appended(a, "k1", first.partition(), first.offset(), 1, true));
    }
    assertThat(Fixtures.readAll(bootstrap, config.commandsTopic(), true)).hasSize(1);
  }

  @Test
  void aStaleExpectedVersionIsRejectedWithTheFactsAndNothingIsWritten() {
    CommandStoreConfig config = Fixtures.ensured(bootstrap, 3);
    AggregateId a = aggregate("acme", "orders");
    try (CommandStore store = new CommandStore(config)) {
      assertThat(store.append(a, 0, provision(a, "k1", 0)).version()).isEqualTo(1);

      assertThatThrownBy(() -> store.append(a, 0, provision(a, "k2", 1)))
          .isInstanceOfSatisfying(VersionConflictException.class, e -> {
            assertThat(e.aggregate()).isEqualTo(a);
            assertThat(e.idempotencyKey()).isEqualTo("k2");
            assertThat(e.expectedVersion()).isZero();
            assertThat(e.actualVersion()).isEqualTo(1);
          });
      assertThat(Fixtures.readAll(bootstrap, config.commandsTopic(), true)).hasSize(1);

      assertThat(store.append(a, 1, provision(a, "k2", 1)).version()).isEqualTo(2);
    }
  }

  @Test
  void outcomesOtherWritersAppendMoveTheVersionTheStoreChecks() {
    CommandStoreConfig config = Fixtures.ensured(bootstrap, 3);
    AggregateId a = aggregate("acme", "metrics");
    try (CommandStore store = new CommandStore(config); CommandStore worker = new CommandStore(config)) {
      Appended command = store.append(a, 0, provision(a, "k1", 0));
      // another writer, through the unchecked path and Kafka's default partitioner, as the worker does
      long outcomePartition = worker.append(entry(a, provisioned(a, "k1", 0))).partition();

      assertThat(outcomePartition).isEqualTo(command.partition());
      assertThat(store.version(a)).isEqualTo(2);
      assertThatThrownBy(() -> store.append(a, 1, provision(a, "k2", 1)))
          .isInstanceOfSatisfying(VersionConflictException.class, e -> assertThat(e.actualVersion()).isEqualTo(2));
    }
  }
}
