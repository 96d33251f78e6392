package dev.partwright.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.partwright.embedded.KafkaEndpoint;
import dev.partwright.embedded.PostgresEndpoint;
import dev.partwright.embedded.Servers;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** {@code partwright demo} against existing servers, twice, and with an unreachable database. */
class DemoCommandTest {

  private record Run(int exit, String out, String err) {}

  private static Run demo(String... args) {
    PrintStream originalOut = System.out;
    PrintStream originalErr = System.err;
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    try {
      System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
      System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
      int exit = Partwright.commandLine().execute(args);
      return new Run(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    } finally {
      System.setOut(originalOut);
      System.setErr(originalErr);
    }
  }

  @Test
  void demoOnExistingServersSucceedsTwiceWithJsonOutput() throws Exception {
    KafkaEndpoint kafka = Servers.kafka();
    PostgresEndpoint pg = Servers.postgres();
    String url = pg.jdbcUrl() + (pg.jdbcUrl().contains("?") ? "&" : "?") + "user=" + pg.user()
        + (pg.password() == null || pg.password().isEmpty() ? "" : "&password=" + pg.password());

    for (int run = 1; run <= 2; run++) {
      Run r = demo("demo", "--bootstrap-servers", kafka.bootstrapServers(), "--db-url", url, "--output", "json",
          "--events", "120", "--schema-registry-url", Servers.schemaRegistry().url());
      assertThat(r.exit()).as("run %d, stderr:%n%s", run, r.err()).isZero();
      JsonNode report = new ObjectMapper().readTree(r.out());
      assertThat(report.get("rowsInDefault").asInt()).isZero();
      assertThat(report.get("routerDisagreed").asInt()).isZero();
      assertThat(report.get("routerAgreed").asInt()).isEqualTo(120);
      assertThat(report.get("contiguous").asBoolean()).isTrue();
      assertThat(report.get("indexOnEveryPartition").asBoolean()).isTrue();
      assertThat(report.get("wireFormatProblems")).as("commands and boundaries in the Confluent wire format").isEmpty();
      assertThat(report.get("schemaRegistry").asText()).isEqualTo(Servers.schemaRegistry().url());
      assertThat(report.get("partitionsExpected").asInt()).isEqualTo(31);
      if (run == 1) {
        assertThat(report.get("partitionsCreatedThisRun").asInt()).isGreaterThanOrEqualTo(30);
      } else {
        assertThat(report.get("partitionsCreatedThisRun").asInt()).isZero();
      }
    }
  }

  @Test
  void unreachableDatabaseIsAClearErrorNotAStackTrace() throws Exception {
    int closedPort;
    try (ServerSocket s = new ServerSocket(0)) {
      closedPort = s.getLocalPort();
    }
    Run r = demo("demo", "--bootstrap-servers", Servers.kafka().bootstrapServers(),
        "--db-url", "jdbc:postgresql://127.0.0.1:" + closedPort + "/nowhere?user=x",
        "--schema-registry-url", Servers.schemaRegistry().url());

    assertThat(r.exit()).isEqualTo(ExitCodes.UNAVAILABLE);
    assertThat(r.err()).contains("127.0.0.1:" + closedPort).doesNotContain("\tat ");
  }

  @Test
  void badOptionIsRejectedWithTheReason() {
    Run r = demo("demo", "--days", "400");
    assertThat(r.exit()).isEqualTo(ExitCodes.ERROR);
    assertThat(r.err()).contains("--days must be between 1 and 366");
  }
}
