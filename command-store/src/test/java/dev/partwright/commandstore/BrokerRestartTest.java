package dev.partwright.commandstore;

import static dev.partwright.commandstore.Fixtures.aggregate;
import static dev.partwright.commandstore.Fixtures.provision;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.partwright.embedded.EmbeddedKafka;
import dev.partwright.schemas.AggregateId;
import dev.partwright.schemas.CommandLogEntry;
import dev.partwright.schemas.RegistryAvroSerde;
import dev.partwright.schemas.ProvisionPartitions;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The broker goes down in the middle of a burst of appends and comes back: nothing lost, nothing twice. */
class BrokerRestartTest {

  private static final RegistryAvroSerde<CommandLogEntry> LOG = Fixtures.serdes().serde(CommandLogEntry.class);
  private static final int APPENDS = 150;
  private static final int AGGREGATES = 5;

  @Test
  void appendsAcrossABrokerRestartAreStoredExactlyOnceAndReplayed(@TempDir Path dir) throws Exception {
    try (EmbeddedKafka broker = EmbeddedKafka.start(dir)) {
      CommandStoreConfig config = Fixtures.ensured(broker.bootstrapServers(), 3);
      AtomicInteger done = new AtomicInteger();
      ExecutorService appender = Executors.newSingleThreadExecutor();
      try (CommandStore store = new CommandStore(config)) {
        Future<?> burst = appender.submit(() -> {
          for (int i = 0; i < APPENDS; i++) {
            AggregateId a = aggregate("tenant-" + (i % AGGREGATES), "events");
            ProvisionPartitions command = provision(a, "key-" + i, i);
            // a client that loses its answer retries the same command; the store must not store it twice
            while (true) {
              try {
                store.append(a, -1, command);
                break;
              } catch (CommandStoreException e) {
                // the broker was away longer than the client waits: ask again
              }
            }
            done.incrementAndGet();
          }
          return null;
        });

        await().atMost(Duration.ofSeconds(60)).until(() -> done.get() >= APPENDS / 3);
        broker.stop();
        broker.restart();
        burst.get(3, TimeUnit.MINUTES);
      } finally {
        appender.shutdownNow();
      }

      List<String> keys = Fixtures.readAll(broker.bootstrapServers(), config.commandsTopic(), true).stream()
          .map(r -> ((ProvisionPartitions) LOG.decode(r.topic(), r.value()).getEntry()).getHeader().getIdempotencyKey())
          .toList();
      assertThat(keys).hasSize(APPENDS);
      assertThat(Set.copyOf(keys)).hasSize(APPENDS);

      PartitionCatalog catalog = CatalogReplay.fromZero(config, CatalogReplay.Progress.NONE).catalog();
      assertThat(catalog.aggregates().values().stream().mapToLong(PartitionCatalog.Aggregate::version).sum())
          .isEqualTo(APPENDS);
      assertThat(catalog.aggregates().values().stream().flatMap(a -> a.commandKeys().stream())
          .collect(Collectors.toSet())).hasSize(APPENDS);
    }
  }
}
