package dev.partwright.cli;

import dev.partwright.commandstore.CommandStoreConfig;
import dev.partwright.connectors.ProvisioningWorker;
import dev.partwright.connectors.WorkerConfig;
import dev.partwright.connectors.postgres.PartitionProvisioner;
import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.schemas.Topics;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

@Command(
    name = "worker",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
        "The provisioning worker: applies the command log to PostgreSQL.",
        "",
        "Applies each command of partwright.commands with low-lock DDL, verifies",
        "it, audits it, and commits the outcome, its boundary changes and the",
        "consumed offset in one Kafka transaction. Workers share the log's",
        "partitions as a consumer group; each needs a stable, unique --worker-id",
        "(its transactional id: a restarted instance fences its predecessor).",
        "Commands the log does not apply (a stale expected version, a repeated",
        "idempotency key) are never executed.",
        "",
        "Required: --db-url (or DB_URL), --bootstrap-servers (or",
        "PARTWRIGHT_KAFKA_BOOTSTRAP). Stops on SIGTERM after the command at hand.",
        "Exit codes: 0 stopped; 2 bad arguments, or the worker stopped on an error",
        "(e.g. fenced by a newer instance); 3 PostgreSQL or Kafka unreachable."})
final class RunWorkerCommand extends LongRunningCommand {

  @Option(names = "--worker-id", paramLabel = "ID", defaultValue = "${env:PARTWRIGHT_WORKER_ID:-${env:HOSTNAME}}",
      description = "This instance's stable, unique name (default: env PARTWRIGHT_WORKER_ID, else HOSTNAME).")
  String workerId;

  @Option(names = "--group-id", paramLabel = "GROUP", defaultValue = "partwright-worker",
      description = "Consumer group of all workers (default: ${DEFAULT-VALUE}).")
  String groupId;

  @Option(names = "--max-connections", paramLabel = "N", defaultValue = "4",
      description = "PostgreSQL connections of the worker's pool (default: ${DEFAULT-VALUE}).")
  int maxConnections;

  @Option(names = "--monitor-interval", paramLabel = "DURATION", defaultValue = "15s", converter = Durations.class,
      description = "How often the database gauges (partwright_db_*: replication lag, lock waits, unaligned indexes)"
          + " are refreshed (default: ${DEFAULT-VALUE}).")
  Duration monitorInterval;

  private volatile ProvisioningWorker worker;

  @Override
  String component() {
    return "worker";
  }

  @Override
  Running start(PrometheusMeterRegistry meters) throws Exception {
    String id = workerId == null || workerId.isBlank() ? hostName() : workerId;
    if (!id.matches("[A-Za-z0-9._-]{1,200}")) {
      throw new ParameterException(spec.commandLine(), "--worker-id must be 1-200 of A-Z a-z 0-9 . _ -, not '" + id + "'");
    }
    if (monitorInterval.isZero() || monitorInterval.isNegative()) {
      throw new ParameterException(spec.commandLine(), "--monitor-interval must be positive, not " + monitorInterval);
    }
    if (maxConnections < 1) {
      throw new ParameterException(spec.commandLine(), "--max-connections must be >= 1, not " + maxConnections);
    }
    connection.requireDbUrl();
    PartwrightSerdes serdes = serdes();
    String kafka = kafka();
    CommandStoreConfig store = commandStore(kafka, serdes);
    ManageCommand.Db db = database(maxConnections);
    try {
      WorkerConfig config = new WorkerConfig(kafka, store.commandsTopic(), store.boundariesTopic(),
          store.deadLetterTopic(), groupId, id, PartitionProvisioner.Limits.defaults()).withAlertsTopic(topic(Topics.ALERTS))
          .withMonitorInterval(monitorInterval);
      ProvisioningWorker w = new ProvisioningWorker(config, serdes,
          new PartitionProvisioner(db.pool, config.limits(), config.workerId()), meters).start();
      worker = w;
      return new Running() {
        @Override
        public Throwable failure() {
          return w.failure();
        }

        @Override
        public void close() {
          try {
            w.close();
          } finally {
            db.close();
          }
        }
      };
    } catch (RuntimeException e) {
      db.close();
      throw e;
    }
  }

  /** Waits until the worker owns partitions of the command log (tests). */
  boolean awaitAssignment(Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (worker == null) {
      if (System.nanoTime() > deadline) {
        return false;
      }
      Thread.sleep(50); // the worker is created by the thread running call(); nothing to wait on before that
    }
    return worker.awaitAssignment(Duration.ofNanos(Math.max(0, deadline - System.nanoTime())));
  }
}
