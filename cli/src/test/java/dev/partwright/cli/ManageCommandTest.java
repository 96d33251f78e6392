package dev.partwright.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.partwright.embedded.KafkaEndpoint;
import dev.partwright.embedded.PostgresEndpoint;
import dev.partwright.embedded.Servers;
import dev.partwright.schemas.ManagedTablePolicy;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code partwright manage} against a real PostgreSQL (a database of its own per test) and Kafka. */
class ManageCommandTest {

  record Run(int exit, String out, String err) {}

  /** A database of its own on the shared server, dropped afterwards: nothing of Partwright in it at first. */
  static final class Database implements AutoCloseable {
    final PostgresEndpoint server = Servers.postgres();
    final String name = "cli_" + UUID.randomUUID().toString().replace("-", "").substring(0, 12);

    Database() throws Exception {
      try (Connection c = server.dataSource().getConnection(); Statement s = c.createStatement()) {
        s.execute("CREATE DATABASE " + name);
      }
    }

    String url() {
      String url = server.jdbcUrl().replaceFirst("/[^/?]+(\\?|$)", "/" + name + "$1");
      return url + (url.contains("?") ? "&" : "?") + "user=" + server.user()
          + (server.password() == null || server.password().isEmpty() ? "" : "&password=" + server.password());
    }

    Connection connect() throws Exception {
      return java.sql.DriverManager.getConnection(url());
    }

    void sql(String... statements) throws Exception {
      try (Connection c = connect(); Statement s = c.createStatement()) {
        s.execute("SET TimeZone = 'UTC'");
        for (String statement : statements) {
          s.execute(statement);
        }
      }
    }

    @Override
    public void close() throws Exception {
      try (Connection c = server.dataSource().getConnection(); Statement s = c.createStatement()) {
        s.execute("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
      }
    }
  }

  static Run run(Object command, String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cli = new CommandLine(command);
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    int exit = cli.execute(args);
    return new Run(exit, out.toString(), err.toString());
  }

  private Database db;

  @BeforeEach
  void start() throws Exception {
    db = new Database();
  }

  @AfterEach
  void stop() throws Exception {
    db.close();
  }

  @Test
  void registersAnExistingPartitionedTableAndListsIt() throws Exception {
    db.sql("CREATE TABLE public.events (tenant_id text, created_at timestamptz NOT NULL) PARTITION BY RANGE (created_at)");

    Run r = run(new ManageCommand(), "--db-url", db.url(), "--table", "public.events", "--strategy", "range",
        "--column", "created_at", "--interval", "day", "--buffer-days", "14", "--retention-days", "90");
    assertThat(r.exit()).as(r.err()).isZero();

    Run text = run(new ManageCommand(), "--db-url", db.url(), "--list");
    assertThat(text.exit()).isZero();
    assertThat(text.out()).contains("public.events").contains("created_at").contains("14d").contains("90d");

    JsonNode json = new ObjectMapper().readTree(run(new ManageCommand(), "--db-url", db.url(), "--list", "--output", "json").out());
    assertThat(json).hasSize(1);
    assertThat(json.get(0).get("interval").asText()).isEqualTo("day");
    assertThat(json.get(0).get("bufferDays").asInt()).isEqualTo(14);
  }

  @Test
  void aPlainTableIsRefusedWithHowToConvertIt() throws Exception {
    db.sql("CREATE TABLE public.orders (id bigint, placed_at timestamptz NOT NULL)");

    Run r = run(new ManageCommand(), "--db-url", db.url(), "--table", "public.orders", "--strategy", "range",
        "--column", "placed_at", "--interval", "day");

    assertThat(r.exit()).isEqualTo(ExitCodes.INVARIANT_VIOLATED);
    assertThat(r.err()).contains("plain table").contains("PARTITION BY RANGE (\"placed_at\")")
        .contains("ATTACH PARTITION");
    assertThat(run(new ManageCommand(), "--db-url", db.url(), "--list").out()).contains("no managed tables");
  }

  @Test
  void badArgumentsAndHostileNamesExitTwoAndTouchNothing() {
    assertThat(run(new ManageCommand(), "--db-url", db.url(), "--table", "public.x; DROP TABLE y", "--strategy", "range",
        "--column", "c", "--interval", "day").exit()).isEqualTo(ExitCodes.ERROR);
    Run interval = run(new ManageCommand(), "--db-url", db.url(), "--table", "public.x", "--strategy", "range",
        "--column", "c", "--interval", "fortnight");
    assertThat(interval.exit()).isEqualTo(ExitCodes.ERROR);
    assertThat(interval.err()).contains("fortnight");
    assertThat(run(new ManageCommand(), "--db-url", db.url()).exit()).as("neither --list nor --table").isEqualTo(2);
  }

  @Test
  void anUnreachableDatabaseExitsThree() {
    Run r = run(new ManageCommand(), "--db-url", "jdbc:postgresql://127.0.0.1:1/nothing?user=x", "--list");
    assertThat(r.exit()).isEqualTo(ExitCodes.UNAVAILABLE);
    assertThat(r.err()).contains("127.0.0.1:1");
  }

  @Test
  void withBootstrapServersThePolicyIsPublishedToTheCompactedPoliciesTopic() throws Exception {
    KafkaEndpoint kafka = Servers.kafka();
    String topic = "manage-test-" + UUID.randomUUID();
    db.sql("CREATE TABLE public.usage (tenant_id text NOT NULL, at timestamptz NOT NULL) PARTITION BY LIST (tenant_id)");

    Run r = run(new ManageCommand(), "--db-url", db.url(), "--table", "public.usage", "--strategy", "range",
        "--column", "at", "--interval", "hour", "--tenant-column", "tenant_id", "--max-partitions", "5000",
        "--bootstrap-servers", kafka.bootstrapServers(), "--schema-registry-url", TestSerdes.url(), "--policies-topic", topic);
    assertThat(r.exit()).as(r.err()).isZero();

    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    p.put(ConsumerConfig.GROUP_ID_CONFIG, "manage-test-" + UUID.randomUUID());
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    List<ConsumerRecord<String, byte[]>> records = new ArrayList<>();
    try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer())) {
      consumer.subscribe(List.of(topic));
      org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(30)).until(() -> {
        consumer.poll(Duration.ofMillis(200)).forEach(records::add);
        return !records.isEmpty();
      });
    }
    assertThat(records.get(0).key()).isEqualTo("public.usage");
    ManagedTablePolicy policy = TestSerdes.get().serde(ManagedTablePolicy.class).decode(topic, records.get(0).value());
    assertThat(policy.getTenantColumn()).isEqualTo("tenant_id");
    assertThat(policy.getInterval()).isEqualTo("hour");
    assertThat(policy.getMaxPartitions()).isEqualTo(5000);
  }
}
