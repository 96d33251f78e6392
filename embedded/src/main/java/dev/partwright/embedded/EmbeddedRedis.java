package dev.partwright.embedded;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real {@code redis-server}, run in the foreground as a child process on a free loopback port, with
 * persistence off. The binary is, in order: {@code -Dpartwright.redis.server} /
 * {@code PARTWRIGHT_REDIS_SERVER}; {@code redis-server} on the {@code PATH} (the Debian package
 * {@code redis-server}); the Linux binary inside the Maven artifact
 * {@code com.github.codemonstur:embedded-redis} when that jar is on the classpath (extracted to the
 * instance's directory). Stopped by {@link #close()} or, at the latest, by a shutdown hook.
 *
 * <p>Layout: {@code <baseDir>/redis.log} is the server log; the process is started with
 * {@code --dir <baseDir>} so nothing lands elsewhere.
 */
public final class EmbeddedRedis implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedRedis.class);

    public static final String BINARY_PROPERTY = "partwright.redis.server";
    public static final String BINARY_ENV = "PARTWRIGHT_REDIS_SERVER";

    /** Binaries shipped in com.github.codemonstur:embedded-redis, by {@code os.arch}. */
    private static final List<String[]> SHIPPED = List.of(
            new String[] {"amd64", "redis-server-6.2.6-v5-linux-amd64"},
            new String[] {"x86_64", "redis-server-6.2.6-v5-linux-amd64"},
            new String[] {"aarch64", "redis-server-6.2.7-linux-arm64"},
            new String[] {"arm64", "redis-server-6.2.7-linux-arm64"});

    private static final int START_ATTEMPTS = 3;
    private static final long START_TIMEOUT_MILLIS = 10_000;

    private final Process process;
    private final Path baseDir;
    private final int port;
    private final Thread shutdownHook;
    private boolean closed;

    private EmbeddedRedis(Process process, Path baseDir, int port) {
        this.process = process;
        this.baseDir = baseDir;
        this.port = port;
        this.shutdownHook = new Thread(this::close, "partwright-embedded-redis-" + port + "-shutdown");
        Runtime.getRuntime().addShutdownHook(shutdownHook);
    }

    /**
     * Starts a redis-server in a fresh temporary directory.
     *
     * @throws ServerStartException when no binary is found or the server does not answer PING in time
     */
    public static EmbeddedRedis start() {
        Path dir;
        try {
            dir = Files.createTempDirectory("partwright-redis-");
        } catch (IOException e) {
            throw new ServerStartException("redis", "", "cannot create a directory for redis-server: " + e.getMessage(), e);
        }
        Path binary = binary(dir);
        ServerStartException last = null;
        for (int attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
            int port = Support.freePort();
            try {
                return launch(binary, dir, port);
            } catch (ServerStartException e) {
                // most likely another process took the free port between probe and bind
                last = e;
                LOG.warn("redis-server on port {} did not start (attempt {}): {}", port, attempt, e.getMessage());
            }
        }
        Support.deleteRecursively(dir);
        throw last;
    }

    private static EmbeddedRedis launch(Path binary, Path dir, int port) {
        long started = System.nanoTime();
        ProcessBuilder pb = new ProcessBuilder(binary.toString(),
                "--port", Integer.toString(port),
                "--bind", "127.0.0.1",
                "--protected-mode", "no",
                "--daemonize", "no",
                "--save", "",
                "--appendonly", "no",
                "--dir", dir.toString())
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("redis.log").toFile()));
        Process process;
        try {
            process = pb.start();
        } catch (IOException e) {
            throw new ServerStartException("redis", binary.toString(), "cannot run " + binary + ": " + e.getMessage(), e);
        }
        long deadline = System.currentTimeMillis() + START_TIMEOUT_MILLIS;
        while (System.currentTimeMillis() < deadline) {
            if (!process.isAlive()) {
                throw new ServerStartException("redis", "127.0.0.1:" + port,
                        "redis-server exited with " + process.exitValue() + " (see " + dir.resolve("redis.log") + ")");
            }
            if (ping(port)) {
                LOG.info("redis-server started on 127.0.0.1:{} in {} ({})", port, Support.elapsed(started), binary);
                return new EmbeddedRedis(process, dir, port);
            }
            try {
                Thread.sleep(20); // a child process has no readiness callback: poll its port
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
                throw new ServerStartException("redis", "127.0.0.1:" + port, "interrupted while starting redis-server", e);
            }
        }
        process.destroyForcibly();
        throw new ServerStartException("redis", "127.0.0.1:" + port,
                "redis-server did not answer PING within " + START_TIMEOUT_MILLIS + " ms (see " + dir.resolve("redis.log") + ")");
    }

    /** PING over a raw socket: the embedded module has no Redis client, and needs none for this. */
    static boolean ping(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 200);
            s.setSoTimeout(500);
            OutputStream out = s.getOutputStream();
            out.write("PING\r\n".getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = s.getInputStream();
            byte[] buf = new byte[7];
            int n = in.readNBytes(buf, 0, 7);
            return n == 7 && new String(buf, StandardCharsets.US_ASCII).equals("+PONG\r\n");
        } catch (IOException e) {
            return false;
        }
    }

    private static Path binary(Path dir) {
        String configured = Support.setting(BINARY_PROPERTY, BINARY_ENV);
        if (configured != null) {
            Path p = Path.of(configured);
            if (!Files.isExecutable(p)) {
                throw new ServerStartException("redis", configured, configured + " (from " + BINARY_PROPERTY + " / " + BINARY_ENV + ") is not executable");
            }
            return p;
        }
        List<Path> candidates = new ArrayList<>();
        String path = System.getenv("PATH");
        if (path != null) {
            for (String d : path.split(java.io.File.pathSeparator)) {
                if (!d.isEmpty()) {
                    candidates.add(Path.of(d, "redis-server"));
                }
            }
        }
        candidates.add(Path.of("/usr/bin/redis-server"));
        candidates.add(Path.of("/usr/local/bin/redis-server"));
        for (Path p : candidates) {
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        Path shipped = shipped(dir);
        if (shipped != null) {
            return shipped;
        }
        throw new ServerStartException("redis", "redis-server",
                "no redis-server found: install the Debian package redis-server (apt-get install redis-server),"
                        + " set " + BINARY_ENV + ", or put com.github.codemonstur:embedded-redis on the classpath");
    }

    /** The Linux binary from the embedded-redis jar, extracted into {@code dir}, or null. */
    private static Path shipped(Path dir) {
        if (!System.getProperty("os.name", "").toLowerCase(Locale.ROOT).contains("linux")) {
            return null;
        }
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        for (String[] s : SHIPPED) {
            if (!s[0].equals(arch)) {
                continue;
            }
            try (InputStream in = EmbeddedRedis.class.getResourceAsStream("/" + s[1])) {
                if (in == null) {
                    return null;
                }
                Path target = dir.resolve("redis-server");
                Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
                if (!target.toFile().setExecutable(true, true)) {
                    return null;
                }
                return target;
            } catch (IOException e) {
                LOG.warn("cannot extract {} from the embedded-redis jar: {}", s[1], e.getMessage());
                return null;
            }
        }
        return null;
    }

    public String host() {
        return "127.0.0.1";
    }

    public int port() {
        return port;
    }

    /** {@code redis://127.0.0.1:<port>}. */
    public String uri() {
        return "redis://127.0.0.1:" + port;
    }

    /** Stops the server (SIGTERM, then SIGKILL after 5 s) and deletes its directory. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        Support.removeShutdownHook(shutdownHook);
        process.destroy();
        try {
            if (!process.waitFor(5, java.util.concurrent.TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(5, java.util.concurrent.TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
        Support.deleteRecursively(baseDir);
    }

    @Override
    public String toString() {
        return "embedded redis-server on 127.0.0.1:" + port;
    }
}
