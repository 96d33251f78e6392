package dev.partwright.cli;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.function.Supplier;

/**
 * The Prometheus scrape endpoint of a {@code partwright run} process, on the JDK's own HTTP server
 * (no web framework for two paths): {@code /metrics} in the Prometheus text format, {@code /healthz}
 * 200 while the component works, 503 once it has stopped (the Deployments' liveness probe).
 */
final class MetricsEndpoint implements AutoCloseable {

  /** What {@code /healthz} reports: healthy or not, and a line saying why. */
  record Health(boolean healthy, String detail) {}

  private final HttpServer server;

  private MetricsEndpoint(HttpServer server) {
    this.server = server;
  }

  /** Serves on {@code port} of every interface (0 picks a free one, for tests). */
  static MetricsEndpoint start(int port, PrometheusMeterRegistry meters, Supplier<Health> health) {
    HttpServer server;
    try {
      server = HttpServer.create(new InetSocketAddress(port), 0);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot serve metrics on port " + port + ": " + e.getMessage(), e);
    }
    server.createContext("/metrics", exchange -> respond(exchange, 200, meters.scrape()));
    server.createContext("/healthz", exchange -> {
      Health h = health.get();
      respond(exchange, h.healthy() ? 200 : 503, h.detail() + "\n");
    });
    server.start();
    return new MetricsEndpoint(server);
  }

  int port() {
    return server.getAddress().getPort();
  }

  private static void respond(HttpExchange exchange, int status, String body) throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    exchange.getResponseHeaders().add("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    exchange.sendResponseHeaders(status, bytes.length);
    try (OutputStream out = exchange.getResponseBody()) {
      out.write(bytes);
    }
  }

  @Override
  public void close() {
    server.stop(0);
  }
}
