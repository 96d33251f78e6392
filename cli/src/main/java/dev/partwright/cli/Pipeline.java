package dev.partwright.cli;

import com.zaxxer.hikari.HikariDataSource;
import dev.partwright.commandstore.CommandStoreConfig;
import dev.partwright.commandstore.CommandTopics;
import dev.partwright.connectors.ProvisioningWorker;
import dev.partwright.connectors.WorkerConfig;
import dev.partwright.connectors.WorkerDataSource;
import dev.partwright.connectors.postgres.PartitionProvisioner;
import dev.partwright.router.BoundaryFollower;
import dev.partwright.router.PartitionRouter;
import dev.partwright.schemas.PartwrightSerdes;
import dev.partwright.streams.DemandTopology;
import dev.partwright.streams.PlannerConfig;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;

/**
 * Every stage of the flow in one process: the demand topology, a provisioning worker and a router
 * following the boundary topic. Used by {@code partwright demo} and the end-to-end tests; in
 * production each stage runs as its own deployment.
 */
final class Pipeline implements AutoCloseable {

  final CommandStoreConfig store;
  final PlannerConfig planner;
  final KafkaStreams streams;
  final HikariDataSource workerPool;
  final ProvisioningWorker worker;
  final PartitionRouter router;
  final BoundaryFollower follower;
  final MeterRegistry meters;
  private final CountDownLatch running;

  private Pipeline(CommandStoreConfig store, PlannerConfig planner, KafkaStreams streams, HikariDataSource workerPool,
      ProvisioningWorker worker, PartitionRouter router, BoundaryFollower follower, MeterRegistry meters, CountDownLatch running) {
    this.running = running;
    this.store = store;
    this.planner = planner;
    this.streams = streams;
    this.workerPool = workerPool;
    this.worker = worker;
    this.router = router;
    this.follower = follower;
    this.meters = meters;
  }

  /** Database coordinates the worker connects with. */
  record Database(String jdbcUrl, String user, String password) {}

  /** Every stage on {@code bootstrapServers}, every pipeline topic through {@code serdes}' schema registry. */
  static Pipeline start(String bootstrapServers, PartwrightSerdes serdes, Database db, PlannerConfig planner,
      String applicationId, String workerId, Path stateDir) {
    CommandStoreConfig store = CommandStoreConfig.singleBroker(bootstrapServers, serdes);
    Properties adminProps = new Properties();
    adminProps.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    try (Admin admin = Admin.create(adminProps)) {
      CommandTopics.ensure(admin, store, planner.ingestionTopic());
    }
    MeterRegistry meters = new SimpleMeterRegistry();
    HikariDataSource pool = WorkerDataSource.create(db.jdbcUrl(), db.user(), db.password(), 4);
    ProvisioningWorker worker = null;
    KafkaStreams streams = null;
    BoundaryFollower follower = null;
    try {
      PartitionRouter router = new PartitionRouter();
      follower = BoundaryFollower.follow(router, bootstrapServers, serdes, store.boundariesTopic());
      worker = new ProvisioningWorker(WorkerConfig.defaults(bootstrapServers, workerId), serdes,
          new PartitionProvisioner(pool, PartitionProvisioner.Limits.defaults(), workerId), meters).start();
      Properties props = DemandTopology.streamsProperties(bootstrapServers, applicationId, planner);
      props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
      streams = new KafkaStreams(DemandTopology.build(new StreamsBuilder(), planner, serdes), props);
      CountDownLatch running = new CountDownLatch(1);
      streams.setStateListener((now, before) -> {
        if (now == KafkaStreams.State.RUNNING) {
          running.countDown();
        }
      });
      streams.start();
      return new Pipeline(store, planner, streams, pool, worker, router, follower, meters, running);
    } catch (RuntimeException e) {
      closeQuietly(streams, worker, follower, pool);
      throw e;
    }
  }

  /** Waits until the topology runs and the worker owns its partitions of the command log. */
  void awaitReady(Duration timeout) throws InterruptedException {
    Instant deadline = Instant.now().plus(timeout);
    if (!running.await(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
      throw new IllegalStateException("demand topology did not reach RUNNING within " + timeout
          + " (state " + streams.state() + ")");
    }
    Duration left = Duration.between(Instant.now(), deadline);
    if (!worker.awaitAssignment(left.isNegative() ? Duration.ZERO : left)) {
      throw new IllegalStateException("provisioning worker got no partition of " + store.commandsTopic()
          + " within " + timeout + (worker.failure() == null ? "" : ": " + worker.failure()));
    }
  }

  @Override
  public void close() {
    closeQuietly(streams, worker, follower, workerPool);
  }

  private static void closeQuietly(KafkaStreams streams, AutoCloseable... others) {
    if (streams != null) {
      // leave the group now: otherwise the next instance waits a whole session timeout to rebalance
      streams.close(CloseOptions.groupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP)
          .withTimeout(Duration.ofSeconds(10)));
    }
    for (AutoCloseable c : others) {
      if (c != null) {
        try {
          c.close();
        } catch (Exception ignored) {
          // shutting down: nothing useful to do
        }
      }
    }
  }
}
