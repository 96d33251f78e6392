package dev.partwright.embedded;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;

/**
 * Starts an embedded Kafka and an embedded PostgreSQL, prints where they are, and runs until killed
 * (SIGTERM/SIGINT stop both and delete their files).
 *
 * <pre>
 *   java -cp ... dev.partwright.embedded.EmbeddedStackMain [--env-file PATH]
 * </pre>
 *
 * Standard output gets shell-style lines, once both servers are ready:
 * <pre>
 *   PARTWRIGHT_KAFKA_BOOTSTRAP=127.0.0.1:40123
 *   PARTWRIGHT_DB_URL=jdbc:postgresql://127.0.0.1:41234/postgres
 *   PARTWRIGHT_DB_USER=postgres
 *   PARTWRIGHT_DB_PASSWORD=
 * </pre>
 * {@code --env-file PATH} also writes them to PATH (atomically, so a script can wait for the file).
 * Exit status 2 with a one-line reason on stderr if a server cannot start.
 */
public final class EmbeddedStackMain {

    private EmbeddedStackMain() {
    }

    public static void main(String[] args) throws InterruptedException {
        Path envFile = null;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--env-file") && i + 1 < args.length) {
                envFile = Path.of(args[++i]);
            } else if (args[i].equals("-h") || args[i].equals("--help")) {
                System.out.println("usage: EmbeddedStackMain [--env-file PATH]");
                return;
            } else {
                System.err.println("unknown argument: " + args[i] + "\nusage: EmbeddedStackMain [--env-file PATH]");
                System.exit(64);
            }
        }

        long t0 = System.nanoTime();
        CompletableFuture<EmbeddedKafka> kafkaStart = CompletableFuture.supplyAsync(EmbeddedKafka::start);
        CompletableFuture<EmbeddedPostgres> pgStart = CompletableFuture.supplyAsync(EmbeddedPostgres::start);
        CompletableFuture<EmbeddedSchemaRegistry> registryStart = CompletableFuture.supplyAsync(EmbeddedSchemaRegistry::start);
        EmbeddedKafka kafka;
        EmbeddedPostgres pg;
        EmbeddedSchemaRegistry registry;
        try {
            kafka = kafkaStart.join();
        } catch (CompletionException e) {
            pgStart.thenAccept(EmbeddedPostgres::close);
            registryStart.thenAccept(EmbeddedSchemaRegistry::close);
            fail(e.getCause());
            return;
        }
        try {
            pg = pgStart.join();
        } catch (CompletionException e) {
            kafka.close();
            registryStart.thenAccept(EmbeddedSchemaRegistry::close);
            fail(e.getCause());
            return;
        }
        try {
            registry = registryStart.join();
        } catch (CompletionException e) {
            kafka.close();
            pg.close();
            fail(e.getCause());
            return;
        }

        CountDownLatch stopped = new CountDownLatch(1);
        Path envFileToDelete = envFile;
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.err.println("stopping embedded stack");
            registry.close();
            pg.close();
            kafka.close();
            if (envFileToDelete != null) {
                try {
                    Files.deleteIfExists(envFileToDelete);
                } catch (IOException ignored) {
                    // best effort
                }
            }
            stopped.countDown();
        }, "partwright-stack-shutdown"));

        String env = "PARTWRIGHT_KAFKA_BOOTSTRAP=" + kafka.bootstrapServers() + "\n"
                + "PARTWRIGHT_DB_URL=" + pg.jdbcUrl() + "\n"
                + "PARTWRIGHT_DB_USER=" + pg.user() + "\n"
                + "PARTWRIGHT_DB_PASSWORD=" + pg.password() + "\n"
                + "PARTWRIGHT_SCHEMA_REGISTRY_URL=" + registry.url() + "\n";
        if (envFile != null) {
            try {
                Path parent = envFile.toAbsolutePath().getParent();
                Files.createDirectories(parent);
                Path tmp = Files.createTempFile(parent, ".partwright-env", ".tmp");
                Files.writeString(tmp, env, StandardCharsets.UTF_8);
                Files.move(tmp, envFile, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                System.err.println("cannot write " + envFile + ": " + e.getMessage());
                System.exit(1);
            }
        }
        System.out.print(env);
        System.out.flush();
        System.err.printf("embedded stack ready in %s: Kafka %s (data %s), PostgreSQL %s (data %s), schema registry %s;"
                + " Ctrl-C to stop%n", Support.elapsed(t0), kafka.bootstrapServers(), kafka.dataDirectory(), pg.jdbcUrl(),
                pg.dataDirectory(), registry.url());
        stopped.await();
    }

    private static void fail(Throwable t) {
        System.err.println(t instanceof ServerStartException ? t.getMessage() : "cannot start embedded stack: " + t);
        System.exit(2);
    }
}
