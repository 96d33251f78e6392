package dev.partwright.embedded;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.reflect.InvocationTargetException;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import kafka.server.KafkaRaftServer;
import kafka.tools.StorageTool;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.common.utils.internals.Exit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An Apache Kafka 4.4 broker running in this JVM in KRaft combined mode ({@code broker,controller},
 * node 1, single-node dynamic quorum formatted with {@code kafka-storage format --standalone}).
 *
 * <p>Listeners bind to 127.0.0.1 on free ports that stay fixed for the life of the object, so
 * {@link #stop()} / {@link #restart()} keep the bootstrap address and the data. The broker is tuned
 * for a single node (all internal topics RF 1, no initial rebalance delay, auto topic creation on,
 * small segments and internal-topic partition counts).
 *
 * <p>Files: {@code <dataDir>/server.properties} and {@code <dataDir>/kafka-logs}. {@link #close()}
 * deletes those (and {@code dataDir} itself if this object created it or found it empty).
 * Starting on a directory that already holds a formatted broker from an earlier process reuses its
 * ports and data.
 *
 * <p>Side effects on the JVM: Kafka's broker-side loggers are set to WARN (see {@link QuietLogging}),
 * and Kafka's {@code Exit} halt/exit procedures are replaced so a broker fault logs an error instead
 * of killing the whole JVM (test runner, CLI); opt out with {@code -Dpartwright.kafka.allow-jvm-exit=true}.
 */
public final class EmbeddedKafka implements KafkaEndpoint {

    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedKafka.class);

    private static final String TEMP_PREFIX = "partwright-kafka-";
    private static final String CONFIG_FILE = "server.properties";
    private static final String LOG_DIR = "kafka-logs";
    private static final int START_ATTEMPTS = 3;
    private static final Duration READY_TIMEOUT =
            Duration.ofSeconds(Long.getLong("partwright.kafka.start.timeout.seconds", 90));

    private static volatile boolean exitGuardInstalled;
    private static volatile boolean staleReaped;

    private final Path dataDir;
    private final boolean ownsDataDir;
    private final Path logDir;
    private final Path configFile;
    private Properties brokerProps;
    private volatile int brokerPort;
    private volatile int controllerPort;
    private volatile KafkaRaftServer server;
    private final Thread shutdownHook;
    private final InstanceLock lock;
    private boolean closed;

    private EmbeddedKafka(Path dataDir, boolean ownsDataDir, InstanceLock lock) {
        this.dataDir = dataDir.toAbsolutePath();
        this.ownsDataDir = ownsDataDir;
        this.lock = lock;
        this.logDir = this.dataDir.resolve(LOG_DIR);
        this.configFile = this.dataDir.resolve(CONFIG_FILE);
        this.shutdownHook = new Thread(this::close, "partwright-embedded-kafka-shutdown");
    }

    /**
     * Starts a broker in a fresh temporary directory ({@code $TMPDIR/partwright-kafka-*}). Such
     * directories left behind by JVMs that died without cleaning up (SIGKILL) are deleted first.
     */
    public static EmbeddedKafka start() {
        if (!staleReaped) {
            staleReaped = true;
            InstanceLock.reapStale(TEMP_PREFIX, dir -> { });
        }
        Path dir;
        InstanceLock lock;
        try {
            dir = Files.createTempDirectory(TEMP_PREFIX);
            lock = InstanceLock.acquire(dir);
        } catch (IOException e) {
            throw new ServerStartException("kafka", System.getProperty("java.io.tmpdir"),
                    "cannot start embedded Kafka: cannot create a temporary directory in "
                            + System.getProperty("java.io.tmpdir") + ": " + e.getMessage(), e);
        }
        return start(dir, Map.of(), lock);
    }

    /**
     * Starts a broker keeping its files under {@code dataDir} (created if missing) and waits until it
     * answers {@code describeCluster}.
     *
     * @throws ServerStartException if it cannot be started within the timeout
     *                              ({@code -Dpartwright.kafka.start.timeout.seconds}, default 90)
     */
    public static EmbeddedKafka start(Path dataDir) {
        return start(dataDir, Map.of());
    }

    /** Like {@link #start(Path)}, with extra/overriding broker settings (e.g. {@code log.retention.ms}). */
    public static EmbeddedKafka start(Path dataDir, Map<String, String> brokerOverrides) {
        return start(dataDir, brokerOverrides, null);
    }

    private static EmbeddedKafka start(Path dataDir, Map<String, String> brokerOverrides, InstanceLock lock) {
        QuietLogging.kafka();
        guardJvmExit();
        boolean owns;
        try {
            owns = !Files.exists(dataDir) || Support.isEmptyDir(dataDir);
            Files.createDirectories(dataDir);
        } catch (IOException e) {
            throw new ServerStartException("kafka", dataDir.toString(),
                    "cannot start embedded Kafka: cannot create data directory " + dataDir + ": " + e, e);
        }
        EmbeddedKafka kafka = new EmbeddedKafka(dataDir, owns || lock != null, lock);
        try {
            kafka.firstStart(brokerOverrides);
        } catch (RuntimeException e) {
            if (kafka.ownsDataDir) {
                kafka.deleteFiles(); // nothing but our own half-started files in there
            }
            throw e;
        }
        Runtime.getRuntime().addShutdownHook(kafka.shutdownHook); // stop + delete files even if close() is forgotten
        return kafka;
    }

    @Override
    public String bootstrapServers() {
        return "127.0.0.1:" + brokerPort;
    }

    @Override
    public boolean embedded() {
        return true;
    }

    /** The PLAINTEXT (client) port. */
    public int port() {
        return brokerPort;
    }

    /** The CONTROLLER listener port. */
    public int controllerPort() {
        return controllerPort;
    }

    /** The directory holding {@code server.properties} and {@code kafka-logs}. */
    public Path dataDirectory() {
        return dataDir;
    }

    public boolean isRunning() {
        return server != null;
    }

    /** Shuts the broker down cleanly (controlled shutdown), keeping ports and data for {@link #restart()}. */
    public synchronized void stop() {
        if (server == null) {
            return;
        }
        long t0 = System.nanoTime();
        KafkaRaftServer s = server;
        server = null;
        try {
            s.shutdown();
            s.awaitShutdown();
        } catch (RuntimeException e) {
            LOG.warn("embedded Kafka on {} did not shut down cleanly: {}", bootstrapServers(), e.toString());
        }
        LOG.info("embedded Kafka on {} stopped in {}", bootstrapServers(), Support.elapsed(t0));
    }

    /**
     * Starts the broker again (stopping it first if it is running) on the same ports and log
     * directory, and waits until it is ready.
     */
    public synchronized void restart() {
        if (closed) {
            throw new IllegalStateException("embedded Kafka in " + dataDir + " is closed");
        }
        stop();
        long t0 = System.nanoTime();
        RuntimeException last = null;
        for (int attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
            try {
                startServer();
                LOG.info("embedded Kafka restarted on {} in {}", bootstrapServers(), Support.elapsed(t0));
                return;
            } catch (RuntimeException e) {
                last = e;
                if (!isBindFailure(e)) {
                    break;
                }
                // the port is held by someone else; give it a moment (bounded) before failing
                LOG.warn("embedded Kafka cannot bind its ports yet ({}), retrying", Support.rootCause(e).toString());
                sleep(1000L * attempt);
            }
        }
        throw failure("restart", last);
    }

    /** Stops the broker and deletes its files. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        Support.removeShutdownHook(shutdownHook);
        stop();
        deleteFiles();
    }

    private void deleteFiles() {
        if (lock != null) {
            lock.close();
        }
        if (ownsDataDir) {
            Support.deleteRecursively(dataDir);
        } else {
            Support.deleteRecursively(logDir);
            Support.deleteRecursively(configFile);
        }
    }

    @Override
    public String toString() {
        return "EmbeddedKafka[" + bootstrapServers() + ", " + dataDir + (isRunning() ? "" : ", stopped") + "]";
    }

    // ------------------------------------------------------------------------------------------

    private synchronized void firstStart(Map<String, String> overrides) {
        long t0 = System.nanoTime();
        boolean reuse = Files.exists(configFile) && Files.exists(logDir.resolve("meta.properties"));
        RuntimeException last = null;
        for (int attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
            try {
                if (reuse) {
                    brokerProps = loadConfig();
                    brokerPort = listenerPort(brokerProps, "PLAINTEXT");
                    controllerPort = listenerPort(brokerProps, "CONTROLLER");
                    brokerProps.putAll(overrides);
                } else {
                    brokerPort = Support.freePort();
                    controllerPort = Support.freePort();
                    while (controllerPort == brokerPort) {
                        controllerPort = Support.freePort();
                    }
                    brokerProps = brokerConfig(overrides);
                    writeConfig(brokerProps);
                    long tf = System.nanoTime();
                    format();
                    LOG.debug("embedded Kafka storage formatted in {}", Support.elapsed(tf));
                }
                startServer();
                LOG.info("embedded Kafka started on {} in {} (data {})", bootstrapServers(), Support.elapsed(t0), dataDir);
                return;
            } catch (RuntimeException e) {
                last = e;
                if (reuse || !isBindFailure(e)) {
                    break;
                }
                // lost the race for a free port: wipe the half-formatted storage and try other ports
                LOG.warn("embedded Kafka lost a port race ({}), retrying on other ports", Support.rootCause(e).toString());
                Support.deleteRecursively(logDir);
            }
        }
        throw failure("start", last);
    }

    private Properties brokerConfig(Map<String, String> overrides) {
        String controller = "127.0.0.1:" + controllerPort;
        Properties p = new Properties();
        p.put("process.roles", "broker,controller");
        p.put("node.id", "1");
        p.put("listeners", "PLAINTEXT://127.0.0.1:" + brokerPort + ",CONTROLLER://" + controller);
        p.put("advertised.listeners", "PLAINTEXT://127.0.0.1:" + brokerPort);
        p.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
        p.put("controller.listener.names", "CONTROLLER");
        p.put("inter.broker.listener.name", "PLAINTEXT");
        p.put("controller.quorum.bootstrap.servers", controller);
        p.put("log.dirs", logDir.toString());

        // single node: every internal topic with RF 1 / min ISR 1
        p.put("offsets.topic.replication.factor", "1");
        p.put("offsets.topic.num.partitions", "5");
        p.put("transaction.state.log.replication.factor", "1");
        p.put("transaction.state.log.min.isr", "1");
        p.put("transaction.state.log.num.partitions", "5");
        p.put("share.coordinator.state.topic.replication.factor", "1");
        p.put("share.coordinator.state.topic.min.isr", "1");
        p.put("share.coordinator.state.topic.num.partitions", "3");
        p.put("default.replication.factor", "1");
        p.put("min.insync.replicas", "1");

        p.put("group.initial.rebalance.delay.ms", "0");
        p.put("num.partitions", "1");
        p.put("auto.create.topics.enable", "true");
        p.put("delete.topic.enable", "true");

        // small footprint
        p.put("log.segment.bytes", String.valueOf(16 * 1024 * 1024));
        p.put("log.index.size.max.bytes", String.valueOf(1024 * 1024));
        p.put("log.cleaner.dedupe.buffer.size", String.valueOf(4 * 1024 * 1024));
        p.put("log.cleaner.threads", "1");
        p.put("num.network.threads", "2");
        p.put("num.io.threads", "4");
        p.put("num.recovery.threads.per.data.dir", "1");
        p.put("background.threads", "4");

        p.putAll(overrides);
        return p;
    }

    private void writeConfig(Properties p) {
        try (OutputStream out = Files.newOutputStream(configFile)) {
            p.store(out, "embedded Kafka broker written by dev.partwright.embedded.EmbeddedKafka");
        } catch (IOException e) {
            throw new ServerStartException("kafka", configFile.toString(),
                    "cannot start embedded Kafka: cannot write " + configFile + ": " + e, e);
        }
    }

    private Properties loadConfig() {
        Properties p = new Properties();
        try (InputStream in = Files.newInputStream(configFile)) {
            p.load(in);
        } catch (IOException e) {
            throw new ServerStartException("kafka", configFile.toString(),
                    "cannot start embedded Kafka: cannot read " + configFile + ": " + e, e);
        }
        return p;
    }

    /** {@code kafka-storage format --standalone}, through the tool's own entry point. */
    private void format() {
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        String[] args = {
            "format",
            "--config", configFile.toString(),
            "--cluster-id", Uuid.randomUuid().toString(),
            "--standalone",
        };
        int rc;
        try (PrintStream out = new PrintStream(captured, true, StandardCharsets.UTF_8)) {
            rc = StorageTool.execute(args, out);
        } catch (RuntimeException e) {
            throw new ServerStartException("kafka", logDir.toString(),
                    "cannot start embedded Kafka: formatting storage in " + logDir + " failed: " + e.getMessage()
                            + output(captured), e);
        }
        if (rc != 0) {
            throw new ServerStartException("kafka", logDir.toString(),
                    "cannot start embedded Kafka: kafka-storage format exited with " + rc + output(captured));
        }
    }

    private static String output(ByteArrayOutputStream captured) {
        String s = captured.toString(StandardCharsets.UTF_8).trim();
        return s.isEmpty() ? "" : " (output: " + s + ")";
    }

    private void startServer() {
        long t0 = System.nanoTime();
        KafkaRaftServer s = newServer(brokerProps);
        try {
            s.startup();
        } catch (RuntimeException | Error e) {
            shutdownQuietly(s);
            throw e;
        }
        LOG.debug("embedded Kafka startup() returned in {}", Support.elapsed(t0));
        server = s;
        try {
            long tr = System.nanoTime();
            awaitReady();
            LOG.debug("embedded Kafka answered describeCluster after {}", Support.elapsed(tr));
        } catch (RuntimeException e) {
            server = null;
            shutdownQuietly(s);
            throw e;
        }
    }

    /**
     * {@code new KafkaRaftServer(KafkaConfig.fromProps(props, false), Time.SYSTEM)}. Reflective only
     * because KafkaConfig's superclass lives in kafka-server, a runtime-scope dependency of kafka_2.13
     * that this module does not declare (no extra versions in the poms).
     */
    private static KafkaRaftServer newServer(Properties props) {
        try {
            Class<?> configClass = Class.forName("kafka.server.KafkaConfig");
            Object config = configClass.getMethod("fromProps", Properties.class, boolean.class).invoke(null, props, false);
            return (KafkaRaftServer) KafkaRaftServer.class.getConstructor(configClass, Time.class)
                    .newInstance(config, Time.SYSTEM);
        } catch (InvocationTargetException e) {
            Throwable cause = e.getCause();
            if (cause instanceof RuntimeException) {
                throw (RuntimeException) cause;
            }
            if (cause instanceof Error) {
                throw (Error) cause;
            }
            throw new IllegalStateException(cause);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("kafka_2.13 " + "on the classpath does not match Kafka 4.4: " + e, e);
        }
    }

    private static void shutdownQuietly(KafkaRaftServer s) {
        try {
            s.shutdown();
            s.awaitShutdown();
        } catch (RuntimeException | Error ignored) {
            // already failing; the original error is what matters
        }
    }

    /** Ready = an AdminClient's describeCluster answers with this node; polled until a deadline. */
    private void awaitReady() {
        Properties ac = new Properties();
        ac.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
        ac.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "5000");
        ac.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "5000");
        ac.put(AdminClientConfig.RETRY_BACKOFF_MS_CONFIG, "100");
        ac.put(AdminClientConfig.CLIENT_ID_CONFIG, "partwright-embedded-readiness");
        long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
        Exception last = null;
        try (Admin admin = Admin.create(ac)) {
            while (System.nanoTime() < deadline) {
                try {
                    Collection<Node> nodes = admin.describeCluster(new DescribeClusterOptions().timeoutMs(5000))
                            .nodes().get(6, TimeUnit.SECONDS);
                    if (!nodes.isEmpty()) {
                        return;
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new ServerStartException("kafka", bootstrapServers(),
                            "interrupted while waiting for embedded Kafka on " + bootstrapServers(), e);
                } catch (Exception e) {
                    last = e;
                }
                sleep(100);
            }
        }
        throw new ServerStartException("kafka", bootstrapServers(),
                "embedded Kafka on " + bootstrapServers() + " (data " + dataDir + ") did not answer describeCluster within "
                        + READY_TIMEOUT.toSeconds() + "s" + (last == null ? "" : ": " + Support.rootCause(last)), last);
    }

    private ServerStartException failure(String what, RuntimeException e) {
        if (e instanceof ServerStartException) {
            return (ServerStartException) e;
        }
        String reason = isBindFailure(e) ? busyPorts() : String.valueOf(Support.rootCause(e));
        return new ServerStartException("kafka", bootstrapServers(),
                "cannot " + what + " embedded Kafka on " + bootstrapServers() + " (controller port " + controllerPort
                        + ", data " + dataDir + "): " + reason, e);
    }

    private int listenerPort(Properties p, String listener) {
        Matcher m = Pattern.compile(listener + "://[^:,]*:(\\d+)").matcher(p.getProperty("listeners", ""));
        if (!m.find()) {
            throw new ServerStartException("kafka", configFile.toString(),
                    "cannot start embedded Kafka: " + configFile + " has no " + listener + " listener");
        }
        return Integer.parseInt(m.group(1));
    }

    private String busyPorts() {
        List<String> busy = new ArrayList<>();
        for (int port : new int[] {brokerPort, controllerPort}) {
            try (ServerSocket probe = new ServerSocket()) {
                probe.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
            } catch (IOException e) {
                busy.add(String.valueOf(port));
            }
        }
        return busy.isEmpty()
                ? "port " + brokerPort + " or " + controllerPort + " on 127.0.0.1 was in use"
                : "port " + String.join(" and ", busy) + " on 127.0.0.1 " + (busy.size() == 1 ? "is" : "are")
                        + " already in use by another process";
    }

    private static boolean isBindFailure(Throwable e) {
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof BindException
                    || (c.getMessage() != null && c.getMessage().contains("Address already in use"))) {
                return true;
            }
            if (c.getCause() == c) {
                break;
            }
        }
        return false;
    }


    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ServerStartException("kafka", "", "interrupted while starting embedded Kafka", e);
        }
    }

    /**
     * Kafka's fault handlers call {@code Exit.halt(1)}, which would kill the test JVM or the CLI with
     * no explanation. Replace it with an ERROR log line.
     */
    private static void guardJvmExit() {
        if (exitGuardInstalled || Boolean.getBoolean("partwright.kafka.allow-jvm-exit")) {
            return;
        }
        synchronized (EmbeddedKafka.class) {
            if (exitGuardInstalled) {
                return;
            }
            Exit.setHaltProcedure((status, message) -> LOG.error(
                    "embedded Kafka asked to halt the JVM (status {}): {} -- ignored, the embedded broker may be unusable",
                    status, message));
            Exit.setExitProcedure((status, message) -> LOG.error(
                    "embedded Kafka asked to exit the JVM (status {}): {} -- ignored, the embedded broker may be unusable",
                    status, message));
            exitGuardInstalled = true;
        }
    }
}
