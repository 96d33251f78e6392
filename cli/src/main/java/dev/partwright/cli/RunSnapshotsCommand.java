package dev.partwright.cli;

import dev.partwright.commandstore.CommandStoreConfig;
import dev.partwright.commandstore.SnapshotPolicy;
import dev.partwright.commandstore.SnapshotWriter;
import dev.partwright.schemas.PartwrightSerdes;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

@Command(
    name = "snapshots",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
        "The snapshot writer: catalog snapshots, so replay reads only the tail.",
        "",
        "Follows the command log, keeps the catalog, and writes a snapshot of each",
        "partition that moved to the compacted snapshots topic every",
        "--snapshot-interval or --snapshot-records records, whichever comes first.",
        "Records the log refuses go to the commands dead-letter topic with the",
        "reason, in the transaction of the snapshot covering them. One instance is",
        "enough; a second with the same --instance-id fences the first.",
        "",
        "Required: --bootstrap-servers (or PARTWRIGHT_KAFKA_BOOTSTRAP).",
        "Exit codes: 0 stopped; 2 bad arguments, or the writer stopped on an error",
        "(fenced); 3 Kafka unreachable."})
final class RunSnapshotsCommand extends LongRunningCommand {

  @Option(names = "--snapshot-interval", paramLabel = "DURATION", converter = Durations.class,
      defaultValue = "${env:PARTWRIGHT_SNAPSHOT_INTERVAL:-60s}",
      description = "Write a snapshot at least this often while the log moves (default: ${DEFAULT-VALUE};"
          + " env PARTWRIGHT_SNAPSHOT_INTERVAL).")
  Duration interval;

  @Option(names = "--snapshot-records", paramLabel = "N", defaultValue = "10000",
      description = "... or after this many records, whichever comes first (default: ${DEFAULT-VALUE}).")
  long everyRecords;

  @Option(names = "--instance-id", paramLabel = "ID", defaultValue = "${env:HOSTNAME:-snapshots}",
      description = "Stable name of this writer; part of its transactional id (default: HOSTNAME).")
  String instanceId;

  private volatile SnapshotWriter writer;

  @Override
  String component() {
    return "snapshots";
  }

  @Override
  Running start(PrometheusMeterRegistry meters) throws Exception {
    SnapshotPolicy policy;
    try {
      policy = new SnapshotPolicy(everyRecords, interval);
    } catch (IllegalArgumentException e) {
      throw new ParameterException(spec.commandLine(), e.getMessage());
    }
    PartwrightSerdes serdes = serdes();
    CommandStoreConfig store = commandStore(kafka(), serdes);
    SnapshotWriter w = SnapshotWriter.start(store, policy, instanceId);
    writer = w;
    FunctionCounter.builder("partwright.snapshots.written", w, SnapshotWriter::snapshotsWritten)
        .description("Snapshot records written (one per moved partition per round)").register(meters);
    FunctionCounter.builder("partwright.snapshots.dead.letters", w, SnapshotWriter::deadLettersWritten)
        .description("Command-log records forwarded to the dead-letter topic").register(meters);
    return new Running() {
      @Override
      public Throwable failure() {
        return w.failure();
      }

      @Override
      public void close() {
        w.close();
      }
    };
  }

  /** The running writer, once started (tests). */
  SnapshotWriter writer() {
    return writer;
  }
}
