package dev.partwright.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.partwright.commandstore.CatalogReplay;
import dev.partwright.commandstore.CommandStoreConfig;
import dev.partwright.commandstore.DeadLetter;
import dev.partwright.commandstore.PartitionCatalog;
import dev.partwright.connectors.postgres.PostgresCatalog;
import dev.partwright.connectors.postgres.QualifiedName;
import dev.partwright.embedded.ExternalKafka;
import dev.partwright.embedded.ExternalPostgres;
import dev.partwright.embedded.ServerStartException;
import dev.partwright.schemas.AggregateId;
import dev.partwright.schemas.BoundaryChange;
import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.schemas.SchemaRegistryException;
import dev.partwright.schemas.Bounds;
import dev.partwright.schemas.HistoryEntry;
import dev.partwright.schemas.LivePartition;
import dev.partwright.schemas.PartitionKey;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.PendingCommand;
import dev.partwright.schemas.Topics;
import java.io.PrintStream;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(
    name = "replay",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
        "Rebuilds the catalog from the command log and shows it.",
        "",
        "Folds the command log (committed records only) from the latest snapshot of each partition plus",
        "the records after it, or from offset 0 (--from zero), and prints per aggregate its version, live",
        "partitions, pending commands and history. Records that cannot be applied (unreadable, unknown",
        "type, out of order) are listed and skipped.",
        "",
        "--verify compares the catalog with PostgreSQL (pg_inherits, pg_get_expr(relpartbound), session",
        "TimeZone UTC) for every table of the catalog's aggregates and lists every difference. A DEFAULT",
        "partition the catalog does not know is reported as unmanaged, not as a difference.",
        "--republish-boundaries re-publishes a PartitionAdded for every live partition to the boundary",
        "topic, as the worker announced it, so downstream consumers can rebuild; it reads each parent's",
        "partition key from PostgreSQL (--db-url).",
        "",
        "Exit codes: 0 done (and, with --verify, catalog = database); 1 --verify found differences;",
        "2 error; 3 Kafka or PostgreSQL unavailable."})
final class ReplayCommand implements Callable<Integer> {

  @Spec
  CommandSpec spec;

  @Mixin
  ConnectionOptions connection;

  @Option(names = "--commands-topic", paramLabel = "TOPIC", defaultValue = Topics.COMMANDS,
      description = "The command log (default: ${DEFAULT-VALUE}).")
  String commandsTopic;

  @Option(names = "--snapshots-topic", paramLabel = "TOPIC", defaultValue = Topics.SNAPSHOTS,
      description = "Catalog snapshots (default: ${DEFAULT-VALUE}).")
  String snapshotsTopic;

  @Option(names = "--boundaries-topic", paramLabel = "TOPIC", defaultValue = Topics.BOUNDARIES,
      description = "Where --republish-boundaries publishes (default: ${DEFAULT-VALUE}).")
  String boundariesTopic;

  @Option(names = "--from", paramLabel = "WHERE", defaultValue = "snapshot",
      description = "snapshot (latest snapshots + tail) or zero (the whole log) (default: ${DEFAULT-VALUE}).")
  String from;

  @Option(names = "--aggregate", paramLabel = "ID",
      description = "Show only these aggregates (tenant/schema.table); repeatable. Verification still covers all.")
  List<String> only = new ArrayList<>();

  @Option(names = "--output", paramLabel = "FORMAT", defaultValue = "text",
      description = "text or json (default: ${DEFAULT-VALUE}).")
  String output;

  @Option(names = "--no-progress", description = "No progress indicator on stderr.")
  boolean noProgress;

  @Option(names = "--verify", description = "Compare the catalog with PostgreSQL (needs --db-url).")
  boolean verify;

  @Option(names = "--republish-boundaries", description = "Re-publish PartitionAdded for every live partition (needs --db-url).")
  boolean republish;

  /** One way the catalog and PostgreSQL disagree. */
  record Difference(String kind, String table, String catalog, String database) {}

  /** What --verify found. */
  record Verification(boolean equal, List<Difference> differences, List<String> unmanaged, int partitionsCompared) {}

  record PartitionView(String name, String parent, String bound, String provisionedBy, long commandOffset,
      String provisionedAt) {}

  record PendingView(String idempotencyKey, String kind, long offset) {}

  record HistoryView(long offset, String recordedAt, String kind, String verdict, String idempotencyKey, String actor,
      String reason, List<String> partitions, long version) {}

  record AggregateView(String id, int partition, long version, List<PartitionView> partitions, List<PendingView> pending,
      List<HistoryView> history) {}

  record Report(String commandsTopic, int partitions, String source, Map<Integer, Long> snapshotOffsets,
      long recordsRead, long millis, List<String> warnings, List<String> deadLetters, List<AggregateView> aggregates,
      Verification verification, Integer boundariesRepublished) {}

  @Override
  public Integer call() throws Exception {
    PrintStream err = System.err;
    if (!output.equals("text") && !output.equals("json")) {
      err.println("partwright replay: --output must be text or json, not '" + output + "'");
      return ExitCodes.ERROR;
    }
    if (!from.equals("snapshot") && !from.equals("zero")) {
      err.println("partwright replay: --from must be snapshot or zero, not '" + from + "'");
      return ExitCodes.ERROR;
    }
    for (String id : only) {
      try {
        AggregateId.parse(id);
      } catch (IllegalArgumentException e) {
        err.println("partwright replay: --aggregate " + e.getMessage());
        return ExitCodes.ERROR;
      }
    }
    boolean needsDb = verify || republish;
    PartwrightSerdes serdes;
    try {
      serdes = Registry.serdes(connection.schemaRegistryUrl);
    } catch (IllegalArgumentException e) {
      err.println("partwright replay: " + e.getMessage());
      return ExitCodes.ERROR;
    }
    ExternalKafka kafka;
    ExternalPostgres postgres = null;
    try {
      kafka = connection.bootstrapServers == null ? ExternalKafka.fromEnvironment()
          : ExternalKafka.connect(connection.bootstrapServers);
      if (needsDb) {
        postgres = connection.dbUrl == null ? ExternalPostgres.fromEnvironment()
            : ExternalPostgres.connect(connection.dbUrl, connection.dbUser, connection.dbPassword);
      }
    } catch (ServerStartException e) {
      err.println("partwright replay: " + e.getMessage());
      return ExitCodes.UNAVAILABLE;
    }
    try {
      // partition count and replication only matter when creating topics, which replay never does
      CommandStoreConfig config = new CommandStoreConfig(kafka.bootstrapServers(), commandsTopic, boundariesTopic, 1,
          (short) 1, 1, snapshotsTopic, Topics.COMMANDS_DLQ, serdes);
      Progress progress = new Progress(err, commandsTopic, !noProgress);
      CatalogReplay.Result result = from.equals("zero")
          ? CatalogReplay.fromZero(config, progress) : CatalogReplay.fromSnapshots(config, progress);
      progress.done();
      PartitionCatalog catalog = result.catalog();
      Verification verification = null;
      Integer republished = null;
      if (needsDb) {
        try (Connection c = DriverManager.getConnection(postgres.jdbcUrl(), postgres.user(), postgres.password())) {
          try (Statement s = c.createStatement()) {
            // bound text depends on the session: UTC and ISO make pg_get_expr and our rendering agree
            s.execute("SET TIME ZONE 'UTC'");
            s.execute("SET DateStyle = 'ISO, YMD'");
          }
          if (verify) {
            verification = verify(c, catalog);
          }
          if (republish) {
            republished = republish(c, catalog, kafka.bootstrapServers(), serdes);
          }
        }
      }
      Report report = report(result, verification, republished);
      if (output.equals("json")) {
        System.out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(report));
      } else {
        printText(System.out, report);
      }
      return verification != null && !verification.equal() ? ExitCodes.INVARIANT_VIOLATED : ExitCodes.OK;
    } catch (SchemaRegistryException e) {
      err.println("partwright replay: schema registry: " + e.getMessage());
      return ExitCodes.UNAVAILABLE;
    } finally {
      if (postgres != null) {
        postgres.close();
      }
    }
  }

  /** Every table of the catalog's aggregates, compared partition by partition with PostgreSQL. */
  static Verification verify(Connection c, PartitionCatalog catalog) throws SQLException {
    SortedMap<String, SortedMap<String, PartitionSpec>> expectedByRoot = new TreeMap<>();
    for (PartitionCatalog.Aggregate a : catalog.aggregates().values()) {
      SortedMap<String, PartitionSpec> live = expectedByRoot.computeIfAbsent(
          AggregateId.parse(a.id()).qualifiedTable(), k -> new TreeMap<>());
      a.partitions().forEach((name, lp) -> live.put(name, lp.getSpec()));
    }
    List<Difference> differences = new ArrayList<>();
    List<String> unmanaged = new ArrayList<>();
    Map<String, Optional<PartitionKey>> keys = new HashMap<>();
    int compared = 0;
    for (Map.Entry<String, SortedMap<String, PartitionSpec>> root : expectedByRoot.entrySet()) {
      String table = root.getKey();
      Optional<Map<String, String[]>> actual = descendants(c, table);
      if (actual.isEmpty()) {
        differences.add(new Difference("TABLE_MISSING", table, root.getValue().size() + " live partitions", "no such table"));
        continue;
      }
      Map<String, String[]> inDb = actual.get();
      for (Map.Entry<String, PartitionSpec> e : root.getValue().entrySet()) {
        compared++;
        PartitionSpec spec = e.getValue();
        String[] db = inDb.get(e.getKey());
        Optional<PartitionKey> key = keys.computeIfAbsent(spec.getParent(), parent -> partitionKey(c, parent));
        String expectedBound = key.isPresent()
            ? PostgresCatalog.expectedBoundExpression(c, spec.getBound(), key.get())
            : "FOR VALUES " + Bounds.describe(spec.getBound());
        if (db == null) {
          differences.add(new Difference("MISSING_IN_DATABASE", e.getKey(), spec.getParent() + " " + expectedBound, "absent"));
        } else if (!spec.getParent().equals(db[0])) {
          differences.add(new Difference("PARENT_DIFFERS", e.getKey(), "partition of " + spec.getParent(),
              db[0] == null ? "not attached" : "partition of " + db[0]));
        } else if (!expectedBound.equals(db[1])) {
          differences.add(new Difference("BOUND_DIFFERS", e.getKey(), expectedBound, db[1]));
        }
      }
      for (Map.Entry<String, String[]> e : inDb.entrySet()) {
        if (!root.getValue().containsKey(e.getKey())) {
          if ("DEFAULT".equals(e.getValue()[1])) {
            unmanaged.add(e.getKey() + " (DEFAULT of " + e.getValue()[0] + ")");
          } else {
            differences.add(new Difference("NOT_IN_CATALOG", e.getKey(), "absent",
                e.getValue()[0] + " " + e.getValue()[1]));
          }
        }
      }
    }
    return new Verification(differences.isEmpty(), differences, unmanaged, compared);
  }

  private static Optional<PartitionKey> partitionKey(Connection c, String parent) {
    try {
      return PostgresCatalog.partitionKey(c, QualifiedName.parse(parent));
    } catch (SQLException | RuntimeException e) {
      return Optional.empty();
    }
  }

  private static final String DESCENDANTS = """
      WITH RECURSIVE tree(oid, parent) AS (
        SELECT c.oid, NULL::oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = ? AND c.relname = ?
        UNION ALL
        SELECT i.inhrelid, i.inhparent FROM pg_inherits i JOIN tree t ON i.inhparent = t.oid
      )
      SELECT n.nspname || '.' || c.relname, pn.nspname || '.' || p.relname, pg_get_expr(c.relpartbound, c.oid),
             t.parent IS NULL
        FROM tree t
        JOIN pg_class c ON c.oid = t.oid JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_class p ON p.oid = t.parent LEFT JOIN pg_namespace pn ON pn.oid = p.relnamespace
      """;

  /** name → {parent, bound expression} of every partition under {@code table}, or empty when it does not exist. */
  private static Optional<Map<String, String[]>> descendants(Connection c, String table) throws SQLException {
    int dot = table.indexOf('.');
    try (PreparedStatement ps = c.prepareStatement(DESCENDANTS)) {
      ps.setString(1, table.substring(0, dot));
      ps.setString(2, table.substring(dot + 1));
      Map<String, String[]> out = new TreeMap<>();
      boolean exists = false;
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          if (rs.getBoolean(4)) {
            exists = true;
          } else {
            out.put(rs.getString(1), new String[] {rs.getString(2), rs.getString(3)});
          }
        }
      }
      return exists ? Optional.of(out) : Optional.empty();
    }
  }

  private int republish(Connection c, PartitionCatalog catalog, String bootstrap, PartwrightSerdes serdes)
      throws Exception {
    Map<String, PartitionKey> keys = new HashMap<>();
    for (PartitionCatalog.Aggregate a : catalog.aggregates().values()) {
      for (LivePartition lp : a.partitions().values()) {
        String parent = lp.getSpec().getParent();
        if (!keys.containsKey(parent)) {
          keys.put(parent, PostgresCatalog.partitionKey(c, QualifiedName.parse(parent)).orElseThrow(() ->
              new IllegalStateException("cannot re-publish partitions of " + parent + ": it is not a partitioned table"
                  + " in PostgreSQL, so its partition key is unknown")));
        }
      }
    }
    List<BoundaryChange> changes = catalog.boundaryChanges(keys::get);
    var serde = serdes.serde(BoundaryChange.class);
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer())) {
      List<java.util.concurrent.Future<?>> sent = new ArrayList<>();
      for (BoundaryChange change : changes) {
        sent.add(producer.send(new ProducerRecord<>(boundariesTopic, change.getRootTable(), serde.encode(boundariesTopic, change))));
      }
      for (java.util.concurrent.Future<?> f : sent) {
        try {
          f.get();
        } catch (ExecutionException e) {
          throw new IllegalStateException("cannot publish to " + boundariesTopic + ": " + e.getCause(), e.getCause());
        }
      }
    }
    return changes.size();
  }

  private Report report(CatalogReplay.Result result, Verification verification, Integer republished) {
    PartitionCatalog catalog = result.catalog();
    List<AggregateView> views = new ArrayList<>();
    TreeSet<String> wanted = new TreeSet<>(only);
    for (PartitionCatalog.Aggregate a : catalog.aggregates().values()) {
      if (!wanted.isEmpty() && !wanted.contains(a.id())) {
        continue;
      }
      List<PartitionView> partitions = new ArrayList<>();
      a.partitions().forEach((name, lp) -> partitions.add(new PartitionView(name, lp.getSpec().getParent(),
          Bounds.describe(lp.getSpec().getBound()), lp.getIdempotencyKey(), lp.getCommandOffset(),
          lp.getProvisionedAt().toString())));
      List<PendingView> pending = new ArrayList<>();
      for (PendingCommand pc : a.pending()) {
        pending.add(new PendingView(keyOf(pc), pc.getCommand().getClass().getSimpleName(), pc.getOffset()));
      }
      List<HistoryView> history = new ArrayList<>();
      for (HistoryEntry h : a.history()) {
        history.add(new HistoryView(h.getOffset(), h.getRecordedAt().toString(), h.getKind().name(), h.getVerdict().name(),
            h.getIdempotencyKey(), h.getActor(), h.getReason(), List.copyOf(h.getPartitions()), h.getVersion()));
      }
      views.add(new AggregateView(a.id(), a.partition(), a.version(), partitions, pending, history));
    }
    List<String> dead = result.deadLetters().stream().map(DeadLetter::toString).toList();
    return new Report(catalog.commandsTopic(), catalog.partitionCount(),
        result.snapshotOffsets().isEmpty() ? "offset 0" : "snapshots + tail", result.snapshotOffsets(),
        result.recordsRead(), result.took().toMillis(), result.warnings(), dead, views, verification, republished);
  }

  private static String keyOf(PendingCommand pc) {
    Object c = pc.getCommand();
    if (c instanceof dev.partwright.schemas.ProvisionPartitions p) {
      return p.getHeader().getIdempotencyKey();
    } else if (c instanceof dev.partwright.schemas.RetirePartitions r) {
      return r.getHeader().getIdempotencyKey();
    } else if (c instanceof dev.partwright.schemas.Rollback r) {
      return r.getHeader().getIdempotencyKey();
    }
    return "?";
  }

  private static void printText(PrintStream out, Report r) {
    out.println("Catalog of " + r.commandsTopic() + " (" + r.partitions() + " partitions): " + r.aggregates().size()
        + " aggregates shown, " + r.recordsRead() + " records read from " + r.source()
        + (r.snapshotOffsets().isEmpty() ? "" : " " + r.snapshotOffsets()) + " in " + r.millis() + " ms");
    for (String w : r.warnings()) {
      out.println("  warning: " + w);
    }
    if (!r.deadLetters().isEmpty()) {
      out.println("  records skipped (" + r.deadLetters().size() + "):");
      r.deadLetters().forEach(d -> out.println("    " + d));
    }
    for (AggregateView a : r.aggregates()) {
      out.println();
      out.println(a.id() + "  version " + a.version() + ", log partition " + a.partition());
      out.println("  partitions (" + a.partitions().size() + "):");
      for (PartitionView p : a.partitions()) {
        out.println("    " + p.name() + "  " + p.bound() + "  by " + p.provisionedBy() + " (command @" + p.commandOffset()
            + ", " + p.provisionedAt() + ")");
      }
      if (!a.pending().isEmpty()) {
        out.println("  pending (" + a.pending().size() + "):");
        a.pending().forEach(p -> out.println("    " + p.kind() + " " + p.idempotencyKey() + " @" + p.offset()));
      }
      out.println("  history (" + a.history().size() + "):");
      for (HistoryView h : a.history()) {
        out.println("    @" + h.offset() + " " + h.recordedAt() + " " + h.kind() + " " + h.idempotencyKey()
            + (h.verdict().equals("APPLIED") ? "" : " [" + h.verdict() + "]")
            + (h.actor().isEmpty() ? "" : " by " + h.actor()) + (h.reason().isEmpty() ? "" : ": " + h.reason())
            + (h.partitions().isEmpty() ? "" : " " + h.partitions()) + " -> v" + h.version());
      }
    }
    if (r.verification() != null) {
      Verification v = r.verification();
      out.println();
      out.println("catalog = database: " + (v.equal() ? "yes" : "NO") + " (" + v.partitionsCompared()
          + " partitions compared, " + v.differences().size() + " differences)");
      for (Difference d : v.differences()) {
        out.println("  " + d.kind() + " " + d.table() + ": catalog " + d.catalog() + " | database " + d.database());
      }
      for (String u : v.unmanaged()) {
        out.println("  unmanaged: " + u);
      }
    }
    if (r.boundariesRepublished() != null) {
      out.println();
      out.println("re-published " + r.boundariesRepublished() + " PartitionAdded boundary changes");
    }
  }

  /** A progress line on stderr, redrawn in place on a terminal, a line per 10 % otherwise; silent for short replays. */
  static final class Progress implements CatalogReplay.Progress {
    private static final long SHOW_AFTER_RECORDS = 50_000;
    private final PrintStream err;
    private final String topic;
    private final boolean enabled;
    private final boolean terminal = System.console() != null;
    private long lastDraw;
    private long lastDecile = -1;
    private boolean drawn;

    Progress(PrintStream err, String topic, boolean enabled) {
      this.err = err;
      this.topic = topic;
      this.enabled = enabled;
    }

    @Override
    public void update(long read, long total) {
      if (!enabled || total < SHOW_AFTER_RECORDS) {
        return;
      }
      long percent = total == 0 ? 100 : read * 100 / total;
      String line = String.format(Locale.ROOT, "replaying %s: %,d / %,d records (%d%%)", topic, read, total, percent);
      if (terminal) {
        long now = System.nanoTime();
        if (now - lastDraw > Duration.ofMillis(200).toNanos() || read == total) {
          err.print("\r" + line);
          err.flush();
          lastDraw = now;
          drawn = true;
        }
      } else if (percent / 10 != lastDecile) {
        lastDecile = percent / 10;
        err.println(line);
      }
    }

    void done() {
      if (drawn) {
        err.println();
      }
    }
  }
}
