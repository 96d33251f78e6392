package dev.partwright.embedded;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EmbeddedKafkaTest {

    @Test
    void sharedKafkaCreatesTopicProducesAndConsumes() throws Exception {
        KafkaEndpoint kafka = Servers.kafka();
        assertThat(Servers.kafka()).isSameAs(kafka);
        assertThat(kafka.embedded())
                .isEqualTo(Support.setting(ExternalKafka.BOOTSTRAP_PROPERTY, ExternalKafka.BOOTSTRAP_ENV) == null);
        String topic = "embedded-test-" + UUID.randomUUID();

        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
            admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1))).all().get();
            assertThat(admin.listTopics().names().get()).contains(topic);
        }
        try (KafkaProducer<String, String> producer = producer(kafka.bootstrapServers(), null)) {
            producer.send(new ProducerRecord<>(topic, "tenant-1", "hello")).get();
        }
        assertThat(readAll(kafka.bootstrapServers(), topic, 1, false))
                .extracting(ConsumerRecord::value).containsExactly("hello");
    }

    @Test
    void autoTopicCreationIsOn() throws Exception {
        KafkaEndpoint kafka = Servers.kafka();
        String topic = "auto-created-" + UUID.randomUUID();
        try (KafkaProducer<String, String> producer = producer(kafka.bootstrapServers(), null)) {
            producer.send(new ProducerRecord<>(topic, "k", "v")).get();
        }
        assertThat(readAll(kafka.bootstrapServers(), topic, 1, false)).hasSize(1);
    }

    @Test
    void transactionalProducerCommitsAndAborts() throws Exception {
        KafkaEndpoint kafka = Servers.kafka();
        String topic = "txn-" + UUID.randomUUID();
        try (KafkaProducer<String, String> producer = producer(kafka.bootstrapServers(), "txn-" + UUID.randomUUID())) {
            producer.initTransactions();
            producer.beginTransaction();
            producer.send(new ProducerRecord<>(topic, "k", "aborted"));
            producer.abortTransaction();
            producer.beginTransaction();
            producer.send(new ProducerRecord<>(topic, "k", "committed"));
            producer.commitTransaction();
        }
        assertThat(readAll(kafka.bootstrapServers(), topic, 1, true))
                .extracting(ConsumerRecord::value).containsExactly("committed");
    }

    @Test
    void stopAndRestartKeepDataAndAddress(@TempDir Path tmp) throws Exception {
        Path dataDir = tmp.resolve("broker");
        String topic = "restart-" + UUID.randomUUID();
        try (EmbeddedKafka kafka = EmbeddedKafka.start(dataDir)) {
            assertThat(kafka.embedded()).isTrue();
            String bootstrap = kafka.bootstrapServers();
            try (KafkaProducer<String, String> producer = producer(bootstrap, null)) {
                producer.send(new ProducerRecord<>(topic, "k", "before-restart")).get();
            }

            kafka.stop();
            assertThat(kafka.isRunning()).isFalse();
            kafka.stop(); // idempotent
            kafka.restart();

            assertThat(kafka.isRunning()).isTrue();
            assertThat(kafka.bootstrapServers()).isEqualTo(bootstrap);
            try (KafkaProducer<String, String> producer = producer(bootstrap, null)) {
                producer.send(new ProducerRecord<>(topic, "k", "after-restart")).get();
            }
            assertThat(readAll(bootstrap, topic, 2, false))
                    .extracting(ConsumerRecord::value).containsExactly("before-restart", "after-restart");
        }
        assertThat(dataDir).doesNotExist();
    }

    @Test
    void startOnAStoppedBrokersDirectoryReusesItsPortsAndData(@TempDir Path tmp) throws Exception {
        Path dataDir = tmp.resolve("broker");
        String topic = "reuse-" + UUID.randomUUID();
        EmbeddedKafka first = EmbeddedKafka.start(dataDir);
        String bootstrap = first.bootstrapServers();
        try (KafkaProducer<String, String> producer = producer(bootstrap, null)) {
            producer.send(new ProducerRecord<>(topic, "k", "written-by-first")).get();
        }
        first.stop(); // like a process that exited without cleaning up

        try (EmbeddedKafka second = EmbeddedKafka.start(dataDir)) {
            assertThat(second.bootstrapServers()).isEqualTo(bootstrap);
            assertThat(readAll(bootstrap, topic, 1, false))
                    .extracting(ConsumerRecord::value).containsExactly("written-by-first");
        }
        assertThat(dataDir.resolve("kafka-logs")).doesNotExist(); // not ours to delete dataDir itself
        first.close();
        assertThat(dataDir).doesNotExist(); // the first one created it
    }

    static KafkaProducer<String, String> producer(String bootstrap, String transactionalId) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        if (transactionalId != null) {
            p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
        }
        return new KafkaProducer<>(p);
    }

    /** Reads the whole topic (1 partition) from the beginning until {@code expected} records arrived or 30 s passed. */
    static List<ConsumerRecord<String, String>> readAll(String bootstrap, String topic, int expected, boolean readCommitted) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, "reader-" + UUID.randomUUID());
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, readCommitted ? "read_committed" : "read_uncommitted");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        List<ConsumerRecord<String, String>> out = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(p)) {
            consumer.subscribe(Set.of(topic));
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (out.size() < expected && System.nanoTime() < deadline) {
                consumer.poll(Duration.ofMillis(200)).forEach(out::add);
            }
            // one more short poll to catch anything unexpected beyond `expected`
            consumer.poll(Duration.ofMillis(200)).forEach(out::add);
        }
        return out;
    }

    @Test
    void closingTheSharedEndpointDoesNotStopIt() throws Exception {
        KafkaEndpoint kafka = Servers.kafka();
        kafka.close();
        assertThat(kafka.bootstrapServers()).startsWith("127.0.0.1:");
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
            assertThat(admin.describeCluster().nodes().get()).hasSize(1);
        }
    }
}
