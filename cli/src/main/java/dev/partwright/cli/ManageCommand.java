package dev.partwright.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.zaxxer.hikari.HikariDataSource;
import dev.partwright.connectors.WorkerDataSource;
import dev.partwright.connectors.policy.InvalidPolicyException;
import dev.partwright.connectors.policy.ManagedTable;
import dev.partwright.connectors.policy.PolicyStore;
import dev.partwright.connectors.policy.UnmanageableTableException;
import dev.partwright.connectors.postgres.Identifier;
import dev.partwright.connectors.postgres.InvalidIdentifierException;
import dev.partwright.connectors.postgres.QualifiedName;
import dev.partwright.embedded.ExternalPostgres;
import dev.partwright.embedded.ServerStartException;
import dev.partwright.schemas.ManagedTablePolicy;
import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.schemas.SchemaRegistryException;
import dev.partwright.streams.PlannerConfig;
import java.io.PrintWriter;
import java.sql.SQLException;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(
    name = "manage",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
        "Registers a partitioned table with Partwright, or lists the registered ones.",
        "",
        "The policy is stored in partwright.managed_tables of the target database (created if missing),",
        "after checking the table: an existing partitioned parent keyed as the policy says is adopted",
        "as it is (its partitions stay); a plain table is refused with the SQL that converts it.",
        "With --bootstrap-servers the policy is also published to the compacted policies topic, from",
        "which running demand topologies learn it without a restart.",
        "",
        "Exit codes: 0 stored (or listed); 1 the table cannot be managed as asked; 2 bad arguments;",
        "3 PostgreSQL or Kafka unreachable."})
final class ManageCommand implements Callable<Integer> {

  @Spec
  CommandSpec spec;

  @Mixin
  ConnectionOptions connection;

  @ArgGroup(exclusive = true, multiplicity = "1")
  Action action;

  static final class Action {
    @Option(names = "--list", required = true, description = "List the managed tables and their policies.")
    boolean list;

    @ArgGroup(exclusive = false)
    Register register;
  }

  static final class Register {
    @Option(names = "--table", required = true, paramLabel = "SCHEMA.TABLE", description = "The partitioned parent.")
    String table;

    @Option(names = "--strategy", required = true, paramLabel = "STRATEGY", description = "range (on a time column).")
    String strategy;

    @Option(names = "--column", required = true, paramLabel = "COL", description = "The range key column (timestamptz).")
    String column;

    @Option(names = "--interval", required = true, paramLabel = "INTERVAL", description = "hour, day, week or month.")
    String interval;

    @Option(names = "--zone", defaultValue = "UTC", paramLabel = "ZONE",
        description = "Zone boundaries are computed in (default: ${DEFAULT-VALUE}).")
    String zone;

    @Option(names = "--buffer-days", paramLabel = "N", description = "This table's forward buffer, 1-366 days.")
    Integer bufferDays;

    @Option(names = "--retention-days", paramLabel = "N", description = "Retire partitions wholly older than N days.")
    Integer retentionDays;

    @Option(names = "--tenant-column", paramLabel = "COL",
        description = "Each tenant owns its partitions: the table is LIST (COL), each tenant's partition RANGE (--column).")
    String tenantColumn;

    @Option(names = "--max-partitions", paramLabel = "N", description = "Quota: partitions per aggregate.")
    Integer maxPartitions;

    @Option(names = "--max-bytes", paramLabel = "N", description = "Quota: projected bytes per aggregate.")
    Long maxBytes;

    @Option(names = "--policies-topic", defaultValue = PlannerConfig.DEFAULT_POLICIES_TOPIC, paramLabel = "TOPIC",
        description = "Default: ${DEFAULT-VALUE}.")
    String policiesTopic;
  }

  @Option(names = "--output", defaultValue = "text", paramLabel = "FORMAT", description = "text or json (default: ${DEFAULT-VALUE}).")
  String output;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    if (!output.equals("text") && !output.equals("json")) {
      err.println("partwright manage: --output must be text or json, not '" + output + "'");
      return ExitCodes.ERROR;
    }
    ManagedTable policy = null;
    PartwrightSerdes serdes = null;
    if (!action.list && connection.bootstrapServers != null) {
      try {
        serdes = Registry.serdes(connection.schemaRegistryUrl);
      } catch (IllegalArgumentException e) {
        err.println("partwright manage: " + e.getMessage());
        return ExitCodes.ERROR;
      }
    }
    if (!action.list) {
      try {
        Register r = action.register;
        policy = new ManagedTable(QualifiedName.parse(r.table), r.strategy, new Identifier(r.column), r.interval, r.zone,
            r.tenantColumn == null ? null : new Identifier(r.tenantColumn), r.bufferDays, r.retentionDays,
            r.maxPartitions, r.maxBytes, Instant.now().truncatedTo(ChronoUnit.MICROS));
      } catch (InvalidIdentifierException | InvalidPolicyException e) {
        err.println("partwright manage: " + e.getMessage());
        return ExitCodes.ERROR;
      }
    }
    try (Db db = Db.connect(connection.requireDbUrl(), connection.dbUser, connection.dbPassword, 2)) {
      PolicyStore store = new PolicyStore(db.pool);
      if (action.list) {
        print(out, store.list());
        return ExitCodes.OK;
      }
      try {
        store.register(policy, "partwright manage (" + System.getProperty("user.name", "?") + ")");
      } catch (UnmanageableTableException e) {
        err.println("partwright manage: " + e.getMessage());
        return ExitCodes.INVARIANT_VIOLATED;
      }
      if (connection.bootstrapServers != null) {
        publish(connection.bootstrapServers, serdes, action.register.policiesTopic, policy);
      }
      print(out, List.of(policy));
      return ExitCodes.OK;
    } catch (Db.UnreachableException e) {
      err.println("partwright manage: " + e.getMessage());
      return ExitCodes.UNAVAILABLE;
    }
  }

  private void print(PrintWriter out, List<ManagedTable> tables) throws Exception {
    if (output.equals("json")) {
      List<Map<String, Object>> rows = new ArrayList<>();
      for (ManagedTable t : tables) {
        rows.add(json(t));
      }
      out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(rows));
    } else if (tables.isEmpty()) {
      out.println("no managed tables");
    } else {
      out.printf("%-32s %-8s %-16s %-6s %-14s %-14s %-7s %-9s %s%n", "TABLE", "STRATEGY", "COLUMN", "EVERY", "ZONE", "TENANT",
          "BUFFER", "RETENTION", "QUOTA");
      for (ManagedTable t : tables) {
        out.printf("%-32s %-8s %-16s %-6s %-14s %-14s %-7s %-9s %s%n", t.table(), t.strategy(), t.column(), t.interval(),
            t.zone(), t.tenantColumn() == null ? "-" : t.tenantColumn(), t.bufferDays() == null ? "-" : t.bufferDays() + "d",
            t.retentionDays() == null ? "-" : t.retentionDays() + "d",
            (t.maxPartitions() == null ? "-" : t.maxPartitions() + " partitions") + ", "
                + (t.maxBytes() == null ? "-" : t.maxBytes() + " bytes"));
      }
    }
    out.flush();
  }

  static Map<String, Object> json(ManagedTable t) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("table", t.table().toString());
    m.put("strategy", t.strategy());
    m.put("column", t.column().name());
    m.put("interval", t.interval());
    m.put("zone", t.zone());
    m.put("tenantColumn", t.tenantColumn() == null ? null : t.tenantColumn().name());
    m.put("bufferDays", t.bufferDays());
    m.put("retentionDays", t.retentionDays());
    m.put("maxPartitions", t.maxPartitions());
    m.put("maxBytes", t.maxBytes());
    m.put("registeredAt", t.registeredAt().toString());
    return m;
  }

  /** Publishes the policy, keyed by table, to the compacted policies topic (created if missing). */
  static void publish(String bootstrapServers, PartwrightSerdes serdes, String topic, ManagedTable policy)
      throws Db.UnreachableException {
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    Properties producerProps = new Properties();
    producerProps.putAll(p);
    producerProps.put(ProducerConfig.ACKS_CONFIG, "all");
    producerProps.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    producerProps.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 15_000);
    try (Admin admin = Admin.create(p)) {
      Set<String> topics = admin.listTopics().names().get(15, TimeUnit.SECONDS);
      if (!topics.contains(topic)) {
        try {
          admin.createTopics(List.of(new NewTopic(topic, 1, (short) -1)
              .configs(Map.of(TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT)))).all().get();
        } catch (ExecutionException e) {
          if (!(e.getCause() instanceof TopicExistsException)) {
            throw e;
          }
        }
      }
      byte[] value = serdes.serde(ManagedTablePolicy.class).encode(topic, policy.toRecord());
      try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(producerProps, new StringSerializer(),
          new ByteArraySerializer())) {
        producer.send(new ProducerRecord<>(topic, policy.table().toString(), value)).get(15, TimeUnit.SECONDS);
      }
    } catch (SchemaRegistryException e) {
      throw new Db.UnreachableException("cannot register the policy schema for " + topic + ": " + e.getMessage());
    } catch (ExecutionException | TimeoutException e) {
      throw new Db.UnreachableException("cannot publish the policy of " + policy.table() + " to " + topic + " at "
          + bootstrapServers + ": " + (e.getCause() == null ? e : e.getCause()));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new Db.UnreachableException("interrupted while publishing to " + topic);
    }
  }

  /** The target database, through the worker's UTC pool; shared by manage and rotate. */
  static final class Db implements AutoCloseable {
    final HikariDataSource pool;
    final String jdbcUrl;

    private Db(HikariDataSource pool, String jdbcUrl) {
      this.pool = pool;
      this.jdbcUrl = jdbcUrl;
    }

    /** A server (PostgreSQL or Kafka) that cannot be reached: exit code 3. */
    static final class UnreachableException extends Exception {
      UnreachableException(String message) {
        super(message);
      }
    }

    static Db connect(String url, String user, String password, int maxConnections) throws UnreachableException {
      ExternalPostgres target;
      try {
        target = ExternalPostgres.connect(url, user, password);
      } catch (ServerStartException e) {
        throw new UnreachableException(e.getMessage());
      }
      try {
        return new Db(WorkerDataSource.create(target.jdbcUrl(), target.user(), target.password(), maxConnections),
            Demo.redact(target.jdbcUrl()));
      } catch (RuntimeException e) {
        throw new UnreachableException("cannot connect to PostgreSQL at " + Demo.redact(target.jdbcUrl()) + ": "
            + e.getMessage());
      } finally {
        target.close();
      }
    }

    @Override
    public void close() {
      pool.close();
    }
  }

  static boolean isUnreachable(SQLException e) {
    return e.getSQLState() != null && e.getSQLState().startsWith("08");
  }
}
