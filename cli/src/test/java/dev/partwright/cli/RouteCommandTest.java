package dev.partwright.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.partwright.embedded.PostgresEndpoint;
import dev.partwright.embedded.Servers;
import dev.partwright.router.PgCatalogBoundarySource;
import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.PartitionAdded;
import dev.partwright.schemas.RangeBound;
import dev.partwright.schemas.TimestampTzValue;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code partwright route} against a real PostgreSQL (and Kafka for the topic source). */
class RouteCommandTest {

  private record Run(int exit, String out, String err) {}

  static String url;

  @TempDir
  Path dir;

  @BeforeAll
  static void table() throws SQLException {
    PostgresEndpoint pg = Servers.postgres();
    url = pg.jdbcUrl() + (pg.jdbcUrl().contains("?") ? "&" : "?") + "user=" + pg.user()
        + (pg.password() == null || pg.password().isEmpty() ? "" : "&password=" + pg.password());
    try (Connection c = pg.dataSource().getConnection(); Statement s = c.createStatement()) {
      s.execute("DROP SCHEMA IF EXISTS route CASCADE");
      s.execute("CREATE SCHEMA route");
      // range(created_at) -> hash(device); January has no DEFAULT below it, the table has none either
      s.execute("CREATE TABLE route.readings (created_at timestamptz NOT NULL, device bigint, \"Note\" text) PARTITION BY RANGE (created_at)");
      for (int m = 1; m <= 2; m++) {
        s.execute(String.format("CREATE TABLE route.readings_%02d PARTITION OF route.readings"
            + " FOR VALUES FROM ('2024-%02d-01 00:00:00+00') TO ('2024-%02d-01 00:00:00+00') PARTITION BY HASH (device)", m, m, m + 1));
        for (int r = 0; r < 4; r++) {
          s.execute(String.format("CREATE TABLE route.readings_%02d_%d PARTITION OF route.readings_%02d FOR VALUES WITH (MODULUS 4, REMAINDER %d)", m, r, m, r));
        }
      }
    }
  }

  private static Run route(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cli = new CommandLine(new RouteCommand());
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    int exit = cli.execute(args);
    return new Run(exit, out.toString(), err.toString());
  }

  @Test
  void csv_rows_are_answered_in_order_and_postgres_agrees() throws Exception {
    Path csv = dir.resolve("rows.csv");
    StringBuilder text = new StringBuilder("created_at,device,Note\n");
    for (int i = 0; i < 40; i++) {
      text.append(String.format("2024-%02d-%02d %02d:30:00-05,%d,\"note, \"\"%d\"\"\"%n", 1 + i % 2, 1 + i % 28, i % 24, i * 7919L - 100, i));
    }
    text.append("2024-01-31 19:00:00-05,,\n"); // 2024-02-01T00:00Z, NULL device: remainder 0 of February
    Files.writeString(csv, text, StandardCharsets.UTF_8);

    Run r = route("--table", "route.readings", "--db-url", url, "--input", csv.toString(), "--check", "--output", "json");
    assertThat(r.exit()).as(r.err()).isZero();
    JsonNode answers = new ObjectMapper().readTree(r.out());
    assertThat(answers).hasSize(41);
    for (int i = 0; i < 41; i++) {
      JsonNode a = answers.get(i);
      assertThat(a.get("row").asInt()).isEqualTo(i + 1);
      assertThat(a.get("agrees").asBoolean()).as(a.toString()).isTrue();
      assertThat(a.get("partition").asText()).isEqualTo(a.get("postgres").asText()).startsWith("route.readings_0");
    }
    assertThat(answers.get(0).get("partition").asText()).startsWith("route.readings_01_");
    assertThat(answers.get(40).get("partition").asText()).isEqualTo("route.readings_02_0");
    assertThat(answers.get(40).get("values").get("device").isNull()).isTrue();
  }

  @Test
  void one_row_from_values_as_text() {
    Run r = route("--table", "route.readings", "--db-url", url, "--value", "created_at=2024-02-10T10:00:00Z", "--value", "device=42");
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out().trim()).matches("route\\.readings_02_[0-3]");
  }

  @Test
  void a_row_without_partition_exits_1_and_postgres_agrees_there_is_none() {
    Run r = route("--table", "route.readings", "--db-url", url, "--value", "created_at=2023-06-01 00:00:00+00", "--value", "device=1", "--check");
    assertThat(r.exit()).isEqualTo(ExitCodes.INVARIANT_VIOLATED);
    assertThat(r.out()).contains("(none: no partition of route.readings covers").contains("\tagrees");
  }

  @Test
  void a_router_that_disagrees_with_postgres_exits_1() throws Exception {
    String bootstrap = Servers.kafka().bootstrapServers();
    String topic = "route-boundaries-" + UUID.randomUUID();
    try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap))) {
      admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get();
    }
    var serde = TestSerdes.get().serde(BoundaryChange.class);
    List<BoundaryChange> truth = new PgCatalogBoundarySource(Servers.postgres().dataSource()).load("route.readings");
    try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(
        Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap), new StringSerializer(), new ByteArraySerializer())) {
      for (BoundaryChange change : truth) {
        PartitionAdded a = (PartitionAdded) change.getChange();
        if (a.getPartition().equals("route.readings_01")) {
          // a wrong boundary: January claims the first half of February too
          a.setBound(new RangeBound(List.of(new TimestampTzValue(Instant.parse("2024-01-01T00:00:00Z"))),
              List.of(new TimestampTzValue(Instant.parse("2024-02-15T00:00:00Z")))));
        }
        if (!a.getPartition().equals("route.readings_02") && !a.getParent().equals("route.readings_02")) {
          producer.send(new ProducerRecord<>(topic, change.getRootTable(), serde.encode(topic, change)));
        }
      }
      producer.flush();
    }
    Run r = route("--table", "route.readings", "--db-url", url, "--bootstrap-servers", bootstrap, "--schema-registry-url", TestSerdes.url(), "--topic", topic,
        "--value", "created_at=2024-02-10 00:00:00+00", "--value", "device=3", "--check");
    assertThat(r.exit()).as(r.err()).isEqualTo(ExitCodes.INVARIANT_VIOLATED);
    assertThat(r.out()).startsWith("route.readings_01_").contains("DISAGREES: PostgreSQL puts it in route.readings_02_");

    Run agreeing = route("--table", "route.readings", "--db-url", url, "--bootstrap-servers", bootstrap, "--schema-registry-url", TestSerdes.url(), "--topic", topic,
        "--value", "created_at=2024-01-10 00:00:00+00", "--value", "device=3", "--check");
    assertThat(agreeing.exit()).as(agreeing.err()).isZero();
  }

  @Test
  void bad_arguments_and_unreachable_database() throws Exception {
    assertThat(route("--table", "route.readings", "--db-url", url, "--value", "nope=1").exit()).isEqualTo(ExitCodes.ERROR);
    assertThat(route("--table", "route.nope", "--db-url", url, "--value", "a=1").exit()).isEqualTo(ExitCodes.ERROR);
    Run invalid = route("--table", "route.readings", "--db-url", url, "--value", "created_at=yesterday-ish", "--value", "device=1");
    assertThat(invalid.exit()).isEqualTo(ExitCodes.ERROR);
    assertThat(invalid.out()).contains("PostgreSQL refuses the values");
    int closedPort;
    try (ServerSocket s = new ServerSocket(0)) {
      closedPort = s.getLocalPort();
    }
    assertThat(route("--table", "route.readings", "--db-url", "jdbc:postgresql://127.0.0.1:" + closedPort + "/postgres?user=x",
        "--value", "device=1").exit()).isEqualTo(ExitCodes.UNAVAILABLE);
  }

  @Test
  void csv_reads_quotes_newlines_and_nulls() {
    List<List<String>> records = RouteCommand.Csv.parse("a,b,c\r\n\"x,1\",,\"\"\n\"multi\nline\",\"q\"\"q\",3");
    assertThat(records).hasSize(3);
    assertThat(records.get(1)).containsExactly("x,1", null, "");
    assertThat(records.get(2)).containsExactly("multi\nline", "q\"q", "3");
  }
}
