package dev.partwright.embedded;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real streaming standby of an {@link EmbeddedPostgres} primary, for tests that need real
 * replication lag (a circuit breaker watching {@code pg_stat_replication.replay_lag}).
 *
 * <p>The zonky bundle has no {@code pg_basebackup}, so the base backup is taken the way the
 * PostgreSQL manual describes for a low-level backup: {@code pg_backup_start} on the primary, a
 * file copy of its data directory (without WAL, sockets, pid file and temporary state), then
 * {@code pg_backup_stop}, whose {@code labelfile} becomes {@code backup_label}. A physical
 * replication slot created first keeps the primary's WAL until the standby has streamed it. The
 * standby runs the primary's own {@code postgres} binary (found through the primary's postmaster
 * pid) with {@code standby.signal}, {@code primary_conninfo} and {@code recovery_min_apply_delay}:
 * it receives WAL at once and replays each commit only after the delay, which is exactly the lag
 * the primary reports. As root the binary runs through {@code unshare -U}, like the primary.
 *
 * <p>{@link #close()} stops the standby (fast shutdown), drops its slot on the primary and deletes
 * its files; a shutdown hook does the same if the JVM exits first.
 */
public final class EmbeddedStandby implements PostgresEndpoint {

  private static final Logger LOG = LoggerFactory.getLogger(EmbeddedStandby.class);

  /** Directories whose contents a base backup leaves out (the directories themselves must exist). */
  private static final Set<String> EMPTIED = Set.of("pg_wal", "pg_replslot", "pg_dynshmem", "pg_notify", "pg_serial",
      "pg_snapshots", "pg_stat_tmp", "pg_subtrans");
  /** Files of the running primary that must not be copied. */
  private static final Set<String> SKIPPED = Set.of("postmaster.pid", "postmaster.opts", "backup_label",
      "tablespace_map", "standby.signal", "recovery.signal");

  private final EmbeddedPostgres primary;
  private final Path baseDir;
  private final Path dataDir;
  private final int port;
  private final String slot;
  private final String applicationName;
  private final Process process;
  private final LazyPool pool;
  private final Thread shutdownHook;
  private boolean closed;

  private EmbeddedStandby(EmbeddedPostgres primary, Path baseDir, Path dataDir, int port, String slot,
      String applicationName, Process process) {
    this.primary = primary;
    this.baseDir = baseDir;
    this.dataDir = dataDir;
    this.port = port;
    this.slot = slot;
    this.applicationName = applicationName;
    this.process = process;
    this.pool = new LazyPool("partwright-embedded-standby-" + port, jdbcUrl(), EmbeddedPostgres.USER, "");
    this.shutdownHook = new Thread(this::close, "partwright-embedded-standby-" + port + "-shutdown");
    Runtime.getRuntime().addShutdownHook(shutdownHook);
  }

  /**
   * Takes a base backup of {@code primary} into {@code baseDir} and starts a hot standby streaming
   * from it that replays WAL {@code applyDelay} late. Returns once the standby accepts connections.
   */
  public static EmbeddedStandby start(EmbeddedPostgres primary, Path baseDir, Duration applyDelay) {
    return start(primary, baseDir, applyDelay, Map.of());
  }

  /**
   * Like {@link #start(EmbeddedPostgres, Path, Duration)}. {@code primarySettings} must repeat the
   * overrides the primary was started with: a hot standby refuses to run with smaller
   * {@code max_connections}, {@code max_locks_per_transaction} and the like than its primary.
   */
  public static EmbeddedStandby start(EmbeddedPostgres primary, Path baseDir, Duration applyDelay,
      Map<String, String> primarySettings) {
    Path base = baseDir.toAbsolutePath();
    Path data = base.resolve("data");
    Path log = base.resolve("standby.log");
    String id = UUID.randomUUID().toString().replace("-", "").substring(0, 12);
    String slot = "partwright_standby_" + id;
    String applicationName = "partwright_standby_" + id;
    int port = Support.freePort();
    Process process = null;
    try {
      Path postgres = postgresBinary(primary);
      Files.createDirectories(base);
      baseBackup(primary, data, slot);
      Files.writeString(data.resolve("standby.signal"), "");

      Map<String, String> settings = new LinkedHashMap<>(EmbeddedPostgres.DEFAULT_SETTINGS);
      settings.putAll(primarySettings);
      settings.put("port", Integer.toString(port));
      settings.put("listen_addresses", "127.0.0.1");
      settings.put("unix_socket_directories", "");
      settings.put("hot_standby", "on");
      settings.put("primary_conninfo", "host=127.0.0.1 port=" + primary.port() + " user=" + EmbeddedPostgres.USER
          + " application_name=" + applicationName);
      settings.put("primary_slot_name", slot);
      settings.put("recovery_min_apply_delay", applyDelay.toMillis() + "ms");
      // report replay progress every second, so the primary's replay_lag follows the standby closely
      settings.put("wal_receiver_status_interval", "1s");
      List<String> command = new ArrayList<>();
      if ("root".equals(System.getProperty("user.name"))) {
        command.add("unshare");
        command.add("-U"); // PostgreSQL refuses to run as root; same trick as zonky for the primary
      }
      command.add(postgres.toString());
      command.add("-D");
      command.add(data.toString());
      settings.forEach((k, v) -> {
        command.add("-c");
        command.add(k + "=" + v);
      });
      process = new ProcessBuilder(command).redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
      awaitReady(process, port, log);
      LOG.info("embedded standby of 127.0.0.1:{} started on 127.0.0.1:{} (apply delay {} ms, data {})", primary.port(),
          port, applyDelay.toMillis(), data);
      return new EmbeddedStandby(primary, base, data, port, slot, applicationName, process);
    } catch (IOException | SQLException | RuntimeException e) {
      if (process != null) {
        stop(process);
      }
      dropSlot(primary, slot);
      String tail = tail(log);
      Support.deleteRecursively(base);
      throw new ServerStartException("postgres-standby", "127.0.0.1:" + port,
          "cannot start an embedded standby of " + primary.jdbcUrl() + " on 127.0.0.1:" + port + ": " + e.getMessage()
              + (tail.isEmpty() ? "" : "\n--- last lines of standby.log ---\n" + tail), e);
    }
  }

  /** The primary's own binary: the standby must run the same major version, and this one certainly is. */
  private static Path postgresBinary(EmbeddedPostgres primary) throws IOException {
    Path pidFile = primary.dataDirectory().resolve("postmaster.pid");
    String pid = Files.readAllLines(pidFile).get(0).trim();
    Path exe = Files.readSymbolicLink(Path.of("/proc", pid, "exe"));
    if (!Files.isExecutable(exe)) {
      throw new IOException("the primary's postgres binary " + exe + " is not executable");
    }
    return exe;
  }

  private static void baseBackup(EmbeddedPostgres primary, Path target, String slot) throws SQLException, IOException {
    try (Connection c = DriverManager.getConnection(primary.jdbcUrl(), EmbeddedPostgres.USER, "");
         Statement s = c.createStatement()) {
      try (PreparedStatement ps = c.prepareStatement("SELECT pg_create_physical_replication_slot(?, true)")) {
        ps.setString(1, slot);
        ps.execute();
      }
      // fast: an immediate checkpoint instead of a spread one
      s.execute("SELECT pg_backup_start('partwright-standby', true)");
      copyDataDirectory(primary.dataDirectory(), target);
      try (ResultSet rs = s.executeQuery("SELECT labelfile, spcmapfile FROM pg_backup_stop(false)")) {
        rs.next();
        Files.writeString(target.resolve("backup_label"), rs.getString(1), StandardCharsets.UTF_8);
        String map = rs.getString(2);
        if (map != null && !map.isEmpty()) {
          Files.writeString(target.resolve("tablespace_map"), map, StandardCharsets.UTF_8);
        }
      }
    }
  }

  /** Copies a live data directory: files may vanish while we walk (the server keeps working), that is fine. */
  private static void copyDataDirectory(Path source, Path target) throws IOException {
    Files.createDirectories(target);
    Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("rwx------"));
    Files.walkFileTree(source, new SimpleFileVisitor<>() {
      @Override
      public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) throws IOException {
        Path to = target.resolve(source.relativize(dir).toString());
        Files.createDirectories(to);
        Files.setPosixFilePermissions(to, PosixFilePermissions.fromString("rwx------"));
        Path parent = dir.getParent();
        if (!dir.equals(source) && parent != null && parent.equals(source)
            && EMPTIED.contains(dir.getFileName().toString())) {
          if (dir.getFileName().toString().equals("pg_wal")) {
            Files.createDirectories(to.resolve("archive_status"));
          }
          return FileVisitResult.SKIP_SUBTREE;
        }
        return FileVisitResult.CONTINUE;
      }

      @Override
      public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
        if (file.getParent().equals(source) && SKIPPED.contains(file.getFileName().toString())) {
          return FileVisitResult.CONTINUE;
        }
        if (!attrs.isRegularFile()) {
          return FileVisitResult.CONTINUE; // sockets and the like
        }
        try {
          Files.copy(file, target.resolve(source.relativize(file).toString()), StandardCopyOption.REPLACE_EXISTING);
        } catch (NoSuchFileException e) {
          // removed by the server while we walked: WAL replay recreates what matters
        }
        return FileVisitResult.CONTINUE;
      }

      @Override
      public FileVisitResult visitFileFailed(Path file, IOException e) throws IOException {
        if (e instanceof NoSuchFileException) {
          return FileVisitResult.CONTINUE;
        }
        throw e;
      }
    });
  }

  private static void awaitReady(Process process, int port, Path log) throws SQLException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    SQLException last = null;
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new SQLException("the standby exited with code " + process.exitValue());
      }
      try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/"
          + EmbeddedPostgres.DATABASE, EmbeddedPostgres.USER, "");
           Statement s = c.createStatement();
           ResultSet rs = s.executeQuery("SELECT pg_is_in_recovery()")) {
        rs.next();
        if (rs.getBoolean(1)) {
          return;
        }
        throw new SQLException("the server on 127.0.0.1:" + port + " is not in recovery: not a standby");
      } catch (SQLException e) {
        last = e;
        // "the database system is starting up" until consistent: poll again shortly
        try {
          Thread.sleep(100);
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          throw new SQLException("interrupted while waiting for the standby", ie);
        }
      }
    }
    throw new SQLException("the standby did not accept connections within 60 s", last);
  }

  /**
   * Waits until the primary reports this standby as {@code streaming} in {@code pg_stat_replication}.
   *
   * @return false when it did not within {@code timeout}
   */
  public boolean awaitStreaming(Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      try (Connection c = primary.dataSource().getConnection();
           PreparedStatement ps = c.prepareStatement(
               "SELECT count(*) FROM pg_stat_replication WHERE application_name = ? AND state = 'streaming'")) {
        ps.setString(1, applicationName);
        try (ResultSet rs = ps.executeQuery()) {
          rs.next();
          if (rs.getInt(1) > 0) {
            return true;
          }
        }
      } catch (SQLException e) {
        // the primary is busy or restarting; ask again
      }
      Thread.sleep(100);
    }
    return false;
  }

  @Override
  public String jdbcUrl() {
    return "jdbc:postgresql://127.0.0.1:" + port + "/" + EmbeddedPostgres.DATABASE;
  }

  @Override
  public String user() {
    return EmbeddedPostgres.USER;
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

  public int port() {
    return port;
  }

  /** The name the standby reports to its primary ({@code pg_stat_replication.application_name}). */
  public String applicationName() {
    return applicationName;
  }

  public Path dataDirectory() {
    return dataDir;
  }

  public Path logFile() {
    return baseDir.resolve("standby.log");
  }

  /** Stops the standby (fast shutdown), drops its replication slot on the primary, deletes its files. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    Support.removeShutdownHook(shutdownHook);
    pool.close();
    stop(process);
    dropSlot(primary, slot);
    Support.deleteRecursively(baseDir);
  }

  /** SIGINT is PostgreSQL's fast shutdown (SIGTERM would wait for sessions); SIGKILL after 10 s. */
  private static void stop(Process process) {
    if (!process.isAlive()) {
      return;
    }
    try {
      new ProcessBuilder("kill", "-INT", Long.toString(process.pid())).redirectErrorStream(true).start().waitFor();
      if (!process.waitFor(10, TimeUnit.SECONDS)) {
        LOG.warn("embedded standby (pid {}) did not stop within 10 s, killing it", process.pid());
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    } catch (IOException e) {
      process.destroyForcibly();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      process.destroyForcibly();
    }
  }

  /** Drops the standby's slot; its walsender may take a moment to exit after the standby stopped. */
  private static void dropSlot(EmbeddedPostgres primary, String slot) {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (true) {
      try (Connection c = DriverManager.getConnection(primary.jdbcUrl(), EmbeddedPostgres.USER, "");
           PreparedStatement ps = c.prepareStatement(
               "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = ?")) {
        ps.setString(1, slot);
        ps.execute();
        return;
      } catch (SQLException e) {
        // 55006: still active; anything else (the primary is gone): the slot dies with the primary
        if (!"55006".equals(e.getSQLState()) || System.nanoTime() > deadline) {
          return;
        }
      }
      try {
        Thread.sleep(100);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
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

  @Override
  public String toString() {
    return "EmbeddedStandby[" + jdbcUrl() + " of " + primary.jdbcUrl() + ", " + dataDir + "]";
  }
}
