package dev.partwright.connectors.postgres;

import dev.partwright.schemas.Bounds;
import dev.partwright.schemas.DefaultBound;
import dev.partwright.schemas.HashBound;
import dev.partwright.schemas.ListBound;
import dev.partwright.schemas.PartitionKey;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.RangeBound;
import dev.partwright.schemas.RetirePartitions;
import dev.partwright.schemas.Rollback;
import dev.partwright.schemas.TextValue;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Applies commands to PostgreSQL without ever taking ACCESS EXCLUSIVE on a live parent.
 *
 * <p>Before any DDL, the whole command is validated (identifiers, bound shapes) and its range
 * partitions are checked for gaps and overlaps against the partitions that exist. Then one
 * partition, one transaction: the child is created standalone (shaped like the parent, with its
 * index template, and marked as Partwright's with a comment); rows of its bound waiting in the
 * parent's DEFAULT partition are moved into it (with a CHECK proving the bound, so ATTACH does not
 * scan them); it is attached (SHARE UPDATE EXCLUSIVE on the parent: inserts and reads go on),
 * analyzed, verified (bound, indexes, meeting its neighbours) and recorded in
 * {@code partwright.provisioning_log} — then committed. Any failure before the commit rolls all of
 * it back, so no half-made table survives; a verification failure after the commit detaches and
 * drops the partition again. Every statement runs under
 * {@code lock_timeout} and {@code statement_timeout}; lock timeouts, deadlocks and lost connections
 * are retried with exponential backoff and jitter, a bounded number of times.
 *
 * <p>Lock order, the same as PostgreSQL's own ATTACH: parent (SHARE UPDATE EXCLUSIVE), then its
 * DEFAULT partition (ACCESS EXCLUSIVE), then the new child; so two workers, or a worker and an
 * operator's ATTACH, wait for each other instead of deadlocking.
 */
public final class PartitionProvisioner {

  private static final Logger LOG = LoggerFactory.getLogger(PartitionProvisioner.class);
  private static final int MAX_TENANT_BYTES = 255;

  /**
   * What one command did: for each of its partitions in command order, the parent's key and the
   * root table of its tree; {@code attempts} is the most any one partition needed.
   */
  public record Result(List<PartitionSpec> created, List<PartitionSpec> alreadyPresent, List<PartitionKey> parentKeys,
      int attempts, List<String> rootTables, long rowsMovedFromDefault) {}

  /** Limits the worker works within. */
  public record Limits(Duration lockTimeout, Duration statementTimeout, int maxAttempts, Duration initialBackoff) {
    public Limits {
      if (maxAttempts < 1) {
        throw new IllegalArgumentException("maxAttempts must be >= 1");
      }
    }

    public static Limits defaults() {
      return new Limits(Duration.ofSeconds(2), Duration.ofSeconds(60), 5, Duration.ofMillis(100));
    }
  }

  /** Points between the steps of one partition's transaction. */
  public enum Step {
    /** The child table exists (uncommitted), not yet attached. */
    CREATED,
    /** Parent and DEFAULT partition locked, DEFAULT's rows of the bound moved; attach is next. */
    LOCKED,
    /** Attached, not yet verified nor committed. */
    ATTACHED,
    /** Committed; the post-commit verification is next. */
    COMMITTED,
    /** A retryable failure (lock timeout, deadlock, lost connection); the backoff sleep is next. No connection. */
    BACKING_OFF
  }

  /**
   * Called at each {@link Step} with the provisioning connection (inside its transaction up to
   * {@link Step#ATTACHED}; null at {@link Step#BACKING_OFF}): where tests inject failures and pauses, and where an operator tool could
   * trace progress. Throwing aborts the partition like any database error would.
   */
  @FunctionalInterface
  public interface Checkpoint {
    Checkpoint NONE = (step, partition, connection) -> {};

    void reached(Step step, QualifiedName partition, Connection connection) throws SQLException;
  }

  /** Quota-relevant facts about a command before any DDL: its tree's size now and what it adds. */
  public record Demand(String rootTable, int partitions, long bytes, int requested) {}

  /** One partition a retirement or rollback removed from its parent. */
  public record Removed(String partition, String parent, String rootTable, String archivedAs) {}

  /** What a {@code RetirePartitions} or {@code Rollback} did; {@code alreadyGone} were removed before. */
  public record Retirement(List<Removed> removed, List<Removed> alreadyGone, int attempts) {}

  /** A table found by the start-up sweep and dropped, with what its creation marker says. */
  public record Orphan(String table, String parent, String idempotencyKey, String aggregateId) {}

  /** What start-up recovery did: interrupted detaches finalized, orphans dropped. */
  public record Recovery(List<String> finalized, List<Orphan> dropped) {}

  private final DataSource dataSource;
  private final Limits limits;
  private final String worker;
  private final Checkpoint checkpoint;

  public PartitionProvisioner(DataSource dataSource, Limits limits, String worker) {
    this(dataSource, limits, worker, Checkpoint.NONE);
  }

  public PartitionProvisioner(DataSource dataSource, Limits limits, String worker, Checkpoint checkpoint) {
    this.dataSource = dataSource;
    this.limits = limits;
    this.worker = worker;
    this.checkpoint = checkpoint;
  }

  public DataSource dataSource() {
    return dataSource;
  }

  /** A connection whose every statement runs under the limits' lock and statement timeouts. */
  private Connection open() throws SQLException {
    return TimedConnections.open(dataSource, limits.lockTimeout(), limits.statementTimeout());
  }

  public Limits limits() {
    return limits;
  }

  /** Makes sure the audit schema exists; call once at start-up. */
  public void prepare() throws SQLException {
    try (Connection c = open()) {
      PostgresCatalog.ensureAuditSchema(c);
    }
  }

  // ------------------------------------------------------------------------------------------
  // provisioning

  private record Target(PartitionSpec spec, QualifiedName parent, QualifiedName child) {}

  /**
   * Everything about a command that can be judged without the database, for every partition before
   * the first DDL: a hostile name in the fifth partition must not leave the first four behind.
   */
  private static List<Target> validate(ProvisionPartitions command) throws ProvisioningException {
    checkHeaderText("idempotency key", command.getHeader().getIdempotencyKey());
    checkHeaderText("aggregate id", command.getHeader().getAggregateId());
    List<Target> targets = new ArrayList<>();
    Set<String> names = new HashSet<>();
    for (PartitionSpec spec : command.getPartitions()) {
      QualifiedName parent;
      QualifiedName child;
      try {
        parent = QualifiedName.parse(spec.getParent());
        child = QualifiedName.of(spec.getSchemaName(), spec.getName());
        if (spec.getSubpartitionBy() != null) {
          if (spec.getSubpartitionBy().getColumns().isEmpty()) {
            throw ProvisioningException.rejected("INVALID_BOUND", "partition " + child + " is to be subpartitioned by no column");
          }
          for (String column : spec.getSubpartitionBy().getColumns()) {
            new Identifier(column);
          }
        }
      } catch (InvalidIdentifierException e) {
        throw ProvisioningException.rejected("INVALID_IDENTIFIER", e.getMessage());
      }
      if (!names.add(child.toString())) {
        throw ProvisioningException.rejected("INVALID_COMMAND", "partition " + child + " appears twice in the command");
      }
      checkBoundShape(child, spec.getBound());
      targets.add(new Target(spec, parent, child));
    }
    return targets;
  }

  private static void checkHeaderText(String what, String text) throws ProvisioningException {
    if (text == null || text.isEmpty() || text.codePoints().anyMatch(Character::isISOControl)) {
      throw ProvisioningException.rejected("INVALID_COMMAND", what + " is empty or holds control characters");
    }
  }

  private static void checkBoundShape(QualifiedName child, Object bound) throws ProvisioningException {
    if (bound instanceof HashBound h) {
      if (h.getModulus() < 1 || h.getRemainder() < 0 || h.getRemainder() >= h.getModulus()) {
        throw ProvisioningException.rejected("INVALID_BOUND", "partition " + child + ": hash bound needs modulus > 0 and"
            + " 0 <= remainder < modulus, got " + Bounds.describe(h));
      }
    } else if (bound instanceof RangeBound r) {
      if (r.getFrom().isEmpty() || r.getFrom().size() != r.getTo().size()) {
        throw ProvisioningException.rejected("INVALID_BOUND", "partition " + child + ": range bound needs one value per"
            + " key column on both sides, got " + Bounds.describe(r));
      }
    } else if (bound instanceof ListBound l) {
      if (l.getValues().isEmpty() && !l.getIncludesNull()) {
        throw ProvisioningException.rejected("INVALID_BOUND", "partition " + child + ": list bound lists nothing");
      }
      for (Object v : l.getValues()) {
        if (v instanceof TextValue t) {
          String problem = tenantProblem(t.getValue());
          if (problem != null) {
            throw ProvisioningException.rejected("INVALID_IDENTIFIER", "partition " + child + ": list value (tenant) "
                + problem);
          }
        }
      }
    }
  }

  /** List values are tenant names: quoted as literals, but still kept to printable text of bounded length. */
  private static String tenantProblem(String tenant) {
    if (tenant.isEmpty()) {
      return "is empty";
    }
    if (tenant.getBytes(StandardCharsets.UTF_8).length > MAX_TENANT_BYTES) {
      return "is longer than " + MAX_TENANT_BYTES + " bytes";
    }
    if (tenant.codePoints().anyMatch(cp -> Character.isISOControl(cp) || Character.getType(cp) == Character.FORMAT)) {
      return "holds control or invisible formatting characters";
    }
    return null;
  }

  /** Checks a bound against the parent's actual partition key. */
  private static void checkBoundAgainstKey(QualifiedName parent, QualifiedName child, Object bound, PartitionKey key)
      throws ProvisioningException {
    boolean fits = switch (key.getStrategy()) {
      case RANGE -> bound instanceof DefaultBound
          || (bound instanceof RangeBound r && r.getFrom().size() == key.getColumns().size());
      case LIST -> bound instanceof DefaultBound || bound instanceof ListBound;
      case HASH -> bound instanceof HashBound;
    };
    if (!fits) {
      throw ProvisioningException.rejected("INVALID_BOUND", "table " + parent + " is " + key.getStrategy()
          + "-partitioned on " + key.getColumns() + " but partition " + child + " has bound " + Bounds.describe(bound));
    }
  }

  /**
   * The size of the command's partition tree now and how many partitions the command would add (its
   * partitions that do not exist yet): what the quota gate compares, before any DDL.
   */
  public Demand demand(ProvisionPartitions command) throws ProvisioningException {
    List<Target> targets = validate(command);
    if (targets.isEmpty()) {
      return new Demand("", 0, 0, 0);
    }
    try (Connection c = open()) {
      QualifiedName first = targets.get(0).parent();
      String root = PostgresCatalog.rootOf(c, first);
      PostgresCatalog.Usage usage = PostgresCatalog.usage(c, QualifiedName.parse(root))
          .orElse(new PostgresCatalog.Usage(root, 0, 0));
      int requested = 0;
      for (Target t : targets) {
        if (PostgresCatalog.existing(c, t.child()).isEmpty()) {
          requested++;
        }
      }
      return new Demand(root, usage.partitions(), usage.bytes(), requested);
    } catch (SQLException e) {
      throw classify(e, "measuring the partitions of " + targets.get(0).parent());
    } catch (InvalidIdentifierException e) {
      // a root table whose own name Partwright would not accept: nothing to measure it by
      throw ProvisioningException.rejected("INVALID_IDENTIFIER", e.getMessage());
    }
  }

  public Result provision(ProvisionPartitions command) throws ProvisioningException {
    String key = command.getHeader().getIdempotencyKey();
    String aggregate = command.getHeader().getAggregateId();
    List<Target> targets = validate(command);
    Map<QualifiedName, RangeCoverage.Plan> plans = new HashMap<>();
    try (CommandSession session = new CommandSession(this::open)) {
      return provision(key, aggregate, targets, plans, session);
    }
  }

  private Result provision(String key, String aggregate, List<Target> targets,
      Map<QualifiedName, RangeCoverage.Plan> plans, CommandSession session) throws ProvisioningException {
    // parents that exist now are planned (and a command that breaks coverage rejected) before any DDL
    planCoverage(targets, plans, true, session);
    // what a parent is (key, root, DEFAULT) is read once per command: re-planning the catalog query
    // after every DDL would cost more than the DDL itself
    Map<QualifiedName, PostgresCatalog.Context> parents = new HashMap<>();
    List<PartitionSpec> created = new ArrayList<>();
    List<PartitionSpec> present = new ArrayList<>();
    List<PartitionKey> keys = new ArrayList<>();
    List<String> roots = new ArrayList<>();
    List<ProvisioningException.PartitionKeyed> done = new ArrayList<>();
    long moved = 0;
    int attemptsMax = 1;
    try {
      for (Target target : targets) {
        if (!plans.containsKey(target.parent())) {
          // a middle level this command created: its partitions can be planned now
          planCoverage(targets, plans, false, session);
        }
        RangeCoverage.Plan plan = plans.get(target.parent());
        RetryResult<Applied> r = withRetries(target.child(),
            () -> provisionOne(key, aggregate, target, plan, session, parents));
        Applied applied = r.value();
        attemptsMax = Math.max(attemptsMax, r.attempts());
        keys.add(applied.parentKey());
        roots.add(applied.rootTable());
        if (applied.created()) {
          created.add(target.spec());
          done.add(new ProvisioningException.PartitionKeyed(target.spec(), applied.parentKey(), applied.rootTable()));
        } else {
          present.add(target.spec());
        }
        moved += applied.rowsMoved();
      }
    } catch (ProvisioningException e) {
      throw e.withCreated(done);
    }
    return new Result(created, present, keys, attemptsMax, roots, moved);
  }

  private record Applied(boolean created, PartitionKey parentKey, String rootTable, long rowsMoved) {}

  /**
   * Plans the coverage of every parent of the command that is range-partitioned on one column and
   * not planned yet — all of them, or only those that exist — rejecting the command if it would
   * leave a gap or an overlap. Parents that do not exist (yet) get an empty plan later.
   */
  private void planCoverage(List<Target> targets, Map<QualifiedName, RangeCoverage.Plan> plans, boolean existingOnly,
      CommandSession session) throws ProvisioningException {
    Map<QualifiedName, List<PartitionSpec>> byParent = new LinkedHashMap<>();
    for (Target t : targets) {
      if (!plans.containsKey(t.parent())) {
        byParent.computeIfAbsent(t.parent(), p -> new ArrayList<>()).add(t.spec());
      }
    }
    if (byParent.isEmpty()) {
      return;
    }
    withRetries(byParent.keySet().iterator().next(), () -> {
      Connection c = session.get();
      try {
        for (Map.Entry<QualifiedName, List<PartitionSpec>> e : byParent.entrySet()) {
          Optional<PartitionKey> key = PostgresCatalog.partitionKey(c, e.getKey());
          if (key.isEmpty() && existingOnly) {
            continue;
          }
          if (key.isEmpty() || !RangeCoverage.applies(key.get())) {
            plans.put(e.getKey(), new RangeCoverage.Plan(Map.of(), List.of()));
            continue;
          }
          RangeCoverage.Plan plan;
          try {
            plan = RangeCoverage.plan(c, e.getKey(), key.get(), e.getValue());
          } catch (SQLException ex) {
            if (isDataException(ex)) {
              throw ProvisioningException.rejected("INVALID_BOUND", "bounds for " + e.getKey() + " are not values of"
                  + " its key type " + key.get().getTypes() + ": " + ex.getMessage());
            }
            throw ex;
          }
          if (!plan.problems().isEmpty()) {
            throw coverageRejection(e.getKey(), plan.problems());
          }
          plans.put(e.getKey(), plan);
        }
      } catch (SQLException e) {
        session.failed(e);
        throw e;
      }
      return null;
    });
  }

  private static ProvisioningException coverageRejection(QualifiedName parent, List<PostgresCatalog.CoverageProblem> problems) {
    boolean overlap = problems.stream().anyMatch(p -> p.kind().equals("overlap"));
    return ProvisioningException.rejected(overlap ? "COVERAGE_OVERLAP" : "COVERAGE_GAP",
        "partitions of " + parent + " would not be contiguous: " + problems);
  }

  private static boolean isDataException(SQLException e) {
    return e.getSQLState() != null && e.getSQLState().startsWith("22");
  }

  private Applied provisionOne(String key, String aggregate, Target target, RangeCoverage.Plan plan,
      CommandSession session, Map<QualifiedName, PostgresCatalog.Context> parents)
      throws SQLException, ProvisioningException {
    try {
      Connection c = session.get();
      PostgresCatalog.Context known = parents.get(target.parent());
      PostgresCatalog.Context context;
      if (known == null) {
        context = PostgresCatalog.context(c, target.parent(), target.child());
        if (context.parentKey().isPresent()) {
          parents.put(target.parent(), context);
        }
      } else {
        context = new PostgresCatalog.Context(known.parentKey(), PostgresCatalog.existing(c, target.child()),
            known.rootTable(), known.defaultPartition());
      }
      return provisionOne(key, aggregate, target, plan, c, context);
    } catch (SQLException e) {
      session.failed(e);
      throw e;
    }
  }

  private Applied provisionOne(String key, String aggregate, Target target, RangeCoverage.Plan plan, Connection c,
      PostgresCatalog.Context context) throws SQLException, ProvisioningException {
    QualifiedName parent = target.parent();
    QualifiedName child = target.child();
    PartitionSpec spec = target.spec();
    PartitionKey partitionKey = context.parentKey().orElseThrow(() ->
        ProvisioningException.rejected("UNKNOWN_TABLE", "table " + parent + " does not exist or is not partitioned"));
    checkBoundAgainstKey(parent, child, spec.getBound(), partitionKey);
    String expected;
    try {
      expected = PostgresCatalog.expectedBoundExpression(c, spec.getBound(), partitionKey);
    } catch (SQLException e) {
      if (isDataException(e)) {
        throw ProvisioningException.rejected("INVALID_BOUND", "partition " + child + ": bound "
            + Bounds.describe(spec.getBound()) + " is not of " + parent + "'s key type " + partitionKey.getTypes()
            + ": " + e.getMessage());
      }
      throw e;
    }
    String root = context.rootTable();
    if (context.child().isPresent()) {
      PostgresCatalog.ExistingTable t = context.child().get();
      if (t.attached() && t.attachedTo().equals(parent.toString()) && !t.detachPending()) {
        if (!expected.equals(t.boundExpression())) {
          throw ProvisioningException.rejected("BOUND_CONFLICT", "partition " + child + " exists with "
              + t.boundExpression() + ", command wants " + expected);
        }
        return new Applied(false, partitionKey, root, 0);
      }
      throw ProvisioningException.rejected("NAME_CONFLICT", "table " + child + " exists but is "
          + (t.attached() ? "a partition of " + t.attachedTo() + (t.detachPending() ? " (detach pending)" : "")
              : "not attached to " + parent));
    }

    boolean partitioned = spec.getSubpartitionBy() != null;
    String predicate = partitionKey.getColumns().size() == 1
        ? Ddl.boundPredicate(Ddl.quoteCatalogName(partitionKey.getColumns().get(0)), spec.getBound())
        : null;
    Optional<CatalogTable> deflt = spec.getBound() instanceof DefaultBound
        ? Optional.empty()
        : context.defaultPartition();
    long moved = 0;
    c.setAutoCommit(false);
    try (Statement s = c.createStatement()) {
      // the connection's session already carries lock_timeout and statement_timeout (open())
      s.execute(Ddl.createStandalone(child, parent, spec.getSubpartitionBy()) + "; "
          + Ddl.comment(child, marker(key, aggregate, parent)));
      checkpoint.reached(Step.CREATED, child, c);
      boolean checked = false;
      if (deflt.isPresent()) {
        // taken here, not earlier, so the strong lock on DEFAULT lasts only for the move and the attach
        s.execute(Ddl.lock(parent, Ddl.LockMode.SHARE_UPDATE_EXCLUSIVE) + "; "
            + Ddl.lock(deflt.get(), Ddl.LockMode.ACCESS_EXCLUSIVE));
        if (predicate != null && !partitioned) {
          String columns = PostgresCatalog.insertableColumns(c, parent);
          moved = s.executeUpdate(Ddl.moveRows(deflt.get(), child, columns, predicate));
          if (moved > 0) {
            // rows moved in: a CHECK proving the bound spares ATTACH a validation scan of them
            s.execute(Ddl.addCheck(child, new Identifier(checkName(child)), predicate));
            checked = true;
          }
        }
      }
      checkpoint.reached(Step.LOCKED, child, c);
      // ANALYZE in the same round trip: statistics before the first write (the planner would guess on
      // an empty partition), committed with it; each statement after DDL costs a re-plan, so fewer is faster
      s.execute(Ddl.attach(parent, child, spec.getBound())
          + (checked ? "; " + Ddl.dropConstraint(child, new Identifier(checkName(child))) : "")
          + "; " + Ddl.analyze(child));
      checkpoint.reached(Step.ATTACHED, child, c);
      verify(c, parent, child, expected, plan);
      PostgresCatalog.audit(c, key, aggregate, child, parent, expected, "created", worker);
      c.commit();
    } catch (SQLException | RuntimeException | ProvisioningException e) {
      c.rollback();
      throw e;
    } finally {
      c.setAutoCommit(true);
    }
    if (moved > 0) {
      LOG.info("moved {} rows of {} from DEFAULT partition {} into {}", moved, Bounds.describe(spec.getBound()),
          deflt.get(), child);
    }

    checkpoint.reached(Step.COMMITTED, child, c);
    try {
      verify(c, parent, child, expected, null);
    } catch (ProvisioningException verification) {
      LOG.warn("{} failed verification after commit, rolling it back: {}", child, verification.getMessage());
      rollBackCreated(child, parent, key, aggregate);
      throw ProvisioningException.rolledBack(verification, List.of(child.toString()));
    }
    return new Applied(true, partitionKey, root, moved);
  }

  /**
   * Invariants 1 and 5 for a new partition: attached to {@code parent} with the bound asked for,
   * every index of the parent's template present, valid, ready and attached, and (range keys, with
   * a {@code plan}) meeting its neighbours without gap or overlap.
   */
  private void verify(Connection c, QualifiedName parent, QualifiedName child, String expected, RangeCoverage.Plan plan)
      throws SQLException, ProvisioningException {
    RangeCoverage.Neighbours around = plan == null ? RangeCoverage.Neighbours.NONE : plan.of(child.toString());
    RangeCoverage.Neighbour lower = around.lower();
    RangeCoverage.Neighbour upper = around.upper();
    PostgresCatalog.Attached t = PostgresCatalog.attached(c, parent, child,
        lower == null ? null : lower.schema(), lower == null ? null : lower.table(),
        upper == null ? null : upper.schema(), upper == null ? null : upper.table()).orElseThrow(() ->
        ProvisioningException.failed("VERIFY_FAILED", "partition " + child + " vanished"));
    if (!parent.toString().equals(t.attachedTo()) || !expected.equals(t.boundExpression())) {
      throw ProvisioningException.failed("VERIFY_FAILED", "partition " + child + " is attached to " + t.attachedTo()
          + " with " + t.boundExpression() + ", expected " + parent + " with " + expected);
    }
    if (!t.unalignedIndexes().isEmpty()) {
      throw ProvisioningException.failed("INDEX_UNALIGNED", "partition " + child + " lacks valid, ready, attached"
          + " indexes for " + t.unalignedIndexes());
    }
    List<PostgresCatalog.CoverageProblem> problems =
        RangeCoverage.meets(child.toString(), t.boundExpression(), around, t.lowerBound(), t.upperBound());
    if (!problems.isEmpty()) {
      throw coverageRejection(parent, problems);
    }
  }

  /**
   * Undoes a committed partition that failed verification: detach (plain, under lock_timeout: it is
   * seconds old and a concurrent detach is refused next to a DEFAULT), re-route any row that already
   * arrived through the parent (to DEFAULT or a sibling), drop, audit — one transaction. If the rows
   * have nowhere to go the whole transaction rolls back and the partition stays: losing rows is worse.
   */
  private void rollBackCreated(QualifiedName child, QualifiedName parent, String key, String aggregate)
      throws ProvisioningException {
    withRetries(child, () -> {
      try (Connection c = open()) {
        c.setAutoCommit(false);
        try (Statement s = c.createStatement()) {
          s.execute(Ddl.setLocal("lock_timeout", limits.lockTimeout().toMillis()));
          s.execute(Ddl.setLocal("statement_timeout", limits.statementTimeout().toMillis()));
          s.execute(Ddl.detach(parent, child, Ddl.DetachMode.PLAIN));
          if (PostgresCatalog.anyRow(c, child)) {
            s.executeUpdate(Ddl.reinsertThrough(child, parent, PostgresCatalog.insertableColumns(c, parent)));
          }
          s.execute(Ddl.drop(child));
          PostgresCatalog.audit(c, key, aggregate, child, parent, "", "rolled_back", worker);
          c.commit();
          return null;
        } catch (SQLException | RuntimeException e) {
          c.rollback();
          throw e;
        } finally {
          c.setAutoCommit(true);
        }
      }
    });
  }

  /** The comment every created table carries: proof for the orphan sweep, and a pointer for operators. */
  static String marker(String key, String aggregate, QualifiedName parent) {
    return PostgresCatalog.CREATED_MARKER + " key=" + encode(key) + " aggregate=" + encode(aggregate) + " parent="
        + encode(parent.toString());
  }

  static Map<String, String> parseMarker(String comment) {
    Map<String, String> out = new HashMap<>();
    if (comment == null) {
      return out;
    }
    for (String part : comment.split(" ")) {
      int eq = part.indexOf('=');
      if (eq > 0) {
        out.put(part.substring(0, eq), URLDecoder.decode(part.substring(eq + 1), StandardCharsets.UTF_8));
      }
    }
    return out;
  }

  private static String encode(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8);
  }

  /** Name of the temporary bound CHECK: the child's name, shortened, plus a fixed suffix. */
  static String checkName(QualifiedName child) {
    String base = child.table().name();
    String suffix = "_pw_bound";
    if (base.length() + suffix.length() > Identifier.MAX_BYTES) {
      base = base.substring(0, Identifier.MAX_BYTES - suffix.length());
    }
    return base + suffix;
  }

  // ------------------------------------------------------------------------------------------
  // retention and rollback

  /**
   * Detaches each partition — {@code CONCURRENTLY} (SHARE UPDATE EXCLUSIVE, two transactions) unless
   * the parent has a DEFAULT partition, where PostgreSQL refuses that and a plain DETACH under
   * {@code lock_timeout} is used — then drops it, or moves it to {@code archiveSchema}. Partitions
   * already gone are reported as such, so a redelivered command is a no-op.
   */
  public Retirement retire(RetirePartitions command) throws ProvisioningException {
    Identifier archive = null;
    if (command.getArchiveSchema() != null) {
      try {
        archive = new Identifier(command.getArchiveSchema());
      } catch (InvalidIdentifierException e) {
        throw ProvisioningException.rejected("INVALID_IDENTIFIER", e.getMessage());
      }
    }
    return remove(command.getHeader().getIdempotencyKey(), command.getHeader().getAggregateId(),
        command.getHeader().getIdempotencyKey(), command.getPartitions(), archive, false);
  }

  /**
   * Undoes what the command {@code targetIdempotencyKey} created: detach and drop, like retention,
   * but only partitions that are still empty — a rollback never deletes rows.
   */
  public Retirement rollback(Rollback command) throws ProvisioningException {
    return remove(command.getHeader().getIdempotencyKey(), command.getHeader().getAggregateId(),
        command.getTargetIdempotencyKey(), command.getPartitions(), null, true);
  }

  private Retirement remove(String key, String aggregate, String auditKey, List<String> partitions, Identifier archive,
      boolean onlyIfEmpty) throws ProvisioningException {
    checkHeaderText("idempotency key", key);
    checkHeaderText("aggregate id", aggregate);
    List<QualifiedName> names = new ArrayList<>();
    for (String p : partitions) {
      try {
        names.add(QualifiedName.parse(p));
      } catch (InvalidIdentifierException e) {
        throw ProvisioningException.rejected("INVALID_IDENTIFIER", e.getMessage());
      }
    }
    List<Removed> removed = new ArrayList<>();
    List<Removed> gone = new ArrayList<>();
    int attemptsMax = 1;
    for (QualifiedName child : names) {
      RetryResult<Optional<Removed>> r = withRetries(child,
          () -> removeOne(auditKey, aggregate, child, archive, onlyIfEmpty, onlyIfEmpty ? "rolled_back" : "retired"));
      attemptsMax = Math.max(attemptsMax, r.attempts());
      if (r.value().isPresent()) {
        removed.add(r.value().get());
      } else {
        try (Connection c = open()) {
          gone.add(goneBefore(c, child, archive));
        } catch (SQLException e) {
          throw classify(e, "reading the audit log of " + child);
        }
      }
    }
    return new Retirement(removed, gone, attemptsMax);
  }

  /** A partition not found: what the audit log remembers of it, so its retirement can be announced again. */
  private static Removed goneBefore(Connection c, QualifiedName child, Identifier archive) throws SQLException {
    String parent = "";
    try (var ps = c.prepareStatement("SELECT parent FROM partwright.provisioning_log WHERE partition_name = ?"
        + " AND parent <> '' ORDER BY applied_at DESC LIMIT 1")) {
      ps.setString(1, child.toString());
      try (var rs = ps.executeQuery()) {
        if (rs.next()) {
          parent = rs.getString(1);
        }
      }
    }
    String root = parent;
    if (!parent.isEmpty()) {
      try {
        root = PostgresCatalog.rootOf(c, QualifiedName.parse(parent));
      } catch (InvalidIdentifierException e) {
        root = parent;
      }
    }
    return new Removed(child.toString(), parent, root, archive == null ? null : archive.name() + "." + child.table());
  }

  private Optional<Removed> removeOne(String key, String aggregate, QualifiedName child, Identifier archive,
      boolean onlyIfEmpty, String action) throws SQLException, ProvisioningException {
    try (Connection c = open()) {
      Optional<PostgresCatalog.ExistingTable> found = PostgresCatalog.existing(c, child);
      if (found.isEmpty()) {
        return Optional.empty();
      }
      PostgresCatalog.ExistingTable t = found.get();
      if (!t.relkind().equals("r") && !t.relkind().equals("p")) {
        throw ProvisioningException.rejected("NOT_A_PARTITION", child + " is not a table");
      }
      QualifiedName parent;
      if (t.attached()) {
        try {
          parent = QualifiedName.parse(t.attachedTo());
        } catch (InvalidIdentifierException e) {
          throw ProvisioningException.rejected("INVALID_IDENTIFIER", "parent of " + child + ": " + e.getMessage());
        }
      } else {
        // detached by an earlier attempt of this retirement that stopped before the drop
        Optional<String> last = PostgresCatalog.latestAction(c, child.toString());
        if (!t.createdByPartwright() || last.isEmpty() || !(last.get().equals("detached") || last.get().equals("created"))) {
          throw ProvisioningException.rejected("NOT_A_PARTITION", child + " is not a partition Partwright manages");
        }
        parent = null;
      }
      if (onlyIfEmpty && PostgresCatalog.anyRow(c, child)) {
        throw ProvisioningException.rejected("NOT_EMPTY", child + " already holds rows; a rollback never deletes rows"
            + " (retire it instead)");
      }
      String parentName = parent == null ? parentFromAudit(c, child) : parent.toString();
      String root = parent == null ? parentName : PostgresCatalog.rootOf(c, child);
      if (parent != null) {
        detach(c, parent, child, t.detachPending());
        PostgresCatalog.audit(c, key, aggregate, child, parent, t.boundExpression() == null ? "" : t.boundExpression(),
            "detached", worker);
      }
      String archivedAs = null;
      c.setAutoCommit(false);
      try (Statement s = c.createStatement()) {
        s.execute(Ddl.setLocal("lock_timeout", limits.lockTimeout().toMillis()));
        s.execute(Ddl.setLocal("statement_timeout", limits.statementTimeout().toMillis()));
        if (archive == null) {
          s.execute(Ddl.drop(child));
        } else {
          s.execute(Ddl.createSchema(archive));
          s.execute(Ddl.setSchema(child, archive));
          QualifiedName moved = new QualifiedName(archive, child.table());
          s.execute(Ddl.comment(moved, PostgresCatalog.ARCHIVED_MARKER + " from=" + encode(child.toString())));
          archivedAs = moved.toString();
        }
        PostgresCatalog.audit(c, key, aggregate, child.toString(), parentName, "",
            archive == null ? action : "archived", worker);
        c.commit();
      } catch (SQLException | RuntimeException e) {
        c.rollback();
        throw e;
      } finally {
        c.setAutoCommit(true);
      }
      LOG.info("{} {} (parent {}){}", action, child, parentName, archivedAs == null ? "" : ", archived as " + archivedAs);
      return Optional.of(new Removed(child.toString(), parentName, root, archivedAs));
    }
  }

  private static String parentFromAudit(Connection c, QualifiedName child) throws SQLException {
    try (var ps = c.prepareStatement("SELECT parent FROM partwright.provisioning_log WHERE partition_name = ?"
        + " AND parent <> '' ORDER BY applied_at DESC LIMIT 1")) {
      ps.setString(1, child.toString());
      try (var rs = ps.executeQuery()) {
        return rs.next() ? rs.getString(1) : "";
      }
    }
  }

  /**
   * Detaches {@code child}: FINALIZE when an earlier concurrent detach was interrupted, CONCURRENTLY
   * when the parent has no DEFAULT partition, plain (ACCESS EXCLUSIVE on the parent, bounded by
   * lock_timeout) when it has one. The connection is in autocommit mode — CONCURRENTLY and FINALIZE
   * refuse to run in a transaction block — and its session carries the timeouts ({@link #open()}).
   */
  private void detach(Connection c, QualifiedName parent, QualifiedName child, boolean pending) throws SQLException {
    Ddl.DetachMode mode = pending ? Ddl.DetachMode.FINALIZE
        : PostgresCatalog.defaultPartition(c, parent).isPresent() ? Ddl.DetachMode.PLAIN : Ddl.DetachMode.CONCURRENTLY;
    try (Statement s = c.createStatement()) {
      s.execute(Ddl.detach(parent, child, mode));
    }
  }

  // ------------------------------------------------------------------------------------------
  // start-up recovery

  /**
   * Start-up recovery: finalizes concurrent detaches of Partwright's tables that a crash or a
   * cancel interrupted, then drops every orphan — a table carrying Partwright's creation marker that
   * is attached nowhere and not live in the audit log — recording each as {@code rolled_back}.
   */
  public Recovery recover() throws ProvisioningException {
    List<String> finalized = new ArrayList<>();
    List<Orphan> dropped = new ArrayList<>();
    try (Connection c = open()) {
      for (PostgresCatalog.PendingDetach p : PostgresCatalog.pendingDetaches(c)) {
        QualifiedName parent;
        QualifiedName child;
        try {
          parent = QualifiedName.of(p.parentSchema(), p.parent());
          child = QualifiedName.of(p.schema(), p.partition());
        } catch (InvalidIdentifierException e) {
          LOG.warn("pending detach of {}.{} left alone: {}", p.schema(), p.partition(), e.getMessage());
          continue;
        }
        withRetries(child, () -> {
          try (Connection fc = open()) {
            detach(fc, parent, child, true);
          }
          return null;
        });
        finalized.add(child.toString());
        LOG.info("finalized the interrupted detach of {} from {}", child, parent);
      }
      for (PostgresCatalog.OrphanTable o : PostgresCatalog.orphans(c)) {
        QualifiedName table;
        try {
          table = QualifiedName.of(o.schema(), o.table());
        } catch (InvalidIdentifierException e) {
          continue; // Partwright never creates such a name: not ours, whatever its comment says
        }
        Map<String, String> marker = parseMarker(o.comment());
        String key = marker.getOrDefault("key", "");
        String aggregate = marker.getOrDefault("aggregate", "");
        String parent = marker.getOrDefault("parent", "");
        withRetries(table, () -> {
          try (Connection dc = open()) {
            dc.setAutoCommit(false);
            try (Statement s = dc.createStatement()) {
              s.execute(Ddl.setLocal("lock_timeout", limits.lockTimeout().toMillis()));
              s.execute(Ddl.setLocal("statement_timeout", limits.statementTimeout().toMillis()));
              s.execute(Ddl.drop(table));
              PostgresCatalog.audit(dc, key, aggregate, table.toString(), parent, "", "rolled_back", worker);
              dc.commit();
            } catch (SQLException | RuntimeException e) {
              dc.rollback();
              throw e;
            } finally {
              dc.setAutoCommit(true);
            }
          }
          return null;
        });
        dropped.add(new Orphan(table.toString(), parent, key, aggregate));
        LOG.warn("dropped orphan {} (created by command {} of {}, never attached)", table, key, aggregate);
      }
    } catch (SQLException e) {
      throw classify(e, "start-up recovery");
    }
    return new Recovery(finalized, dropped);
  }

  /** What the circuit breaker watches for {@code parent}'s tree. */
  public PostgresCatalog.Health health(QualifiedName parent) throws SQLException {
    try (Connection c = open()) {
      return PostgresCatalog.health(c, parent);
    }
  }

  // ------------------------------------------------------------------------------------------
  // retries

  @FunctionalInterface
  private interface Work<T> {
    T run() throws SQLException, ProvisioningException;
  }

  private record RetryResult<T>(T value, int attempts) {}

  private <T> RetryResult<T> withRetries(QualifiedName what, Work<T> work) throws ProvisioningException {
    int attempt = 0;
    while (true) {
      attempt++;
      try {
        return new RetryResult<>(work.run(), attempt);
      } catch (SQLException e) {
        ProvisioningException classified = classify(e, "provisioning " + what).afterAttempts(attempt);
        if (classified.kind() != ProvisioningException.Kind.RETRYABLE || attempt >= limits.maxAttempts()) {
          throw classified;
        }
        Duration backoff = backoff(attempt);
        LOG.warn("{} (attempt {}/{}), retrying in {} ms", classified.getMessage(), attempt, limits.maxAttempts(),
            backoff.toMillis());
        try {
          checkpoint.reached(Step.BACKING_OFF, what, null);
        } catch (SQLException ignored) {
          // a trace point only: it cannot veto a retry
        }
        sleep(backoff);
      } catch (ProvisioningException e) {
        throw e.afterAttempts(attempt);
      }
    }
  }

  private static ProvisioningException classify(SQLException e, String what) {
    String state = e.getSQLState() == null ? "" : e.getSQLState();
    boolean retryable = state.equals("55P03") // lock_not_available: lock_timeout expired
        || state.equals("40P01") // deadlock_detected
        || state.equals("40001") // serialization_failure
        || state.equals("57014") // query_canceled: statement_timeout
        || state.startsWith("08"); // connection exception
    String code = switch (state) {
      case "55P03" -> "LOCK_TIMEOUT";
      case "40P01" -> "DEADLOCK";
      case "57014" -> "STATEMENT_TIMEOUT";
      default -> retryable ? "CONNECTION" : "SQL_ERROR";
    };
    return new ProvisioningException(retryable ? ProvisioningException.Kind.RETRYABLE : ProvisioningException.Kind.FAILED,
        code, what + " failed: " + e.getMessage() + " (SQLSTATE " + state + ")", state, e);
  }

  private Duration backoff(int attempt) {
    long base = limits.initialBackoff().toMillis() << Math.min(attempt - 1, 10);
    return Duration.ofMillis(base / 2 + ThreadLocalRandom.current().nextLong(base / 2 + 1));
  }

  private static void sleep(Duration d) throws ProvisioningException {
    try {
      Thread.sleep(d.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new ProvisioningException(ProvisioningException.Kind.RETRYABLE, "INTERRUPTED", "interrupted during backoff",
          null, e);
    }
  }
}
