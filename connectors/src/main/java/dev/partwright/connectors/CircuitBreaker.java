package dev.partwright.connectors;

import dev.partwright.connectors.postgres.PostgresCatalog;
import dev.partwright.connectors.postgres.QualifiedName;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Pauses provisioning while the database is in no state to take DDL: a standby replays more than
 * {@link Config#maxReplicationLag()} behind (DDL adds WAL, and a lagging standby serves stale
 * routing), or a lock request on the managed table's tree has waited longer than
 * {@link Config#maxLockWait()} (our DDL would queue behind the same holder, and everything else
 * behind us).
 *
 * <p>CLOSED: every command probes first and runs if healthy. OPEN: commands wait (the worker does
 * not commit their offsets) without probing, for {@link Config#openInterval()}. Then HALF_OPEN: the
 * next command probes; healthy, it runs as the trial — success closes the breaker, failure opens it
 * again; unhealthy, it stays open for another interval. A probe that cannot reach the database
 * counts as unhealthy: waiting is the safe side. One breaker per worker (one database).
 */
public final class CircuitBreaker {

  private static final Logger LOG = LoggerFactory.getLogger(CircuitBreaker.class);

  public enum State {
    CLOSED(0), HALF_OPEN(1), OPEN(2);

    /** The value of the {@code partwright.worker.breaker.state} gauge. */
    public final int gauge;

    State(int gauge) {
      this.gauge = gauge;
    }
  }

  /**
   * @param maxReplicationLag open while any standby's {@code replay_lag} exceeds this
   * @param maxLockWait open while a lock request on the managed tree has waited longer than this
   * @param openInterval how long an open breaker waits before probing again
   */
  public record Config(Duration maxReplicationLag, Duration maxLockWait, Duration openInterval) {
    public Config {
      Objects.requireNonNull(maxReplicationLag, "maxReplicationLag");
      Objects.requireNonNull(maxLockWait, "maxLockWait");
      Objects.requireNonNull(openInterval, "openInterval");
      if (openInterval.isNegative() || openInterval.isZero()) {
        throw new IllegalArgumentException("openInterval must be positive, got " + openInterval);
      }
    }

    public static Config defaults() {
      return new Config(Duration.ofSeconds(5), Duration.ofSeconds(1), Duration.ofSeconds(1));
    }
  }

  /** Reads the health of the database around one managed table. */
  @FunctionalInterface
  public interface Probe {
    PostgresCatalog.Health health(QualifiedName table) throws SQLException;
  }

  /** The breaker's view right now: state, and why when not closed. */
  public record Status(State state, String reason, Instant since) {}

  private final Config config;
  private final Probe probe;
  private final Clock clock;
  private final MeterRegistry meters;
  private final AtomicReference<Status> status;

  public CircuitBreaker(Config config, Probe probe, MeterRegistry meters) {
    this(config, probe, meters, Clock.systemUTC());
  }

  CircuitBreaker(Config config, Probe probe, MeterRegistry meters, Clock clock) {
    this.config = config;
    this.probe = probe;
    this.clock = clock;
    this.meters = meters;
    this.status = new AtomicReference<>(new Status(State.CLOSED, "", clock.instant()));
    Gauge.builder("partwright.worker.breaker.state", status, s -> s.get().state().gauge)
        .description("Provisioning circuit breaker: 0 closed, 1 half-open, 2 open")
        .register(meters);
  }

  public Config config() {
    return config;
  }

  public State state() {
    return status.get().state();
  }

  public Status status() {
    return status.get();
  }

  /**
   * Whether a command on {@code table}'s tree may run now. When it returns true in HALF_OPEN, the
   * command is the trial: report how it went with {@link #completed(boolean)}.
   */
  public synchronized boolean allows(QualifiedName table) {
    Status now = status.get();
    if (now.state() == State.OPEN && clock.instant().isBefore(now.since().plus(config.openInterval()))) {
      return false;
    }
    String problem = problem(table);
    if (problem != null) {
      move(State.OPEN, problem);
      return false;
    }
    if (now.state() == State.OPEN) {
      move(State.HALF_OPEN, "probe healthy, admitting one trial command");
    }
    return true;
  }

  /** How the command {@link #allows} admitted went; only a half-open breaker cares. */
  public synchronized void completed(boolean success) {
    if (status.get().state() != State.HALF_OPEN) {
      return;
    }
    if (success) {
      move(State.CLOSED, "");
    } else {
      move(State.OPEN, "trial command failed");
    }
  }

  /** Why the database should not take DDL on {@code table}'s tree now, or null when it can. */
  private String problem(QualifiedName table) {
    PostgresCatalog.Health h;
    try {
      h = probe.health(table);
    } catch (SQLException | RuntimeException e) {
      return "health probe failed: " + e.getMessage();
    }
    if (h.replicationLag().compareTo(config.maxReplicationLag()) > 0) {
      return "replication lag " + h.replicationLag().toMillis() + " ms > " + config.maxReplicationLag().toMillis() + " ms";
    }
    if (h.lockWaiters() > 0 && h.longestLockWait().compareTo(config.maxLockWait()) > 0) {
      return h.lockWaiters() + " lock requests waiting on " + table + "'s tree, the oldest for "
          + h.longestLockWait().toMillis() + " ms > " + config.maxLockWait().toMillis() + " ms";
    }
    return null;
  }

  private void move(State to, String reason) {
    Status from = status.get();
    if (from.state() != to || (to == State.OPEN)) {
      status.set(new Status(to, reason, clock.instant()));
    }
    if (from.state() != to) {
      meters.counter("partwright.worker.breaker.transitions", "to", to.name().toLowerCase()).increment();
      if (to == State.CLOSED) {
        LOG.info("circuit breaker closed (was {} since {})", from.state(), from.since());
      } else {
        LOG.warn("circuit breaker {}: {}", to, reason);
      }
    }
  }
}
