package dev.partwright.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.partwright.commandstore.CommandStore;
import dev.partwright.commandstore.CommandStoreConfig;
import dev.partwright.connectors.policy.ManagedTable;
import dev.partwright.connectors.policy.PartitionInventory;
import dev.partwright.connectors.policy.PolicyStore;
import dev.partwright.connectors.policy.RotationLock;
import dev.partwright.connectors.postgres.Ddl;
import dev.partwright.connectors.postgres.Identifier;
import dev.partwright.connectors.postgres.PartitionProvisioner;
import dev.partwright.connectors.postgres.ProvisioningException;
import dev.partwright.connectors.postgres.QualifiedName;
import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.schemas.SchemaRegistryException;
import dev.partwright.schemas.AggregateId;
import dev.partwright.schemas.CommandLogEntry;
import dev.partwright.schemas.Failed;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.Provisioned;
import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.Rejected;
import dev.partwright.schemas.Retired;
import dev.partwright.schemas.RetirePartitions;
import dev.partwright.streams.Quota;
import dev.partwright.streams.Rotation;
import dev.partwright.streams.TablePolicy;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(
    name = "rotate",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
        "Scheduled rotation: keeps every managed table (partwright manage) covered through now + buffer.",
        "",
        "Makes each table's partitions contiguous from the current interval to now + buffer, and retires",
        "partitions past the table's retention.",
        "",
        "Each table is handled on its own (one failing table does not stop the others), under an",
        "advisory lock per table, so overlapping runs create each partition once. DDL goes through the",
        "worker's provisioner: low-lock, audited in partwright.provisioning_log. With",
        "--bootstrap-servers, each command and its outcome are appended to the command log too.",
        "--dry-run prints the DDL and the quota verdicts and changes nothing.",
        "",
        "Exit codes: 0 every table covered through now + buffer; 1 a table is not (quota, conflicting",
        "partition, failed DDL); 2 bad arguments; 3 PostgreSQL or Kafka unreachable, or a table busy",
        "(lock timeouts, another rotation): retry later."})
final class RotateCommand implements Callable<Integer> {

  @Spec
  CommandSpec spec;

  @Mixin
  ConnectionOptions connection;

  @Option(names = "--buffer-days", defaultValue = "30", paramLabel = "N",
      description = "Forward buffer, 1-366 days, for tables without their own (default: ${DEFAULT-VALUE}).")
  int bufferDays;

  @Option(names = "--commands-topic", paramLabel = "TOPIC", description = "The command log (default: partwright.commands).")
  String commandsTopic;

  @Option(names = "--dry-run", description = "Print the DDL and quota verdicts; change nothing.")
  boolean dryRun;

  @Option(names = "--table", paramLabel = "SCHEMA.TABLE", description = "Only these managed tables (repeatable).")
  List<String> tables;

  @Option(names = "--lock-wait", defaultValue = "60", paramLabel = "SECONDS",
      description = "How long to wait for another rotation of the same table (default: ${DEFAULT-VALUE}).")
  int lockWaitSeconds;

  @Option(names = "--output", defaultValue = "text", paramLabel = "FORMAT", description = "text or json (default: ${DEFAULT-VALUE}).")
  String output;

  /** What happened to one aggregate of one table. */
  enum Verdict { COVERED, PROVISIONED, WOULD_PROVISION, REJECTED, WOULD_REJECT, CONFLICT, FAILED, BUSY }

  record TableReport(
      String table,
      String aggregate,
      Verdict verdict,
      String code,
      String reason,
      String coveredUntilBefore,
      String coveredUntilAfter,
      double runwayDays,
      int partitionsAfter,
      long projectedBytes,
      List<String> created,
      List<String> alreadyPresent,
      List<String> retired,
      List<String> conflicts,
      List<String> ddl) {}

  record Report(String startedAt, boolean dryRun, int bufferDays, List<TableReport> tables, int exitCode) {}

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    if (!output.equals("text") && !output.equals("json")) {
      err.println("partwright rotate: --output must be text or json, not '" + output + "'");
      return ExitCodes.ERROR;
    }
    if (bufferDays < 1 || bufferDays > 366) {
      err.println("partwright rotate: --buffer-days must be between 1 and 366, not " + bufferDays);
      return ExitCodes.ERROR;
    }
    String dbUrl = connection.requireDbUrl();
    String bootstrapServers = connection.bootstrapServers;
    PartwrightSerdes serdes = null;
    if (bootstrapServers != null && !dryRun) {
      try {
        serdes = Registry.serdes(connection.schemaRegistryUrl);
      } catch (IllegalArgumentException e) {
        err.println("partwright rotate: " + e.getMessage());
        return ExitCodes.ERROR;
      }
    }
    Instant now = Instant.now().truncatedTo(ChronoUnit.MICROS);
    List<TableReport> reports = new ArrayList<>();
    try (ManageCommand.Db db = ManageCommand.Db.connect(dbUrl, connection.dbUser, connection.dbPassword, 4);
         CommandStore log = bootstrapServers == null || dryRun ? null
             : new CommandStore(storeConfig(bootstrapServers, serdes))) {
      PartitionProvisioner provisioner = new PartitionProvisioner(db.pool, PartitionProvisioner.Limits.defaults(), worker());
      if (!dryRun) {
        provisioner.prepare();
      }
      for (ManagedTable table : new PolicyStore(db.pool).list()) {
        if (tables != null && !tables.contains(table.table().toString())) {
          continue;
        }
        try {
          reports.addAll(rotate(table, db, provisioner, log, now));
        } catch (SQLException e) {
          if (ManageCommand.isUnreachable(e)) {
            throw new ManageCommand.Db.UnreachableException("lost PostgreSQL at " + db.jdbcUrl + ": " + e.getMessage());
          }
          reports.add(failure(table, busy(e) ? Verdict.BUSY : Verdict.FAILED, e.getSQLState(), e.getMessage()));
        }
      }
    } catch (ManageCommand.Db.UnreachableException e) {
      err.println("partwright rotate: " + e.getMessage());
      return ExitCodes.UNAVAILABLE;
    } catch (SchemaRegistryException e) {
      err.println("partwright rotate: schema registry: " + e.getMessage());
      return ExitCodes.UNAVAILABLE;
    } catch (RuntimeException e) {
      if (e.getClass().getName().startsWith("org.apache.kafka")) {
        err.println("partwright rotate: Kafka at " + bootstrapServers + ": " + e.getMessage());
        return ExitCodes.UNAVAILABLE;
      }
      throw e;
    }
    int exit = exitCode(reports);
    Report report = new Report(now.toString(), dryRun, bufferDays, reports, exit);
    if (output.equals("json")) {
      out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(report));
    } else {
      printText(out, report);
    }
    out.flush();
    return exit;
  }

  /** One managed table: one aggregate if shared, one per tenant partition if tenant-scoped. */
  private List<TableReport> rotate(ManagedTable table, ManageCommand.Db db, PartitionProvisioner provisioner,
      CommandStore log, Instant now) throws SQLException {
    TablePolicy policy = TablePolicy.fromRecord(table.toRecord());
    int buffer = table.bufferDays() != null ? table.bufferDays() : bufferDays;
    List<TableReport> out = new ArrayList<>();
    try (RotationLock lock = dryRun ? null : RotationLock.acquire(db.pool, table.table(), Duration.ofSeconds(lockWaitSeconds));
         Connection c = db.pool.getConnection()) {
      PartitionInventory.Children children = PartitionInventory.of(c, table.table());
      if (!policy.tenantScoped()) {
        out.add(rotateAggregate(table, policy, AggregateId.shared(policy.schema(), policy.table()), policy.table(),
            children.ranges(), children.defaultPartition() != null, buffer, provisioner, log, now));
      } else {
        for (PartitionInventory.ListPartition tenant : children.lists()) {
          if (!tenant.partitioned() || tenant.values().size() != 1
              || !tenant.name().schema().equals(table.table().schema())) {
            continue; // not a tenant level of the list(tenant) -> range scheme
          }
          PartitionInventory.Children leaves = PartitionInventory.of(c, tenant.name());
          out.add(rotateAggregate(table, policy, new AggregateId(tenant.values().get(0), policy.schema(), policy.table()),
              tenant.name().table().name(), leaves.ranges(), leaves.defaultPartition() != null, buffer, provisioner,
              log, now));
        }
      }
    }
    return out;
  }

  private TableReport rotateAggregate(ManagedTable table, TablePolicy policy, AggregateId aggregate, String parentTable,
      List<PartitionInventory.RangePartition> ranges, boolean hasDefault, int buffer, PartitionProvisioner provisioner,
      CommandStore log, Instant now) {
    List<Rotation.Existing> existing = ranges.stream()
        .map(r -> new Rotation.Existing(r.name().toString(), r.from(), r.to(), r.bytes())).toList();
    Rotation.Plan plan = Rotation.plan(policy, aggregate, parentTable, existing, buffer, Quota.UNLIMITED, now);
    List<String> ddl = dryRun
        ? ddl(plan, table, QualifiedName.of(policy.schema(), parentTable), hasDefault) : List.of();
    Verdict verdict = plan.provision().isEmpty() ? Verdict.COVERED : dryRun ? Verdict.WOULD_PROVISION : Verdict.PROVISIONED;
    String code = null;
    String reason = null;
    Instant coveredAfter = plan.coveredUntilBefore();
    List<String> created = new ArrayList<>();
    List<String> present = new ArrayList<>();
    List<String> retired = new ArrayList<>();
    if (!plan.conflicts().isEmpty()) {
      verdict = Verdict.CONFLICT;
      code = "PARTITION_CONFLICT";
      reason = String.join("; ", plan.conflicts());
    }
    if (plan.violation().isPresent() && plan.provision().isPresent()) {
      Quota.Violation v = plan.violation().get();
      verdict = dryRun ? Verdict.WOULD_REJECT : Verdict.REJECTED;
      code = v.code();
      reason = v.reason();
      if (!dryRun && log != null) {
        // the command, then its answer: an outcome without its command would be broken order in the log
        ProvisionPartitions command = plan.provision().get();
        append(log, aggregate, command);
        append(log, aggregate, Rejected.newBuilder().setIdempotencyKey(command.getHeader().getIdempotencyKey())
            .setCode(v.code()).setReason(v.reason() + "; rotation not executed").build());
      }
    } else if (plan.provision().isPresent() && !dryRun) {
      ProvisionPartitions command = plan.provision().get();
      Instant started = Instant.now();
      if (log != null) {
        append(log, aggregate, command);
      }
      try {
        PartitionProvisioner.Result result = provisioner.provision(command);
        result.created().forEach(p -> created.add(p.getSchemaName() + "." + p.getName()));
        result.alreadyPresent().forEach(p -> present.add(p.getSchemaName() + "." + p.getName()));
        coveredAfter = plan.coveredUntilAfter();
        if (log != null) {
          append(log, aggregate, Provisioned.newBuilder().setIdempotencyKey(command.getHeader().getIdempotencyKey())
              .setCreated(result.created()).setAlreadyPresent(result.alreadyPresent()).setWorker(worker())
              .setDurationMicros(ChronoUnit.MICROS.between(started, Instant.now())).build());
        }
      } catch (ProvisioningException e) {
        verdict = switch (e.kind()) {
          case REJECTED -> Verdict.REJECTED;
          case RETRYABLE -> Verdict.BUSY;
          default -> Verdict.FAILED;
        };
        code = e.code();
        reason = e.getMessage();
        if (log != null) {
          append(log, aggregate, e.kind() == ProvisioningException.Kind.REJECTED
              ? Rejected.newBuilder().setIdempotencyKey(command.getHeader().getIdempotencyKey()).setCode(e.code())
                  .setReason(e.getMessage()).build()
              : Failed.newBuilder().setIdempotencyKey(command.getHeader().getIdempotencyKey())
                  .setRetryable(e.kind() == ProvisioningException.Kind.RETRYABLE)
                  .setAttempts(PartitionProvisioner.Limits.defaults().maxAttempts()).setSqlState(e.sqlState())
                  .setReason(e.getMessage()).build());
        }
      }
      if (!plan.conflicts().isEmpty() && verdict == Verdict.PROVISIONED) {
        verdict = Verdict.CONFLICT;
      }
    } else if (dryRun) {
      coveredAfter = plan.coveredUntilAfter();
    }
    if (plan.retire().isPresent()) {
      RetirePartitions retire = plan.retire().get();
      if (dryRun) {
        retired.addAll(retire.getPartitions());
      } else {
        if (log != null) {
          append(log, aggregate, retire);
        }
        String key = retire.getHeader().getIdempotencyKey();
        try {
          PartitionProvisioner.Retirement r = provisioner.retire(retire);
          r.removed().forEach(p -> retired.add(p.partition()));
          if (log != null) {
            // every partition that left, those already gone included, so the catalog drops exactly those
            List<String> gone = new ArrayList<>(retired);
            r.alreadyGone().forEach(p -> gone.add(p.partition()));
            append(log, aggregate, Retired.newBuilder().setIdempotencyKey(key).setRetired(gone)
                .setArchivedTo(retire.getArchiveSchema()).setWorker(worker()).build());
          }
        } catch (ProvisioningException e) {
          if (log != null) {
            append(log, aggregate, e.kind() == ProvisioningException.Kind.REJECTED
                ? Rejected.newBuilder().setIdempotencyKey(key).setCode(e.code()).setReason(e.getMessage()).build()
                : Failed.newBuilder().setIdempotencyKey(key).setRetryable(e.kind() == ProvisioningException.Kind.RETRYABLE)
                    .setAttempts(PartitionProvisioner.Limits.defaults().maxAttempts()).setSqlState(e.sqlState())
                    .setReason(e.getMessage()).build());
          }
          if (verdict != Verdict.REJECTED && verdict != Verdict.CONFLICT) {
            verdict = e.kind() == ProvisioningException.Kind.RETRYABLE ? Verdict.BUSY : Verdict.FAILED;
            code = e.code();
            reason = "retention: " + e.getMessage();
          }
        }
      }
    }
    double runway = coveredAfter.equals(Instant.MAX) ? Double.POSITIVE_INFINITY
        : Duration.between(now, coveredAfter).toSeconds() / 86400.0;
    return new TableReport(table.table().toString(), aggregate.toString(), verdict, code, reason,
        text(plan.coveredUntilBefore()), text(coveredAfter), Math.round(runway * 100) / 100.0, plan.partitionsAfter(),
        plan.projectedBytes(), created, present, retired, plan.conflicts(), ddl);
  }

  /** The statements the provisioner runs for the plan, one transaction per partition. */
  private static List<String> ddl(Rotation.Plan plan, ManagedTable table, QualifiedName rangeParent, boolean hasDefault) {
    List<String> out = new ArrayList<>();
    for (PartitionSpec p : plan.provision().map(ProvisionPartitions::getPartitions).orElse(List.of())) {
      QualifiedName child = QualifiedName.of(p.getSchemaName(), p.getName());
      QualifiedName parent = QualifiedName.parse(p.getParent());
      String base = child.table().name();
      Identifier check = new Identifier((base.length() > 54 ? base.substring(0, 54) : base) + "_pw_bound");
      String predicate = Ddl.boundPredicate(table.column().sql(), p.getBound());
      out.add("BEGIN");
      out.add(Ddl.setLocal("lock_timeout", PartitionProvisioner.Limits.defaults().lockTimeout().toMillis()));
      out.add(Ddl.createStandalone(child, parent, p.getSubpartitionBy()));
      if (predicate != null) {
        out.add(Ddl.addCheck(child, check, predicate));
      }
      out.add(Ddl.attach(parent, child, p.getBound()));
      if (predicate != null) {
        out.add(Ddl.dropConstraint(child, check));
      }
      out.add("COMMIT");
    }
    for (String name : plan.retire().map(RetirePartitions::getPartitions).orElse(List.of())) {
      QualifiedName child = QualifiedName.parse(name);
      // DETACH CONCURRENTLY is refused while the parent has a DEFAULT partition: then a plain one, under lock_timeout
      out.add(Ddl.detach(rangeParent, child, hasDefault ? Ddl.DetachMode.PLAIN : Ddl.DetachMode.CONCURRENTLY));
      out.add(Ddl.drop(child));
    }
    return out;
  }

  private void append(CommandStore log, AggregateId aggregate, Object entry) {
    log.append(CommandLogEntry.newBuilder().setAggregateId(aggregate.toString()).setRecordedAt(Instant.now())
        .setEntry(entry).build());
  }

  private CommandStoreConfig storeConfig(String bootstrapServers, PartwrightSerdes serdes) {
    CommandStoreConfig defaults = CommandStoreConfig.singleBroker(bootstrapServers, serdes);
    if (commandsTopic == null) {
      return defaults;
    }
    return new CommandStoreConfig(bootstrapServers, commandsTopic, defaults.boundariesTopic(), defaults.partitions(),
        defaults.replicationFactor(), defaults.minInsyncReplicas(), serdes);
  }

  private static String worker() {
    try {
      return "rotate@" + InetAddress.getLocalHost().getHostName();
    } catch (Exception e) {
      return "rotate";
    }
  }

  private static boolean busy(SQLException e) {
    return "55P03".equals(e.getSQLState()) || "40P01".equals(e.getSQLState());
  }

  private static TableReport failure(ManagedTable table, Verdict verdict, String code, String reason) {
    return new TableReport(table.table().toString(), null, verdict, code, reason, null, null, 0, 0, 0, List.of(),
        List.of(), List.of(), List.of(), List.of());
  }

  static int exitCode(List<TableReport> reports) {
    int exit = ExitCodes.OK;
    for (TableReport r : reports) {
      switch (r.verdict()) {
        case COVERED, PROVISIONED, WOULD_PROVISION -> { }
        case BUSY -> exit = Math.max(exit, ExitCodes.UNAVAILABLE);
        default -> exit = exit == ExitCodes.UNAVAILABLE ? exit : ExitCodes.INVARIANT_VIOLATED;
      }
    }
    return exit;
  }

  private static String text(Instant t) {
    return t == null ? null : t.equals(Instant.MAX) ? "MAXVALUE" : t.toString();
  }

  private static void printText(PrintWriter out, Report report) {
    out.println("partwright rotate" + (report.dryRun() ? " --dry-run" : "") + " at " + report.startedAt()
        + ", buffer " + report.bufferDays() + " days");
    if (report.tables().isEmpty()) {
      out.println("  no managed tables (register them with partwright manage)");
    }
    for (TableReport t : report.tables()) {
      out.printf("  %-40s %-15s covered until %s -> %s (runway %.2f days)%n", t.aggregate() == null ? t.table() : t.aggregate(),
          t.verdict(), t.coveredUntilBefore(), t.coveredUntilAfter(), t.runwayDays());
      if (!t.created().isEmpty()) {
        out.println("    created " + t.created().size() + ": " + t.created().get(0) + " .. " + t.created().get(t.created().size() - 1));
      }
      if (!t.alreadyPresent().isEmpty()) {
        out.println("    already present " + t.alreadyPresent().size());
      }
      if (!t.retired().isEmpty()) {
        out.println("    " + (report.dryRun() ? "would retire " : "retired ") + t.retired());
      }
      if (t.code() != null) {
        out.println("    " + t.code() + ": " + t.reason());
      }
      out.println("    quota: " + t.partitionsAfter() + " partitions, " + t.projectedBytes() + " bytes projected");
      for (String statement : t.ddl()) {
        out.println("    " + statement + ";");
      }
    }
    out.println(report.exitCode() == ExitCodes.OK ? "OK" : "NOT OK (exit " + report.exitCode() + ")");
  }

}
