package dev.partwright.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.partwright.embedded.EmbeddedKafka;
import dev.partwright.embedded.EmbeddedPostgres;
import dev.partwright.embedded.EmbeddedSchemaRegistry;
import dev.partwright.embedded.ExternalKafka;
import dev.partwright.embedded.ExternalPostgres;
import dev.partwright.embedded.ExternalSchemaRegistry;
import dev.partwright.embedded.KafkaEndpoint;
import dev.partwright.embedded.PostgresEndpoint;
import dev.partwright.embedded.SchemaRegistryEndpoint;
import dev.partwright.embedded.ServerStartException;
import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.schemas.SchemaRegistryConfig;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(
    name = "demo",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
        "Runs the whole pipeline once and shows what it did.",
        "",
        "Starts an embedded Kafka (KRaft), PostgreSQL 17 and schema registry (Apicurio) unless",
        "--bootstrap-servers / --db-url / --schema-registry-url name existing ones, creates public.events",
        "(range-partitioned on created_at, with an index and a DEFAULT partition), sends ingestion",
        "events for three tenants over the next --days days, waits until partitions cover today ..",
        "today + days, inserts the rows through the parent and reports",
        "rows per partition, rows left in DEFAULT (must be 0) and whether the router agreed with",
        "PostgreSQL for every row. On existing servers, tables and topics are left for inspection.",
        "",
        "Exit codes: 0 all held; 1 an invariant did not hold; 2 error; 3 a server was unavailable."})
final class DemoCommand implements Callable<Integer> {

  @Spec
  CommandSpec spec;

  @Mixin
  ConnectionOptions connection;

  @Option(names = "--output", paramLabel = "FORMAT", defaultValue = "text",
      description = "text or json (default: ${DEFAULT-VALUE}).")
  String output;

  @Option(names = "--events", paramLabel = "N", defaultValue = "300", description = "Ingestion events to send (default: ${DEFAULT-VALUE}).")
  int events;

  @Option(names = "--days", paramLabel = "N", defaultValue = "30", description = "Forward buffer in days, 1-366 (default: ${DEFAULT-VALUE}).")
  int days;

  @Option(names = "--timeout", paramLabel = "SECONDS", defaultValue = "90", description = "Give up after this long (default: ${DEFAULT-VALUE}).")
  int timeoutSeconds;

  @Override
  public Integer call() throws Exception {
    PrintStream err = new PrintStream(spec.commandLine().getErr() == null ? System.err : System.err, true);
    if (!output.equals("text") && !output.equals("json")) {
      err.println("partwright demo: --output must be text or json, not '" + output + "'");
      return ExitCodes.ERROR;
    }
    if (days < 1 || days > 366) {
      err.println("partwright demo: --days must be between 1 and 366, not " + days);
      return ExitCodes.ERROR;
    }
    if (events < 2) {
      err.println("partwright demo: --events must be at least 2");
      return ExitCodes.ERROR;
    }
    Path work = Files.createTempDirectory("partwright-demo-");
    KafkaEndpoint kafka = null;
    PostgresEndpoint postgres = null;
    SchemaRegistryEndpoint registry = null;
    String registryUrl = connection.schemaRegistryUrl != null ? connection.schemaRegistryUrl : System.getenv(SchemaRegistryConfig.URL_ENV);
    // the embedded registry is a child process that takes seconds to start: overlap it with Kafka's start
    CompletableFuture<SchemaRegistryEndpoint> registryStart = CompletableFuture.supplyAsync(() -> registryUrl == null
        ? EmbeddedSchemaRegistry.start(work.resolve("registry")) : ExternalSchemaRegistry.connect(registryUrl));
    try {
      try {
        // absent options mean embedded servers here, not the environment's
        String bootstrapServers = connection.bootstrapServers;
        String dbUrl = connection.dbUrl;
        err.println(bootstrapServers == null ? "starting embedded Kafka (KRaft)..." : "connecting to Kafka at " + bootstrapServers + "...");
        kafka = bootstrapServers == null ? EmbeddedKafka.start(work.resolve("kafka")) : ExternalKafka.connect(bootstrapServers);
        err.println(dbUrl == null ? "starting embedded PostgreSQL..." : "connecting to PostgreSQL at " + Demo.redact(dbUrl) + "...");
        postgres = dbUrl == null ? EmbeddedPostgres.start(work.resolve("postgres"))
            : ExternalPostgres.connect(dbUrl, connection.dbUser, connection.dbPassword);
        err.println(registryUrl == null ? "starting embedded schema registry..." : "connecting to the schema registry...");
        registry = join(registryStart);
      } catch (ServerStartException e) {
        err.println("partwright demo: " + e.getMessage());
        return ExitCodes.UNAVAILABLE;
      }
      PartwrightSerdes serdes = PartwrightSerdes.create(
          SchemaRegistryConfig.fromEnvironment(registryUrl != null ? registryUrl : registry.url()));
      Demo demo = new Demo(kafka.bootstrapServers(), serdes,
          new Pipeline.Database(postgres.jdbcUrl(), postgres.user(), postgres.password()),
          events, days, Duration.ofSeconds(timeoutSeconds), err);
      Demo.Report report = demo.run(work.resolve("streams"));
      PrintStream out = System.out;
      if (output.equals("json")) {
        out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(report));
      } else {
        printText(out, report);
      }
      return report.ok() ? ExitCodes.OK : ExitCodes.INVARIANT_VIOLATED;
    } finally {
      closeQuietly(kafka);
      closeQuietly(postgres);
      closeQuietly(registry != null ? registry : registryStart.exceptionally(e -> null).join());
      deleteRecursively(work);
    }
  }

  private static void printText(PrintStream out, Demo.Report r) {
    out.println();
    out.println("Partwright demo (run " + r.runId() + ")");
    out.println("  Kafka:       " + r.kafka());
    out.println("  PostgreSQL:  " + r.postgres());
    out.println("  schema registry: " + r.schemaRegistry());
    out.println("  events sent:                 " + r.eventsSent() + " (tenants " + Demo.TENANTS + ")");
    out.println("  partitions expected:         " + r.partitionsExpected() + " daily, today .. today + " + (r.partitionsExpected() - 1) + " days");
    out.println("  partitions created this run: " + r.partitionsCreatedThisRun() + " (public.events now has " + r.partitionsTotal() + ", DEFAULT included)");
    out.println("  first event -> partitions ready in PostgreSQL: " + r.firstEventToReadyMillis() + " ms");
    out.println("  first event -> all partitions visible to the router: " + r.firstEventToRouterMillis() + " ms");
    out.println("  contiguous (no gap, no overlap): " + r.contiguous());
    out.println("  created_at index on every partition (valid, ready): " + r.indexOnEveryPartition());
    out.println("  rows inserted through public.events: " + r.rowsInserted());
    out.println("  rows per partition:");
    for (Map.Entry<String, Integer> e : r.rowsPerPartition().entrySet()) {
      out.printf("    %-32s %5d%n", e.getKey(), e.getValue());
    }
    out.println("  rows left in the DEFAULT partition: " + r.rowsInDefault());
    out.println("  router = PostgreSQL: " + r.routerAgreed() + " rows agree, " + r.routerDisagreed() + " disagree");
    out.println("  commands and boundaries in the Confluent wire format, schema ids known to the registry: "
        + (r.wireFormatProblems().isEmpty() ? "true" : "false " + r.wireFormatProblems()));
    out.println("  wall time: " + r.wallMillis() + " ms");
    out.println(r.ok() ? "OK" : "NOT OK: an invariant did not hold (see above)");
  }

  private static SchemaRegistryEndpoint join(CompletableFuture<SchemaRegistryEndpoint> start) {
    try {
      return start.join();
    } catch (CompletionException e) {
      throw e.getCause() instanceof RuntimeException r ? r : e;
    }
  }

  private static void closeQuietly(AutoCloseable c) {
    if (c != null) {
      try {
        c.close();
      } catch (Exception ignored) {
        // best effort on the way out
      }
    }
  }

  private static void deleteRecursively(Path dir) {
    try (var paths = Files.walk(dir)) {
      paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (Exception ignored) {
      // temp dir: the OS cleans up what we could not
    }
  }
}
