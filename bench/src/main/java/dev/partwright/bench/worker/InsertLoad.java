package dev.partwright.bench.worker;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The insert load of {@link WorkerBenchmark}'s latency windows, in a JVM of its own: an application
 * inserting rows does not share a process (its heap, its garbage collector, its JIT threads) with
 * the provisioning worker, and measured inside the worker's JVM the inserts' p99 would be the
 * worker's collection pauses. Driven over stdin, one command a line: {@code table NAME} (prepare
 * inserts into it), {@code start}, {@code stop} (answers {@code latencies N ns1 ns2 ...}),
 * {@code once N} (N inserts at once, the loop stopped; answers {@code latencies N ns1 ...}),
 * {@code starts} (answers {@code starts N t1 t2 ...}, when the last window's inserts began),
 * {@code jit} (answers {@code jit MS}, this JVM's JIT compiler time so far), {@code quit}.
 */
public final class InsertLoad {

  private static final Instant DAY0 = Instant.parse("2030-01-01T00:00:00Z");

  private InsertLoad() {}

  public static void main(String[] args) throws Exception {
    PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    try (Connection c = DriverManager.getConnection(args[0], args[1], args[2]);
         BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
      try (Statement s = c.createStatement()) {
        s.execute("SET TimeZone = 'UTC'");
      }
      PreparedStatement insert = null;
      Thread loop = null;
      AtomicBoolean stop = new AtomicBoolean();
      List<Long> nanos = new ArrayList<>();
      List<Long> starts = new ArrayList<>();
      int[] i = {0};
      for (String line; (line = in.readLine()) != null; ) {
        if (line.startsWith("table ")) {
          if (insert != null) {
            insert.close();
          }
          // the table name is the benchmark's own, never user input
          insert = c.prepareStatement("INSERT INTO " + line.substring(6) + " (tenant_id, ts, v) VALUES (?, ?, ?)");
          out.println("ok");
        } else if (line.equals("start")) {
          PreparedStatement ps = insert;
          stop.set(false);
          nanos.clear();
          starts.clear();
          loop = new Thread(() -> {
            try {
              while (!stop.get()) {
                ps.setString(1, "t" + (i[0] % 16));
                ps.setTimestamp(2, Timestamp.from(DAY0.plusMillis(i[0] % 86_400_000L)));
                ps.setInt(3, i[0]++);
                long t0 = System.nanoTime();
                ps.executeUpdate();
                nanos.add(System.nanoTime() - t0);
                starts.add(t0);
              }
            } catch (Exception e) {
              nanos.add(-1L); // a failed insert: the benchmark reports it
              e.printStackTrace();
            }
          });
          loop.start();
          out.println("ok");
        } else if (line.equals("stop")) {
          stop.set(true);
          loop.join();
          StringBuilder b = new StringBuilder("latencies ").append(nanos.size());
          for (long n : nanos) {
            b.append(' ').append(n);
          }
          out.println(b);
        } else if (line.startsWith("once ")) {
          // N inserts now, one after the other (the loop is stopped): answers {@code latencies N ns1 ...}
          int n = Integer.parseInt(line.substring(5));
          StringBuilder b = new StringBuilder("latencies ").append(n);
          for (int k = 0; k < n; k++) {
            insert.setString(1, "t" + (i[0] % 16));
            insert.setTimestamp(2, Timestamp.from(DAY0.plusMillis(i[0] % 86_400_000L)));
            insert.setInt(3, i[0]++);
            long t0 = System.nanoTime();
            insert.executeUpdate();
            b.append(' ').append(System.nanoTime() - t0);
          }
          out.println(b);
        } else if (line.equals("starts")) {
          // when each insert of the last window began (System.nanoTime: one clock for all processes of a machine)
          StringBuilder b = new StringBuilder("starts ").append(starts.size());
          for (long n : starts) {
            b.append(' ').append(n);
          }
          out.println(b);
        } else if (line.equals("jit")) {
          // this JVM's JIT compiler time so far (ms): the benchmark warms up until it stops growing
          out.println("jit " + ManagementFactory.getCompilationMXBean().getTotalCompilationTime());
        } else if (line.equals("quit")) {
          break;
        }
      }
    }
  }
}
