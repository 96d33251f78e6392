package dev.partwright.commandstore;

import dev.partwright.schemas.AvroSerde;
import dev.partwright.schemas.CommandLogEntry;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Appends commands and outcomes to the command log, keyed by aggregate id, with an idempotent
 * producer ({@code acks=all}): a retried send is stored once.
 */
public final class CommandStore implements AutoCloseable {

  private final CommandStoreConfig config;
  private final KafkaProducer<String, CommandLogEntry> producer;

  public CommandStore(CommandStoreConfig config) {
    this.config = config;
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.LINGER_MS_CONFIG, 0);
    this.producer = new KafkaProducer<>(p, new StringSerializer(), AvroSerde.of(CommandLogEntry.class).serializer());
  }

  /** Appends one entry and waits until the log holds it; returns where it was stored. */
  public RecordMetadata append(CommandLogEntry entry) {
    try {
      return producer.send(new ProducerRecord<>(config.commandsTopic(), entry.getAggregateId(), entry)).get();
    } catch (ExecutionException e) {
      throw new IllegalStateException("cannot append to " + config.commandsTopic() + ": " + e.getCause(), e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while appending", e);
    }
  }

  @Override
  public void close() {
    producer.close();
  }
}
