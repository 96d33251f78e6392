package dev.partwright.embedded;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Apicurio Registry {@value #APICURIO_VERSION} as a child process, serving the Confluent Schema
 * Registry API at {@code http://127.0.0.1:<port>/apis/ccompat/v7} ({@link #url()}).
 *
 * <p>The distribution comes from the local Maven repository ({@link EmbeddedSchemaRegistryDistribution}),
 * unpacked once per machine. Storage is Apicurio's default, an in-memory H2 database: every start
 * is an empty registry. Compatibility is BACKWARD for every subject unless set otherwise, which is
 * Confluent Schema Registry's default (Apicurio's own default is NONE), so the demo and the tests
 * refuse the same schema changes production would.
 *
 * <p>The child JVM is tuned for start-up (C1 only, serial GC, 512 MB heap; about 4 s instead of 8
 * on two cores): the registry serves a handful of small requests, peak throughput does not matter.
 *
 * <p>Lifecycle: {@link #close()} (or a shutdown hook, or the JVM's death) stops it. Where
 * util-linux' {@code setpriv} exists the child is started with a parent-death signal, so even a
 * SIGKILLed JVM leaves no registry behind; otherwise the work directory's {@link InstanceLock}
 * lets the next start reap an orphan. Files: {@code <workDir>/registry.log} and {@code registry.pid}.
 */
public final class EmbeddedSchemaRegistry implements SchemaRegistryEndpoint {

  static final Logger LOG = LoggerFactory.getLogger(EmbeddedSchemaRegistry.class);

  /** The Apicurio Registry release started; must equal {@code apicurio-registry.version} in the root pom. */
  public static final String APICURIO_VERSION = "3.0.9";

  /** Path of Apicurio's Confluent-compatible API. */
  public static final String CONFLUENT_API_PATH = "/apis/ccompat/v7";

  private static final Duration READY_TIMEOUT =
      Duration.ofSeconds(Long.getLong("partwright.schema-registry.start.timeout.seconds", 90));
  private static final Duration STOP_TIMEOUT = Duration.ofSeconds(15);
  private static final Duration POLL_INTERVAL = Duration.ofMillis(50);
  private static final int START_ATTEMPTS = 3;
  private static final String TEMP_PREFIX = "partwright-registry-";
  private static final String LOG_FILE = "registry.log";
  private static final String PID_FILE = "registry.pid";
  private static final Path SETPRIV = Path.of("/usr/bin/setpriv");
  private static volatile boolean staleReaped;

  private final Path workDir;
  private final boolean ownsWorkDir;
  private final InstanceLock lock;
  private final int port;
  private final String url;
  private final Process process;
  private final Thread shutdownHook;
  private boolean closed;

  private EmbeddedSchemaRegistry(Path workDir, boolean ownsWorkDir, InstanceLock lock, int port, Process process) {
    this.workDir = workDir;
    this.ownsWorkDir = ownsWorkDir;
    this.lock = lock;
    this.port = port;
    this.url = "http://127.0.0.1:" + port + CONFLUENT_API_PATH;
    this.process = process;
    this.shutdownHook = new Thread(this::close, "partwright-embedded-registry-" + port + "-shutdown");
    Runtime.getRuntime().addShutdownHook(shutdownHook);
  }

  /**
   * Starts a registry in a fresh temporary directory ({@code $TMPDIR/partwright-registry-*}); such
   * directories of JVMs that died without cleaning up are removed first, stopping their registry.
   *
   * @throws ServerStartException if it cannot be started within the timeout
   *     ({@code -Dpartwright.schema-registry.start.timeout.seconds}, default 90)
   */
  public static EmbeddedSchemaRegistry start() {
    if (!staleReaped) {
      staleReaped = true;
      InstanceLock.reapStale(TEMP_PREFIX, EmbeddedSchemaRegistry::stopOrphan);
    }
    Path dir;
    InstanceLock lock;
    try {
      dir = Files.createTempDirectory(TEMP_PREFIX);
      lock = InstanceLock.acquire(dir);
    } catch (IOException e) {
      throw new ServerStartException("schema-registry", System.getProperty("java.io.tmpdir"),
          "cannot start the embedded schema registry: cannot create a temporary directory in "
              + System.getProperty("java.io.tmpdir") + ": " + e.getMessage(), e);
    }
    return start(dir, lock);
  }

  /** Starts a registry keeping its log and pid file under {@code workDir} (created if missing). */
  public static EmbeddedSchemaRegistry start(Path workDir) {
    return start(workDir, null);
  }

  private static EmbeddedSchemaRegistry start(Path workDir, InstanceLock lock) {
    long t0 = System.nanoTime();
    Path dir = workDir.toAbsolutePath();
    boolean owns;
    try {
      owns = lock != null || !Files.exists(dir) || Support.isEmptyDir(dir);
      Files.createDirectories(dir);
    } catch (IOException e) {
      throw new ServerStartException("schema-registry", dir.toString(),
          "cannot start the embedded schema registry: cannot create directory " + dir + ": " + e, e);
    }
    try {
      Path jar = EmbeddedSchemaRegistryDistribution.runnerJar(APICURIO_VERSION);
      Path log = dir.resolve(LOG_FILE);
      for (int attempt = 1; ; attempt++) {
        int port = Support.freePort();
        Process process = launch(command(jar, port), dir, log, port);
        try {
          Files.writeString(dir.resolve(PID_FILE), process.pid() + "\n", StandardCharsets.UTF_8);
          awaitReady(process, port, log);
          EmbeddedSchemaRegistry registry = new EmbeddedSchemaRegistry(dir, owns, lock, port, process);
          LOG.info("embedded schema registry (Apicurio {}) started on {} in {} (pid {}, log {})",
              APICURIO_VERSION, registry.url(), Support.elapsed(t0), process.pid(), log);
          return registry;
        } catch (IOException | RuntimeException e) {
          stop(process);
          String tail = tail(log);
          boolean portTaken = tail.contains("Port already bound") || tail.contains("Address already in use");
          if (portTaken && attempt < START_ATTEMPTS) {
            LOG.warn("embedded schema registry lost a port race on {}, retrying on another port", port);
            continue;
          }
          String reason = portTaken ? "port " + port + " on 127.0.0.1 is already in use" : Support.rootCause(e).toString();
          throw new ServerStartException("schema-registry", "127.0.0.1:" + port,
              "cannot start the embedded schema registry (Apicurio " + APICURIO_VERSION + ") on 127.0.0.1:" + port
                  + ": " + reason + (tail.isEmpty() ? "" : "\n--- last lines of " + log + " ---\n" + tail), e);
        }
      }
    } catch (RuntimeException e) {
      if (lock != null) {
        lock.close();
      }
      if (owns) {
        Support.deleteRecursively(dir);
      }
      throw e;
    }
  }

  @Override
  public String url() {
    return url;
  }

  @Override
  public boolean embedded() {
    return true;
  }

  /** The HTTP port on 127.0.0.1. */
  public int port() {
    return port;
  }

  /** The registry process. */
  public ProcessHandle process() {
    return process.toHandle();
  }

  /** The registry's stdout and stderr. */
  public Path logFile() {
    return workDir.resolve(LOG_FILE);
  }

  public Path workDirectory() {
    return workDir;
  }

  public boolean isRunning() {
    return process.isAlive();
  }

  /** Stops the registry (SIGTERM, SIGKILL after 15 s), waits for it and deletes its files. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    Support.removeShutdownHook(shutdownHook);
    long t0 = System.nanoTime();
    stop(process);
    LOG.info("embedded schema registry on {} stopped in {}", url, Support.elapsed(t0));
    if (lock != null) {
      lock.close();
    }
    if (ownsWorkDir) {
      Support.deleteRecursively(workDir);
    } else {
      Support.deleteRecursively(logFile());
      Support.deleteRecursively(workDir.resolve(PID_FILE));
    }
  }

  @Override
  public String toString() {
    return "EmbeddedSchemaRegistry[" + url + ", pid " + process.pid() + (isRunning() ? "" : ", stopped") + "]";
  }

  // ------------------------------------------------------------------------------------------

  private static List<String> command(Path jar, int port) {
    List<String> cmd = new ArrayList<>();
    if (Files.isExecutable(SETPRIV)) {
      cmd.addAll(List.of(SETPRIV.toString(), "--pdeathsig", "TERM", "--"));
    }
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.addAll(List.of(
        "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
        "-Dquarkus.http.host=127.0.0.1",
        "-Dquarkus.http.port=" + port,
        "-Dquarkus.management.enabled=false",
        "-Dquarkus.http.access-log.enabled=false",
        "-Dapicurio.rules.global.compatibility=BACKWARD",
        "-jar", jar.toString()));
    return cmd;
  }

  /**
   * Starts the process from a thread that lives exactly as long as the child: the kernel sends the
   * parent-death signal when the <em>thread</em> that forked the child ends, so forking from a
   * short-lived caller (a test's thread, a pool thread) would kill the registry with it.
   */
  private static Process launch(List<String> command, Path dir, Path log, int port) {
    ProcessBuilder builder = new ProcessBuilder(command)
        .directory(dir.toFile())
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    CompletableFuture<Process> started = new CompletableFuture<>();
    Thread parent = new Thread(() -> {
      Process p;
      try {
        p = builder.start();
      } catch (IOException | RuntimeException e) {
        started.completeExceptionally(e);
        return;
      }
      started.complete(p);
      while (p.isAlive()) {
        try {
          p.waitFor();
        } catch (InterruptedException e) {
          // keep parenting the child until it is gone
        }
      }
    }, "partwright-embedded-registry-" + port);
    parent.setDaemon(true);
    parent.start();
    try {
      return started.join();
    } catch (CompletionException e) {
      throw new ServerStartException("schema-registry", String.join(" ", command),
          "cannot start the embedded schema registry: cannot run " + command.get(0) + ": " + e.getCause(), e.getCause());
    }
  }

  /** Waits until the Confluent API answers {@code GET /subjects}, the process dies, or the timeout passes. */
  private static void awaitReady(Process process, int port, Path log) throws IOException {
    URI subjects = URI.create("http://127.0.0.1:" + port + CONFLUENT_API_PATH + "/subjects");
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();
    HttpRequest request = HttpRequest.newBuilder(subjects).timeout(Duration.ofSeconds(2)).GET().build();
    long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
    while (true) {
      if (!process.isAlive()) {
        throw new IOException("the registry process exited with status " + process.exitValue() + " before it was ready");
      }
      try {
        HttpResponse<Void> response = http.send(request, HttpResponse.BodyHandlers.discarding());
        if (response.statusCode() == 200) {
          return;
        }
      } catch (IOException e) {
        // not listening yet
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted while waiting for the registry", e);
      }
      if (System.nanoTime() > deadline) {
        throw new IOException("the registry did not answer GET " + subjects + " within " + READY_TIMEOUT.toSeconds()
            + "s (-Dpartwright.schema-registry.start.timeout.seconds)");
      }
      try {
        process.waitFor(POLL_INTERVAL.toMillis(), TimeUnit.MILLISECONDS); // returns at once if it dies
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted while waiting for the registry", e);
      }
    }
  }

  /** SIGTERM to the process tree, SIGKILL after the timeout; returns once the process is reaped. */
  private static void stop(Process process) {
    List<ProcessHandle> children = process.descendants().toList();
    process.destroy();
    children.forEach(ProcessHandle::destroy);
    try {
      if (!process.waitFor(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
        LOG.warn("embedded schema registry (pid {}) did not stop within {}s, killing it", process.pid(),
            STOP_TIMEOUT.toSeconds());
        process.destroyForcibly();
        children.forEach(ProcessHandle::destroyForcibly);
        process.waitFor(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
      }
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
    }
  }

  /** Stops the registry of a dead JVM, found by the pid file in its work directory. */
  private static void stopOrphan(Path dir) {
    try {
      Path pidFile = dir.resolve(PID_FILE);
      if (!Files.exists(pidFile)) {
        return;
      }
      long pid = Long.parseLong(Files.readString(pidFile, StandardCharsets.UTF_8).trim());
      ProcessHandle.of(pid)
          .filter(ph -> ph.info().commandLine().map(c -> c.contains(EmbeddedSchemaRegistryDistribution.ARTIFACT_ID))
              .orElse(false)) // the pid may have been reused by an unrelated process
          .ifPresent(ph -> {
            LOG.warn("stopping orphaned embedded schema registry (pid {}) left by a JVM that died", pid);
            ph.destroy();
            try {
              ph.onExit().get(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            } catch (Exception e) {
              ph.destroyForcibly();
            }
          });
    } catch (IOException | RuntimeException e) {
      // best effort
    }
  }

  private static String tail(Path file) {
    try {
      if (!Files.exists(file)) {
        return "";
      }
      List<String> lines = new String(Files.readAllBytes(file), StandardCharsets.UTF_8).lines().toList();
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size())).trim();
    } catch (IOException | RuntimeException e) {
      return "";
    }
  }
}
