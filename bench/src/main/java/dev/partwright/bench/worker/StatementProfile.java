package dev.partwright.bench.worker;

import java.io.PrintWriter;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import javax.sql.DataSource;

/**
 * Where a DDL path spends its time, per statement kind: a {@link DataSource} whose connections time
 * every execute and commit (client-side wall time: round trip plus server work). Statements are
 * grouped by their leading keywords (several for a multi-statement string), queries by their first
 * catalog words, so the provisioner's path and the plain loop can be read side by side.
 */
final class StatementProfile {

  private record Totals(LongAdder count, LongAdder nanos) {
    Totals() {
      this(new LongAdder(), new LongAdder());
    }
  }

  private final Map<String, Totals> totals = new ConcurrentHashMap<>();
  /** When recording: every timed call, {@code [start, end)} in System.nanoTime. */
  private volatile List<Span> timeline;

  /** One timed call of a statement kind. */
  record Span(String kind, long start, long end) {}

  /** Starts recording a timeline of every timed call (replacing any earlier one). */
  void record() {
    timeline = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
  }

  /** The calls timed since {@link #record()}; recording stops. */
  List<Span> stopRecording() {
    List<Span> t = timeline;
    timeline = null;
    return t == null ? List.of() : List.copyOf(t);
  }
  private volatile String label = "";

  /** Prefixes the kinds of the statements that follow, e.g. with the variant that runs them. */
  void label(String label) {
    this.label = label;
  }

  DataSource wrap(DataSource ds) {
    return (DataSource) Proxy.newProxyInstance(DataSource.class.getClassLoader(), new Class<?>[] {DataSource.class},
        (proxy, m, args) -> {
          Object r = invoke(ds, m, args);
          return r instanceof Connection c && m.getName().equals("getConnection") ? connection(c) : r;
        });
  }

  void reset() {
    totals.clear();
  }

  /** One line per statement kind: count, total ms, ms per unit of work (e.g. per partition). */
  void print(PrintWriter out, String title, int units) {
    out.printf("  %s, per statement kind (client wall time; %d partitions):%n", title, units);
    long all = 0;
    for (Map.Entry<String, Totals> e : new TreeMap<>(totals).entrySet()) {
      long n = e.getValue().nanos().sum();
      all += n;
      out.printf("    %-72s %6d x  %8.1f ms  %6.2f ms/partition%n", e.getKey(), e.getValue().count().sum(), n / 1e6,
          n / 1e6 / units);
    }
    out.printf("    %-72s           %8.1f ms  %6.2f ms/partition%n", "total in statements", all / 1e6, all / 1e6 / units);
    out.flush();
  }

  /** Total time in statements per label. */
  void printByLabel(PrintWriter out, int units) {
    Map<String, Long> byLabel = new TreeMap<>();
    totals.forEach((k, t) -> byLabel.merge(k.substring(0, Math.max(0, k.indexOf('|'))), t.nanos().sum(), Long::sum));
    byLabel.forEach((l, n) -> out.printf("  %-40s total in statements %8.1f ms  %6.2f ms/partition%n", l, n / 1e6,
        n / 1e6 / units));
    out.flush();
  }

  private Connection connection(Connection c) {
    InvocationHandler h = (proxy, m, args) -> {
      if (m.getName().equals("commit")) {
        return timed("COMMIT", () -> invoke(c, m, args));
      }
      Object r = invoke(c, m, args);
      if (r instanceof PreparedStatement ps && m.getName().equals("prepareStatement")) {
        return statement(ps, PreparedStatement.class, (String) args[0]);
      }
      if (r instanceof Statement s && m.getName().equals("createStatement")) {
        return statement(s, Statement.class, null);
      }
      return r;
    };
    return (Connection) Proxy.newProxyInstance(Connection.class.getClassLoader(), new Class<?>[] {Connection.class}, h);
  }

  private <T extends Statement> T statement(T s, Class<T> type, String prepared) {
    InvocationHandler h = (proxy, m, args) -> {
      if (m.getName().startsWith("execute")) {
        String sql = prepared != null ? prepared : args != null && args.length > 0 ? (String) args[0] : "batch";
        return timed(kind(sql), () -> invoke(s, m, args));
      }
      return invoke(s, m, args);
    };
    return type.cast(Proxy.newProxyInstance(type.getClassLoader(), new Class<?>[] {type}, h));
  }

  /** Leading keywords of each statement of {@code sql}, e.g. {@code CREATE TABLE; COMMENT ON}. */
  static String kind(String sql) {
    StringBuilder k = new StringBuilder();
    for (String part : sql.split(";")) {
      String[] words = part.trim().replaceAll("\\s+", " ").split(" ");
      if (words.length == 0 || words[0].isEmpty()) {
        continue;
      }
      String label = words[0].toUpperCase();
      if (label.equals("SELECT") || label.equals("WITH")) {
        // queries: the first words say which catalog query it is
        label = String.join(" ", java.util.Arrays.copyOfRange(words, 0, Math.min(words.length, 6)));
      } else if (label.equals("ALTER") && words.length > 3) {
        label = "ALTER TABLE .. " + words[3].toUpperCase();
      } else if (words.length > 1 && !label.equals("ANALYZE")) {
        label = label + " " + words[1].toUpperCase();
      }
      k.append(k.length() > 0 ? "; " : "").append(label);
    }
    String s = k.toString();
    return s.length() > 72 ? s.substring(0, 72) : s;
  }

  @FunctionalInterface
  private interface Call {
    Object call() throws Throwable;
  }

  private Object timed(String kind, Call call) throws Throwable {
    long t0 = System.nanoTime();
    try {
      return call.call();
    } finally {
      long t1 = System.nanoTime();
      Totals t = totals.computeIfAbsent(label + kind, k -> new Totals());
      t.count().increment();
      t.nanos().add(t1 - t0);
      List<Span> spans = timeline;
      if (spans != null) {
        spans.add(new Span(kind, t0, t1));
      }
    }
  }

  private static Object invoke(Object target, java.lang.reflect.Method m, Object[] args) throws Throwable {
    try {
      return m.invoke(target, args);
    } catch (InvocationTargetException e) {
      throw e.getCause();
    }
  }
}
