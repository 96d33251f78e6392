package dev.partwright.connectors.postgres;

import dev.partwright.schemas.Bounds;
import dev.partwright.schemas.PartitionKey;
import dev.partwright.schemas.PartitionSpec;
import dev.partwright.schemas.ProvisionPartitions;
import dev.partwright.schemas.RangeBound;
import dev.partwright.schemas.Strategy;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Applies a {@code ProvisionPartitions} to PostgreSQL, one partition per transaction, without ever
 * taking ACCESS EXCLUSIVE on a live parent: the child is created standalone (shaped like the
 * parent, with its indexes), proven by a CHECK to hold only its bound, attached (SHARE UPDATE
 * EXCLUSIVE on the parent), and recorded in {@code partwright.provisioning_log} in the same
 * transaction. Any failure rolls the whole transaction back: no orphan table survives it. Every
 * statement runs under {@code lock_timeout} and {@code statement_timeout}; lock timeouts are
 * retried with exponential backoff and jitter.
 */
public final class PartitionProvisioner {

  private static final Logger LOG = LoggerFactory.getLogger(PartitionProvisioner.class);

  /** What one command did. */
  public record Result(List<PartitionSpec> created, List<PartitionSpec> alreadyPresent, List<PartitionKey> parentKeys,
      int attempts) {}

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

  private final DataSource dataSource;
  private final Limits limits;
  private final String worker;

  public PartitionProvisioner(DataSource dataSource, Limits limits, String worker) {
    this.dataSource = dataSource;
    this.limits = limits;
    this.worker = worker;
  }

  /** Makes sure the audit schema exists; call once at start-up. */
  public void prepare() throws SQLException {
    try (Connection c = dataSource.getConnection()) {
      PostgresCatalog.ensureAuditSchema(c);
    }
  }

  public Result provision(ProvisionPartitions command) throws ProvisioningException {
    String key = command.getHeader().getIdempotencyKey();
    String aggregate = command.getHeader().getAggregateId();
    List<PartitionSpec> created = new ArrayList<>();
    List<PartitionSpec> present = new ArrayList<>();
    List<PartitionKey> keys = new ArrayList<>();
    int attemptsMax = 1;
    for (PartitionSpec spec : command.getPartitions()) {
      QualifiedName parent;
      QualifiedName child;
      try {
        parent = QualifiedName.parse(spec.getParent());
        child = QualifiedName.of(spec.getSchemaName(), spec.getName());
      } catch (InvalidIdentifierException e) {
        throw ProvisioningException.rejected("INVALID_IDENTIFIER", e.getMessage());
      }
      int attempt = 0;
      while (true) {
        attempt++;
        try {
          PartitionKey partitionKey = provisionOne(key, aggregate, parent, child, spec, created, present);
          keys.add(partitionKey);
          break;
        } catch (SQLException e) {
          ProvisioningException classified = classify(e, child);
          if (classified.kind() != ProvisioningException.Kind.RETRYABLE || attempt >= limits.maxAttempts()) {
            throw classified;
          }
          Duration backoff = backoff(attempt);
          LOG.warn("{} (attempt {}/{}), retrying in {} ms", classified.getMessage(), attempt, limits.maxAttempts(),
              backoff.toMillis());
          sleep(backoff);
        }
      }
      attemptsMax = Math.max(attemptsMax, attempt);
    }
    return new Result(created, present, keys, attemptsMax);
  }

  private PartitionKey provisionOne(String key, String aggregate, QualifiedName parent, QualifiedName child,
      PartitionSpec spec, List<PartitionSpec> created, List<PartitionSpec> present)
      throws SQLException, ProvisioningException {
    try (Connection c = dataSource.getConnection()) {
      PartitionKey partitionKey = PostgresCatalog.partitionKey(c, parent).orElseThrow(() ->
          ProvisioningException.rejected("UNKNOWN_TABLE", "table " + parent + " does not exist or is not partitioned"));
      if (partitionKey.getStrategy() == Strategy.RANGE && !(spec.getBound() instanceof RangeBound)
          && !(spec.getBound() instanceof dev.partwright.schemas.DefaultBound)) {
        throw ProvisioningException.rejected("INVALID_BOUND",
            "table " + parent + " is range-partitioned but the bound is " + Bounds.describe(spec.getBound()));
      }
      String expected = PostgresCatalog.expectedBoundExpression(c, spec.getBound(), partitionKey);
      Optional<PostgresCatalog.ExistingTable> existing = PostgresCatalog.existing(c, child);
      if (existing.isPresent()) {
        PostgresCatalog.ExistingTable t = existing.get();
        if (t.attached() && t.attachedTo().equals(parent.toString())) {
          if (!expected.equals(t.boundExpression())) {
            throw ProvisioningException.rejected("BOUND_CONFLICT", "partition " + child + " exists with "
                + t.boundExpression() + ", command wants " + expected);
          }
          present.add(spec);
          return partitionKey;
        }
        throw ProvisioningException.rejected("NAME_CONFLICT", "table " + child + " exists but is "
            + (t.attached() ? "a partition of " + t.attachedTo() : "not attached to " + parent));
      }

      Identifier check = new Identifier(checkName(child));
      c.setAutoCommit(false);
      try (Statement s = c.createStatement()) {
        s.execute(Ddl.setLocal("lock_timeout", limits.lockTimeout().toMillis()));
        s.execute(Ddl.setLocal("statement_timeout", limits.statementTimeout().toMillis()));
        s.execute(Ddl.createStandalone(child, parent));
        String addCheck = partitionKey.getColumns().size() == 1
            ? Ddl.addBoundCheck(child, check, new Identifier(partitionKey.getColumns().get(0)), spec.getBound())
            : null;
        if (addCheck != null) {
          s.execute(addCheck);
        }
        s.execute(Ddl.attach(parent, child, spec.getBound()));
        if (addCheck != null) {
          s.execute(Ddl.dropConstraint(child, check));
        }
        PostgresCatalog.audit(c, key, aggregate, child, parent, expected, "created", worker);
        c.commit();
      } catch (SQLException | RuntimeException e) {
        c.rollback();
        throw e;
      } finally {
        c.setAutoCommit(true);
      }

      verify(c, parent, child, expected);
      try (Statement s = c.createStatement()) {
        s.execute(Ddl.analyze(child));
      }
      created.add(spec);
      return partitionKey;
    }
  }

  /** Invariants 1 and 5 for the new partition: attached with the bound asked for, every index aligned. */
  private void verify(Connection c, QualifiedName parent, QualifiedName child, String expected)
      throws SQLException, ProvisioningException {
    PostgresCatalog.ExistingTable t = PostgresCatalog.existing(c, child).orElseThrow(() ->
        new ProvisioningException(ProvisioningException.Kind.FAILED, "VERIFY_FAILED",
            "partition " + child + " vanished after commit", null, null));
    if (!expected.equals(t.boundExpression())) {
      throw new ProvisioningException(ProvisioningException.Kind.FAILED, "VERIFY_FAILED",
          "partition " + child + " has " + t.boundExpression() + ", expected " + expected, null, null);
    }
    List<String> unaligned = PostgresCatalog.unalignedIndexes(c, parent, child);
    if (!unaligned.isEmpty()) {
      throw new ProvisioningException(ProvisioningException.Kind.FAILED, "INDEX_UNALIGNED",
          "partition " + child + " lacks valid indexes for " + unaligned, null, null);
    }
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

  private ProvisioningException classify(SQLException e, QualifiedName child) {
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
        code, "provisioning " + child + " failed: " + e.getMessage() + " (SQLSTATE " + state + ")", state, e);
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
