package dev.partwright.commandstore;

import static dev.partwright.commandstore.Fixtures.aggregate;
import static dev.partwright.commandstore.Fixtures.entry;
import static dev.partwright.commandstore.Fixtures.provision;
import static dev.partwright.commandstore.Fixtures.provisioned;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.partwright.embedded.Servers;
import dev.partwright.schemas.AggregateId;
import dev.partwright.schemas.CommandHeader;
import dev.partwright.schemas.ProvisionPartitions;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/**
 * A group consumer's view of the fold on the real broker: rebuilt on assignment exactly up to the
 * consumer's position (from a snapshot only when it does not pass that position), then folded
 * record by record with the same verdicts as every other reader; a record the consumer re-reads
 * after rewinding gets the verdict it got the first time.
 */
class ConsumerCatalogTest {

  private static ProvisionPartitions expecting(ProvisionPartitions c, long version) {
    return ProvisionPartitions.newBuilder(c)
        .setHeader(CommandHeader.newBuilder(c.getHeader()).setExpectedVersion(version).build()).build();
  }

  @Test
  void rebuildsUpToThePositionThenFoldsWhatTheConsumerReads() {
    String bootstrap = Servers.kafka().bootstrapServers();
    CommandStoreConfig config = Fixtures.ensured(bootstrap, 1);
    AggregateId a = aggregate("acme", "events");
    try (CommandStore store = new CommandStore(config)) {
      store.append(entry(a, expecting(provision(a, "k1", 0), 0)));  // @0: applied, version 1
      store.append(entry(a, provisioned(a, "k1", 0)));               // @1: version 2
      store.append(entry(a, expecting(provision(a, "k2", 1), 1)));  // @2: stale (2 by now): conflict
      store.append(entry(a, provision(a, "k1", 0)));                 // @3: repeated key: duplicate
    }
    // a snapshot of the whole log: useless to a consumer that resumes at offset 2
    SnapshotWriter.write(config, CatalogReplay.fromZero(config, CatalogReplay.Progress.NONE).catalog());
    List<ConsumerRecord<String, byte[]>> log = Fixtures.readAll(bootstrap, config.commandsTopic(), true);
    TopicPartition tp = new TopicPartition(config.commandsTopic(), 0);

    try (ConsumerCatalog fold = new ConsumerCatalog(config)) {
      fold.assigned(Map.of(tp, 2L));
      assertThat(fold.catalog().aggregate(a).orElseThrow().version()).isEqualTo(2);
      assertThat(fold.catalog().nextOffset(0)).isEqualTo(2);

      assertThat(fold.apply(log.get(2), null)).isEqualTo(new PartitionCatalog.Conflict(1, 2));
      // the consumer rewound to the same record (an open breaker): same verdict, folded once
      assertThat(fold.apply(log.get(2), null)).isEqualTo(new PartitionCatalog.Conflict(1, 2));
      assertThat(fold.apply(log.get(3), null)).isEqualTo(new PartitionCatalog.Duplicate(0, 2));
      assertThatThrownBy(() -> fold.apply(log.get(1), null)).isInstanceOf(IllegalStateException.class);

      // reassigned at the end, the snapshot covers exactly the position and is used
      fold.revoked(List.of(tp));
      fold.assigned(Map.of(tp, 4L));
      assertThat(fold.catalog().aggregate(a).orElseThrow().history()).hasSize(4);
      assertThat(fold.catalog().canonicalBytes())
          .isEqualTo(CatalogReplay.fromZero(config, CatalogReplay.Progress.NONE).catalog().canonicalBytes());
    }
  }
}
