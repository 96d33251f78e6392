package dev.partwright.embedded;

/**
 * A reachable Kafka cluster: either an in-process broker ({@link EmbeddedKafka}) or an
 * existing cluster ({@link ExternalKafka}). Callers should not care which.
 */
public interface KafkaEndpoint extends AutoCloseable {

    /** Value for {@code bootstrap.servers}, e.g. {@code 127.0.0.1:40123}. */
    String bootstrapServers();

    /** {@code true} if this JVM started the broker. */
    boolean embedded();

    /** Releases the endpoint (for an embedded broker: stops it and deletes its data). */
    @Override
    void close();
}
