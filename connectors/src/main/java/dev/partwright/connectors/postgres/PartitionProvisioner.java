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
import java.util.StringJoiner;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Supplier;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Applies commands to PostgreSQL without ever taking ACCESS EXCLUSIVE on a live parent.
 *
 * <p>Before any DDL, the whole command is validated (identifiers, bound shapes) and its range
 * partitions are checked for gaps and overlaps against the partitions that exist. Then the
 * command's partitions go in one transaction (up to {@link Limits#partitionsPerTransaction()}; a
 * middle level of a composite scheme commits before its own partitions): each child is created
 * standalone (shaped like the parent, with its index template, and marked as Partwright's with a
 * comment); rows of the new ranges waiting in the parent's DEFAULT partition are moved into them;
 * they are attached (SHARE UPDATE EXCLUSIVE on the parent: inserts and reads go on), verified
 * (bound, indexes, meeting their neighbours) and recorded in {@code partwright.provisioning_log} —
 * then committed once. Verification runs after ATTACH inside the transaction, while its locks are
 * held, so it judges exactly what commits; any failure before the commit — verification included —
 * rolls all of it back, so no half-made table survives and nothing unverified is announced. Every
 * statement runs under {@code lock_timeout} and {@code statement_timeout}; lock
 * timeouts, deadlocks and lost connections are retried with exponential backoff and jitter, a
 * bounded number of times.
 *
 * <p>No CHECK constraint is added to a new child: it is created in the attaching transaction, so
 * nobody else can write to it, and validating a CHECK scans it exactly as ATTACH's own check would
 * (PostgreSQL 17 prints "verifying table" for either). A CHECK on the DEFAULT partition does pay
 * when several partitions are attached next to a non-empty DEFAULT: one validation scan instead of
 * one scan per ATTACH.
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

  /**
   * Limits the worker works within. {@code partitionsPerTransaction} bounds how many partitions of
   * a command share one transaction: more means fewer commits and one relcache invalidation of the
   * parent instead of many, but a longer hold of the parent's SHARE UPDATE EXCLUSIVE lock (inserts
   * and reads go on) and, next to a DEFAULT partition, of DEFAULT's ACCESS EXCLUSIVE lock (rows
   * routed to DEFAULT, and reads that cannot prune it, wait for the transaction), and more locks
   * in the shared lock table (about three per partition: table, TOAST, each index).
   */
  public record Limits(Duration lockTimeout, Duration statementTimeout, int maxAttempts, Duration initialBackoff,
      int partitionsPerTransaction) {
    public static final int DEFAULT_PARTITIONS_PER_TRANSACTION = 64;

    public Limits {
      if (maxAttempts < 1) {
        throw new IllegalArgumentException("maxAttempts must be >= 1");
      }
      if (partitionsPerTransaction < 1) {
        throw new IllegalArgumentException("partitionsPerTransaction must be >= 1");
      }
    }

    public Limits(Duration lockTimeout, Duration statementTimeout, int maxAttempts, Duration initialBackoff) {
      this(lockTimeout, statementTimeout, maxAttempts, initialBackoff, DEFAULT_PARTITIONS_PER_TRANSACTION);
    }

    public static Limits defaults() {
      return new Limits(Duration.ofSeconds(2), Duration.ofSeconds(60), 5, Duration.ofMillis(100));
    }

    public Limits withPartitionsPerTransaction(int n) {
      return new Limits(lockTimeout, statementTimeout, maxAttempts, initialBackoff, n);
    }
  }

  /** Points between the steps of a transaction; each is reached once per partition of the transaction. */
  public enum Step {
    /** The transaction's child tables exist (uncommitted), not yet attached. */
    CREATED,
    /** Parents and DEFAULT partitions locked, DEFAULT's rows of the new bounds moved; attach is next. */
    LOCKED,
    /** Attached, not yet verified nor committed. */
    ATTACHED,
    /** Committed (and verified before the commit); the partitions are reported next. */
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
  /**
   * Each parent as the last command that provisioned it read it. A command's catalog reads are sent
   * with it as a guess — its key type casts the bounds — saving the round trip that would read the
   * parent first; the same round trip reads the parent again, and if it changed meanwhile (a DEFAULT
   * partition added, the table dropped and made again) the reads are sent again with what it is now.
   */
  private final Map<QualifiedName, PostgresCatalog.Parent> lastSeen = new ConcurrentHashMap<>();
  /** The bounds of attached partitions the coverage plans have printed, so each is printed once per row version. */
  private final RangeCoverage.PrintedBounds printedBounds = new RangeCoverage.PrintedBounds();

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
      for (Optional<PostgresCatalog.ExistingTable> t
          : PostgresCatalog.existing(c, targets.stream().map(Target::child).toList())) {
        if (t.isEmpty()) {
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
    CommandState state = new CommandState(key, aggregate);
    try (CommandSession session = new CommandSession(dataSource, limits.lockTimeout(), limits.statementTimeout())) {
      return provision(targets, state, session);
    }
  }

  /**
   * What one command has learned so far: coverage plans, what its parents are (key, root, DEFAULT)
   * and their insertable columns — each read once per command, not once per partition: catalog
   * queries right after DDL cost more than the DDL itself.
   */
  private static final class CommandState {
    final String key;
    final String aggregate;
    final Map<QualifiedName, RangeCoverage.Plan> plans = new HashMap<>();
    final Map<QualifiedName, PostgresCatalog.Parent> parents = new HashMap<>();
    final Map<QualifiedName, String> columns = new HashMap<>();

    CommandState(String key, String aggregate) {
      this.key = key;
      this.aggregate = aggregate;
    }
  }

  private Result provision(List<Target> targets, CommandState state, CommandSession session)
      throws ProvisioningException {
    List<Applied> applied = new ArrayList<>();
    List<ProvisioningException.PartitionKeyed> done = new ArrayList<>();
    int attemptsMax = 1;
    try {
      for (int from = 0; from < targets.size(); ) {
        List<Target> batch = batchFrom(targets, from);
        List<Target> rest = targets.subList(from, targets.size());
        RetryResult<List<Applied>> r = withRetries(batch.get(0).child(),
            () -> provisionBatch(batch, rest, targets, state, session));
        attemptsMax = Math.max(attemptsMax, r.attempts());
        for (int i = 0; i < batch.size(); i++) {
          Applied a = r.value().get(i);
          applied.add(a);
          if (a.created()) {
            done.add(new ProvisioningException.PartitionKeyed(batch.get(i).spec(), a.parentKey(), a.rootTable()));
          }
        }
        from += batch.size();
      }
    } catch (ProvisioningException e) {
      // earlier transactions of this command committed: those partitions exist, whatever happened next
      List<ProvisioningException.PartitionKeyed> created = new ArrayList<>(done);
      created.addAll(e.createdWithKeys());
      throw e.withCreated(created).partlyApplied();
    }
    List<PartitionSpec> created = new ArrayList<>();
    List<PartitionSpec> present = new ArrayList<>();
    List<PartitionKey> keys = new ArrayList<>();
    List<String> roots = new ArrayList<>();
    long moved = 0;
    for (int i = 0; i < targets.size(); i++) {
      Applied a = applied.get(i);
      (a.created() ? created : present).add(targets.get(i).spec());
      keys.add(a.parentKey());
      roots.add(a.rootTable());
      moved += a.rowsMoved();
    }
    return new Result(created, present, keys, attemptsMax, roots, moved);
  }

  private record Applied(boolean created, PartitionKey parentKey, String rootTable, long rowsMoved) {}

  /**
   * The partitions of the command's next transaction, from {@code from}: at most
   * {@link Limits#partitionsPerTransaction()}, and none whose parent the same transaction creates
   * (a middle level of a composite scheme is committed, and its key read, before its partitions).
   */
  private List<Target> batchFrom(List<Target> targets, int from) {
    List<Target> batch = new ArrayList<>();
    Set<QualifiedName> createdHere = new HashSet<>();
    for (int i = from; i < targets.size() && batch.size() < limits.partitionsPerTransaction(); i++) {
      Target t = targets.get(i);
      if (createdHere.contains(t.parent())) {
        break;
      }
      batch.add(t);
      createdHere.add(t.child());
    }
    return batch;
  }

  private static void checkBoundsAgainstKeys(List<Target> batch, List<PartitionKey> keys) throws ProvisioningException {
    for (int i = 0; i < batch.size(); i++) {
      Target t = batch.get(i);
      checkBoundAgainstKey(t.parent(), t.child(), t.spec().getBound(), keys.get(i));
    }
  }

  /** What a parent is now ({@code parent}, empty when it does not exist): for this command, and as a guess for the next. */
  private void seen(CommandState state, QualifiedName name, Optional<PostgresCatalog.Parent> parent) {
    if (parent.isPresent()) {
      state.parents.put(name, parent.get());
      lastSeen.put(name, parent.get());
    } else {
      lastSeen.remove(name);
    }
  }

  /** A guess about a parent proved wrong, or unproven: neither this command nor the next relies on it. */
  private void forget(CommandState state, QualifiedName name) {
    state.parents.remove(name);
    state.plans.remove(name);
    lastSeen.remove(name);
  }

  /**
   * Adds to {@code r} the coverage plan of every parent of the command that is known, range-partitioned
   * on one column and not planned yet, with all the command's partitions of it; a parent of another
   * kind gets an empty plan at once.
   */
  private Map<QualifiedName, RoundTrip.Result<RangeCoverage.Plan>> plan(RoundTrip r, List<Target> targets,
      CommandState state) {
    Map<QualifiedName, List<PartitionSpec>> byParent = new LinkedHashMap<>();
    for (Target t : targets) {
      if (!state.plans.containsKey(t.parent()) && state.parents.containsKey(t.parent())) {
        byParent.computeIfAbsent(t.parent(), p -> new ArrayList<>()).add(t.spec());
      }
    }
    Map<QualifiedName, RoundTrip.Result<RangeCoverage.Plan>> plans = new LinkedHashMap<>();
    for (Map.Entry<QualifiedName, List<PartitionSpec>> e : byParent.entrySet()) {
      PartitionKey key = state.parents.get(e.getKey()).key();
      if (RangeCoverage.applies(key)) {
        plans.put(e.getKey(), RangeCoverage.plan(r, e.getKey(), key, e.getValue(), printedBounds));
      } else {
        state.plans.put(e.getKey(), new RangeCoverage.Plan(Map.of(), List.of()));
      }
    }
    return plans;
  }

  private static ProvisioningException coverageRejection(QualifiedName parent, List<PostgresCatalog.CoverageProblem> problems) {
    boolean overlap = problems.stream().anyMatch(p -> p.kind().equals("overlap"));
    return ProvisioningException.rejected(overlap ? "COVERAGE_OVERLAP" : "COVERAGE_GAP",
        "partitions of " + parent + " would not be contiguous: " + problems);
  }

  private static boolean isDataException(SQLException e) {
    return e.getSQLState() != null && e.getSQLState().startsWith("22");
  }

  private List<Applied> provisionBatch(List<Target> batch, List<Target> rest, List<Target> targets,
      CommandState state, CommandSession session) throws SQLException, ProvisioningException {
    try {
      return transaction(batch, rest, targets, state, session, true);
    } catch (SQLException e) {
      session.abort(e);
      throw e;
    } catch (RuntimeException | ProvisioningException e) {
      session.abort(null);
      throw e;
    }
  }

  /**
   * One transaction for the partitions of {@code batch}, in a constant number of round trips. The
   * catalog is read before any DDL: the parents not known yet of the command's partitions still to
   * come ({@code rest}: once per command, and again for a middle level an earlier transaction of the
   * command created), in the transaction's first round trip — or, when an earlier command saw them
   * all ({@code guess}), beside the reads that follow, which are then sent again if a parent changed;
   * then, in one more, the coverage plan of
   * every parent known and not planned yet, for all the command's partitions of it (a command that
   * would break coverage is rejected before its first DDL), the bounds as PostgreSQL prints them and
   * whether the partitions exist. Then all children are created in one multi-statement string, the DEFAULT partitions next
   * to them locked and emptied of the new ranges, all of them attached, verified and audited in one
   * round trip, and committed once — so a parent's relcache is invalidated once per transaction
   * rather than once per partition, and a failure anywhere, verification included, leaves none of
   * them behind. The caller rolls back on failure.
   */
  private List<Applied> transaction(List<Target> batch, List<Target> rest, List<Target> targets, CommandState state,
      CommandSession session, boolean guess) throws SQLException, ProvisioningException {
    Map<QualifiedName, RoundTrip.Result<Optional<PostgresCatalog.Parent>>> unknown = new LinkedHashMap<>();
    RoundTrip read = session.roundTrip();
    for (Target t : rest) {
      if (!state.parents.containsKey(t.parent()) && !unknown.containsKey(t.parent())) {
        unknown.put(t.parent(), PostgresCatalog.parent(read, t.parent()));
      }
    }
    // every parent to read was seen by an earlier command: read them in the next round trip, beside
    // what their last sight says to read; otherwise read them first
    boolean guessed = guess && !unknown.isEmpty() && unknown.keySet().stream().allMatch(lastSeen::containsKey);
    if (guessed) {
      unknown.keySet().forEach(p -> state.parents.put(p, lastSeen.get(p)));
    } else if (!unknown.isEmpty()) {
      read.run();
      read = session.roundTrip();
      // a parent that does not exist (yet) may be created by an earlier transaction of the command
      unknown.forEach((name, parent) -> seen(state, name, parent.get()));
    }
    for (Target t : batch) {
      if (!state.parents.containsKey(t.parent())) {
        throw ProvisioningException.rejected("UNKNOWN_TABLE", "table " + t.parent()
            + " does not exist or is not partitioned");
      }
    }
    Map<QualifiedName, RoundTrip.Result<RangeCoverage.Plan>> planned = plan(read, targets, state);
    List<PartitionKey> keys = batch.stream().map(t -> state.parents.get(t.parent()).key()).toList();
    if (!guessed) {
      checkBoundsAgainstKeys(batch, keys);
    }
    RoundTrip.Result<List<String>> printed =
        PostgresCatalog.expectedBoundExpressions(read, batch.stream().map(t -> t.spec().getBound()).toList(), keys);
    RoundTrip.Result<List<Optional<PostgresCatalog.ExistingTable>>> found =
        PostgresCatalog.existing(read, batch.stream().map(Target::child).toList());
    try {
      read.run();
    } catch (SQLException e) {
      if (guessed) {
        // perhaps cast by a key that is no more: forget the guesses, read the parents first
        unknown.keySet().forEach(p -> forget(state, p));
        session.abort(e);
        return transaction(batch, rest, targets, state, session, false);
      }
      if (!isDataException(e)) {
        throw e;
      }
      session.abort(e);
      throw invalidBound(session.get(), batch, keys, e);
    }
    if (guessed) {
      boolean changed = false;
      for (Map.Entry<QualifiedName, RoundTrip.Result<Optional<PostgresCatalog.Parent>>> u : unknown.entrySet()) {
        if (!u.getValue().get().equals(Optional.of(state.parents.get(u.getKey())))) {
          changed = true;
        }
      }
      if (changed) {
        unknown.keySet().forEach(p -> forget(state, p));
        session.abort(null);
        return transaction(batch, rest, targets, state, session, false);
      }
      checkBoundsAgainstKeys(batch, keys);
    }
    for (Map.Entry<QualifiedName, RoundTrip.Result<RangeCoverage.Plan>> p : planned.entrySet()) {
      if (!p.getValue().get().problems().isEmpty()) {
        throw coverageRejection(p.getKey(), p.getValue().get().problems());
      }
      state.plans.put(p.getKey(), p.getValue().get());
    }
    List<String> expected = printed.get();
    List<Optional<PostgresCatalog.ExistingTable>> existing = found.get();

    Applied[] applied = new Applied[batch.size()];
    List<Integer> fresh = new ArrayList<>();
    for (int i = 0; i < batch.size(); i++) {
      Target t = batch.get(i);
      String root = state.parents.get(t.parent()).rootTable();
      if (existing.get(i).isEmpty()) {
        fresh.add(i);
        continue;
      }
      PostgresCatalog.ExistingTable e = existing.get(i).get();
      if (e.attached() && e.attachedTo().equals(t.parent().toString()) && !e.detachPending()) {
        if (!expected.get(i).equals(e.boundExpression())) {
          throw ProvisioningException.rejected("BOUND_CONFLICT", "partition " + t.child() + " exists with "
              + e.boundExpression() + ", command wants " + expected.get(i));
        }
        applied[i] = new Applied(false, keys.get(i), root, 0);
        continue;
      }
      throw ProvisioningException.rejected("NAME_CONFLICT", "table " + t.child() + " exists but is "
          + (e.attached() ? "a partition of " + e.attachedTo() + (e.detachPending() ? " (detach pending)" : "")
              : "not attached to " + t.parent()));
    }
    if (fresh.isEmpty()) {
      return List.of(applied);
    }

    long[] moved = new long[batch.size()];
    Connection c = session.get();
    try (Statement s = c.createStatement()) {
      StringJoiner creates = new StringJoiner("; ");
      for (int i : fresh) {
        Target t = batch.get(i);
        creates.add(Ddl.createStandalone(t.child(), t.parent(), t.spec().getSubpartitionBy()));
        creates.add(Ddl.comment(t.child(), marker(state.key, state.aggregate, t.parent())));
      }
      s.execute(creates.toString());
      for (int i : fresh) {
        checkpoint.reached(Step.CREATED, batch.get(i).child(), c);
      }
      List<String> afterAttach = emptyDefaults(c, s, batch, fresh, state, moved);
      for (int i : fresh) {
        checkpoint.reached(Step.LOCKED, batch.get(i).child(), c);
      }
      StringJoiner attach = new StringJoiner("; ");
      for (int i : fresh) {
        Target t = batch.get(i);
        attach.add(Ddl.attach(t.parent(), t.child(), t.spec().getBound()));
      }
      afterAttach.forEach(attach::add);
      for (int i : fresh) {
        // statistics only where there is something to measure: ANALYZE of an empty table records
        // reltuples = 0 and no column statistics, and takes away the planner's "never analyzed" floor
        // of 10 pages, which exists so that a plan made while a new table is empty stays sane once it
        // fills. Rows moved in from DEFAULT are real data: those are analyzed before the first write.
        if (moved[i] > 0) {
          attach.add(Ddl.analyze(batch.get(i).child()));
        }
      }
      s.execute(attach.toString());
    }
    for (int i : fresh) {
      checkpoint.reached(Step.ATTACHED, batch.get(i).child(), c);
    }
    // verified while the transaction holds its locks: what it sees is what commits; the audit rows
    // go in the same round trip, and roll back with everything else if verification fails
    RoundTrip check = session.roundTrip();
    Supplier<List<ProvisioningException>> problems = verify(check, batch, fresh, expected, state.plans);
    List<PostgresCatalog.AuditRow> rows = new ArrayList<>();
    for (int i : fresh) {
      Target t = batch.get(i);
      rows.add(new PostgresCatalog.AuditRow(t.child().toString(), t.parent().toString(), expected.get(i)));
    }
    PostgresCatalog.audit(check, state.key, state.aggregate, "created", worker, rows);
    check.run();
    for (ProvisioningException p : problems.get()) {
      if (p != null) {
        throw p;
      }
    }
    session.commit();
    for (int i : fresh) {
      Target t = batch.get(i);
      if (moved[i] > 0) {
        LOG.info("moved {} rows of {} from DEFAULT partition {} into {}", moved[i], Bounds.describe(t.spec().getBound()),
            state.parents.get(t.parent()).defaultPartition().orElseThrow(), t.child());
      }
      applied[i] = new Applied(true, keys.get(i), state.parents.get(t.parent()).rootTable(), moved[i]);
    }
    for (int i : fresh) {
      checkpoint.reached(Step.COMMITTED, batch.get(i).child(), c);
    }
    return List.of(applied);
  }

  /** Name of the CHECK that proves the new ranges absent from a DEFAULT partition, for one transaction. */
  private static final Identifier DEFAULT_GUARD = new Identifier("partwright_attach_guard");

  /**
   * For each parent with a DEFAULT partition that {@code fresh} partitions are about to be attached
   * to: takes SHARE UPDATE EXCLUSIVE on the parent and ACCESS EXCLUSIVE on DEFAULT (PostgreSQL's own
   * ATTACH order), moves the rows of the new ranges out of DEFAULT into the new children, and — when
   * DEFAULT holds rows and two or more partitions are attached next to it — adds a CHECK proving
   * the new ranges absent, so DEFAULT is scanned once (validating the CHECK) instead of once per
   * ATTACH. Returns the statements to run after the attaches (dropping those CHECKs).
   */
  private List<String> emptyDefaults(Connection c, Statement s, List<Target> batch, List<Integer> fresh,
      CommandState state, long[] moved) throws SQLException {
    Map<QualifiedName, List<Integer>> byParent = new LinkedHashMap<>();
    for (int i : fresh) {
      Target t = batch.get(i);
      if (!(t.spec().getBound() instanceof DefaultBound)
          && state.parents.get(t.parent()).defaultPartition().isPresent()) {
        byParent.computeIfAbsent(t.parent(), p -> new ArrayList<>()).add(i);
      }
    }
    List<String> afterAttach = new ArrayList<>();
    for (Map.Entry<QualifiedName, List<Integer>> e : byParent.entrySet()) {
      QualifiedName parent = e.getKey();
      PostgresCatalog.Parent context = state.parents.get(parent);
      CatalogTable deflt = context.defaultPartition().get();
      PartitionKey key = context.key();
      // taken here, not earlier, so the strong lock on DEFAULT lasts only for the moves and the attaches
      s.execute(Ddl.lock(parent, Ddl.LockMode.SHARE_UPDATE_EXCLUSIVE) + "; "
          + Ddl.lock(deflt, Ddl.LockMode.ACCESS_EXCLUSIVE));
      List<String> predicates = new ArrayList<>();
      List<Integer> movers = new ArrayList<>();
      for (int i : e.getValue()) {
        Target t = batch.get(i);
        String predicate = key.getColumns().size() == 1
            ? Ddl.boundPredicate(Ddl.quoteCatalogName(key.getColumns().get(0)), t.spec().getBound())
            : null;
        if (predicate != null && t.spec().getSubpartitionBy() == null) {
          predicates.add(predicate);
          movers.add(i);
        }
      }
      if (movers.isEmpty() || !PostgresCatalog.anyRow(c, deflt)) {
        continue; // an empty DEFAULT: nothing to move, and ATTACH's scan of it costs nothing
      }
      String columns = state.columns.get(parent);
      if (columns == null) {
        columns = PostgresCatalog.insertableColumns(c, parent);
        state.columns.put(parent, columns);
      }
      StringJoiner moves = new StringJoiner("; ");
      for (int f = 0; f < movers.size(); f++) {
        moves.add(Ddl.moveRows(deflt, batch.get(movers.get(f)).child(), columns, predicates.get(f)));
      }
      boolean isResult = s.execute(moves.toString());
      for (int f = 0; f < movers.size(); f++) {
        if (isResult) {
          throw new SQLException("moving rows out of " + deflt + " returned rows instead of a count");
        }
        moved[movers.get(f)] = s.getUpdateCount();
        isResult = s.getMoreResults();
      }
      if (movers.size() == e.getValue().size() && movers.size() >= 2) {
        s.execute(Ddl.addCheck(deflt, DEFAULT_GUARD, Ddl.noneOf(predicates)));
        afterAttach.add(Ddl.dropConstraint(deflt, DEFAULT_GUARD));
      }
    }
    return afterAttach;
  }

  /**
   * Which bound of {@code batch} is not a value of its key's type, the round trip that printed them
   * all having failed with {@code failure}: asked one by one (rare), in a fresh transaction.
   */
  private static ProvisioningException invalidBound(Connection c, List<Target> batch, List<PartitionKey> keys,
      SQLException failure) throws SQLException {
    for (int i = 0; i < batch.size(); i++) {
      Target t = batch.get(i);
      try {
        PostgresCatalog.expectedBoundExpression(c, t.spec().getBound(), keys.get(i));
      } catch (SQLException one) {
        if (isDataException(one)) {
          return ProvisioningException.rejected("INVALID_BOUND", "partition " + t.child() + ": bound "
              + Bounds.describe(t.spec().getBound()) + " is not of " + t.parent() + "'s key type "
              + keys.get(i).getTypes() + ": " + one.getMessage());
        }
        throw one;
      }
    }
    return ProvisioningException.rejected("INVALID_BOUND", "bounds are not values of their key types: "
        + failure.getMessage());
  }

  /**
   * Invariants 1 and 5 for the {@code fresh} partitions of a batch, in one catalog query: each
   * attached to its parent with the bound asked for, every index of the parent's template present,
   * valid, ready and attached, and (single-column range keys) meeting its neighbours without gap or
   * overlap. Runs in the attaching transaction, so what it sees is what commits. Its query joins
   * round trip {@code r}; once that ran, the supplier answers one entry per fresh partition: null
   * when it passed.
   */
  private static Supplier<List<ProvisioningException>> verify(RoundTrip r, List<Target> batch, List<Integer> fresh,
      List<String> expected, Map<QualifiedName, RangeCoverage.Plan> plans) {
    List<PostgresCatalog.AttachedQuery> queries = new ArrayList<>();
    List<RangeCoverage.Neighbours> around = new ArrayList<>();
    for (int i : fresh) {
      Target t = batch.get(i);
      RangeCoverage.Plan plan = plans.get(t.parent());
      RangeCoverage.Neighbours n = plan == null ? RangeCoverage.Neighbours.NONE : plan.of(t.child().toString());
      around.add(n);
      queries.add(new PostgresCatalog.AttachedQuery(t.child(), t.parent(),
          n.lower() == null ? null : n.lower().schema(), n.lower() == null ? null : n.lower().table(),
          n.upper() == null ? null : n.upper().schema(), n.upper() == null ? null : n.upper().table()));
    }
    RoundTrip.Result<List<Optional<PostgresCatalog.Attached>>> found = PostgresCatalog.attached(r, queries);
    return () -> {
      List<ProvisioningException> problems = new ArrayList<>();
      for (int f = 0; f < fresh.size(); f++) {
        Target t = batch.get(fresh.get(f));
        problems.add(problem(t.parent(), t.child(), expected.get(fresh.get(f)), around.get(f), found.get().get(f)));
      }
      return problems;
    };
  }

  private static ProvisioningException problem(QualifiedName parent, QualifiedName child, String expected,
      RangeCoverage.Neighbours around, Optional<PostgresCatalog.Attached> found) {
    if (found.isEmpty()) {
      return ProvisioningException.failed("VERIFY_FAILED", "partition " + child + " vanished");
    }
    PostgresCatalog.Attached t = found.get();
    if (!parent.toString().equals(t.attachedTo()) || !expected.equals(t.boundExpression())) {
      return ProvisioningException.failed("VERIFY_FAILED", "partition " + child + " is attached to " + t.attachedTo()
          + " with " + t.boundExpression() + ", expected " + parent + " with " + expected);
    }
    if (!t.unalignedIndexes().isEmpty()) {
      return ProvisioningException.failed("INDEX_UNALIGNED", "partition " + child + " lacks valid, ready, attached"
          + " indexes for " + t.unalignedIndexes());
    }
    List<PostgresCatalog.CoverageProblem> problems =
        RangeCoverage.meets(child.toString(), t.boundExpression(), around, t.lowerBound(), t.upperBound());
    return problems.isEmpty() ? null : coverageRejection(parent, problems);
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
