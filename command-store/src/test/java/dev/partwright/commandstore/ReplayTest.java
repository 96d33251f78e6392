package dev.partwright.commandstore;

import static dev.partwright.commandstore.Fixtures.aggregate;
import static dev.partwright.commandstore.Fixtures.entry;
import static dev.partwright.commandstore.Fixtures.provision;
import static dev.partwright.commandstore.Fixtures.provisioned;
import static org.assertj.core.api.Assertions.assertThat;

import dev.partwright.embedded.Servers;
import dev.partwright.schemas.AggregateId;
import dev.partwright.schemas.CommandLogEntry;
import dev.partwright.schemas.RegistryAvroSerde;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Replay from offset 0 and from snapshots on the real broker: deterministic, and tolerant of bad records. */
class ReplayTest {

  private static final RegistryAvroSerde<CommandLogEntry> LOG = Fixtures.serdes().serde(CommandLogEntry.class);
  private static String bootstrap;

  @BeforeAll
  static void broker() {
    bootstrap = Servers.kafka().bootstrapServers();
  }

  @Test
  void theSameLogGivesByteIdenticalCatalogsWhateverTheReadingOrder() {
    CommandStoreConfig config = Fixtures.ensured(bootstrap, 3);
    int written = Fixtures.writeLog(bootstrap, config, 12, 0, 20);
    abortedTransaction(config, aggregate("tenant-0", "events"));
    Fixtures.awaitNoOpenTransactions(bootstrap, config.commandsTopic());

    CatalogReplay.Result first = CatalogReplay.fromZero(config, CatalogReplay.Progress.NONE);
    CatalogReplay.Result second = CatalogReplay.fromZero(config, CatalogReplay.Progress.NONE);
    // the same records folded in another interleaving of partitions: last partition first, by hand
    List<ConsumerRecord<String, byte[]>> records = new ArrayList<>(Fixtures.readAll(bootstrap, config.commandsTopic(), true));
    records.sort((x, y) -> x.partition() != y.partition() ? Integer.compare(y.partition(), x.partition())
        : Long.compare(x.offset(), y.offset()));
    PartitionCatalog byHand = new PartitionCatalog(config.commandsTopic(), 3);
    records.forEach(r -> byHand.apply(r, LOG));
    for (int p = 0; p < 3; p++) {
      byHand.advance(p, first.catalog().nextOffset(p));
    }

    assertThat(first.recordsRead()).isEqualTo(written);
    assertThat(first.deadLetters()).isEmpty();
    assertThat(first.catalog().aggregates()).hasSize(12);
    assertThat(first.catalog().livePartitions()).isNotEmpty();
    assertThat(Fixtures.digest(second.catalog())).isEqualTo(Fixtures.digest(first.catalog()));
    assertThat(Fixtures.digest(byHand)).isEqualTo(Fixtures.digest(first.catalog()));
  }

  @Test
  void aSnapshotPlusItsTailGivesTheCatalogOfAFullReplayByteForByte() {
    CommandStoreConfig config = Fixtures.ensured(bootstrap, 3);
    Fixtures.writeLog(bootstrap, config, 10, 0, 30);
    SnapshotWriter.write(config, CatalogReplay.fromZero(config, CatalogReplay.Progress.NONE).catalog());
    int tail = Fixtures.writeLog(bootstrap, config, 10, 30, 2);

    CatalogReplay.Result fromSnapshots = CatalogReplay.fromSnapshots(config, CatalogReplay.Progress.NONE);
    CatalogReplay.Result fromZero = CatalogReplay.fromZero(config, CatalogReplay.Progress.NONE);

    assertThat(fromSnapshots.snapshotOffsets()).hasSize(3);
    assertThat(fromSnapshots.recordsRead()).as("only the tail is read").isEqualTo(tail);
    assertThat(Fixtures.digest(fromSnapshots.catalog())).isEqualTo(Fixtures.digest(fromZero.catalog()));
    assertThat(fromSnapshots.catalog().recordsRead()).isEqualTo(fromZero.recordsRead());
  }

  @Test
  void badRecordsAreReportedWithTheReasonAndReplayContinues() throws Exception {
    CommandStoreConfig config = Fixtures.ensured(bootstrap, 1);
    AggregateId a = aggregate("acme", "events");
    byte[] unknownSchema = LOG.encode(config.commandsTopic(), entry(a, provision(a, "k0", 0)));
    unknownSchema[1] = 0x7f; // a schema id the registry never gave out: a record from a writer on another registry
    try (KafkaProducer<String, byte[]> p = Fixtures.rawProducer(bootstrap)) {
      send(p, config, a.toString(), "not avro at all".getBytes(StandardCharsets.UTF_8));
      send(p, config, a.toString(), unknownSchema);
      send(p, config, a.toString(), LOG.encode(config.commandsTopic(), entry(a, provisioned(a, "never-sent", 0))));
      send(p, config, a.toString(), LOG.encode(config.commandsTopic(), entry(a, provision(a, "k1", 0))));
      send(p, config, a.toString(), LOG.encode(config.commandsTopic(), entry(a, provisioned(a, "k1", 0))));
    }

    CatalogReplay.Result result = CatalogReplay.fromZero(config, CatalogReplay.Progress.NONE);

    assertThat(result.deadLetters()).extracting(DeadLetter::offset).containsExactly(0L, 1L, 2L);
    assertThat(result.deadLetters().get(0).reason()).startsWith("unreadable payload");
    assertThat(result.deadLetters().get(1).reason()).contains("does not know");
    assertThat(result.deadLetters().get(2).reason()).contains("never received (broken order)");
    assertThat(result.catalog().aggregate(a).orElseThrow().partitions()).containsOnlyKeys("app.events_d0");
    assertThat(result.catalog().deadLetters()).isEqualTo(3);
  }

  private static void send(KafkaProducer<String, byte[]> p, CommandStoreConfig config, String key, byte[] value)
      throws Exception {
    p.send(new ProducerRecord<>(config.commandsTopic(), key, value)).get();
  }

  /** Records a transaction wrote and aborted: committed readers, replay included, never see them. */
  private static void abortedTransaction(CommandStoreConfig config, AggregateId a) {
    Properties props = new Properties();
    props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "aborting-" + UUID.randomUUID());
    try (KafkaProducer<String, byte[]> p = new KafkaProducer<>(props, new StringSerializer(), new ByteArraySerializer())) {
      p.initTransactions();
      p.beginTransaction();
      p.send(new ProducerRecord<>(config.commandsTopic(), a.toString(),
          LOG.encode(config.commandsTopic(), entry(a, provision(a, "aborted", 90)))));
      p.flush();
      p.abortTransaction();
    }
  }
}
