package dev.partwright.embedded;

import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterOptions;

/**
 * An existing Kafka cluster, reached through its bootstrap servers. Connectivity is checked on
 * creation: first a TCP connect to each bootstrap address (so "connection refused" is reported as
 * such), then an AdminClient {@code describeCluster}.
 */
public final class ExternalKafka implements KafkaEndpoint {

    public static final String BOOTSTRAP_ENV = "PARTWRIGHT_KAFKA_BOOTSTRAP";
    public static final String BOOTSTRAP_PROPERTY = "partwright.kafka.bootstrap";

    private static final int CONNECT_TIMEOUT_MS = 3000;
    private static final int DESCRIBE_TIMEOUT_MS = 15000;

    private final String bootstrapServers;

    private ExternalKafka(String bootstrapServers) {
        this.bootstrapServers = bootstrapServers;
    }

    /**
     * Uses {@code PARTWRIGHT_KAFKA_BOOTSTRAP} (or {@code -Dpartwright.kafka.bootstrap}).
     *
     * @throws ServerStartException if it is unset or the cluster cannot be reached
     */
    public static ExternalKafka fromEnvironment() {
        String bootstrap = Support.setting(BOOTSTRAP_PROPERTY, BOOTSTRAP_ENV);
        if (bootstrap == null) {
            throw new ServerStartException("kafka", "",
                    "no external Kafka configured: set " + BOOTSTRAP_ENV + " (or -D" + BOOTSTRAP_PROPERTY + ")");
        }
        return connect(bootstrap);
    }

    /**
     * @param bootstrapServers {@code host:port[,host:port...]}; a {@code PLAINTEXT://} prefix is tolerated
     * @throws ServerStartException e.g. {@code cannot connect to Kafka at 127.0.0.1:1: connection refused}
     */
    public static ExternalKafka connect(String bootstrapServers) {
        String bootstrap = normalize(bootstrapServers);
        checkTcp(bootstrap);
        checkDescribeCluster(bootstrap);
        return new ExternalKafka(bootstrap);
    }

    @Override
    public String bootstrapServers() {
        return bootstrapServers;
    }

    @Override
    public boolean embedded() {
        return false;
    }

    /** Nothing to release: the cluster is not ours to stop. */
    @Override
    public void close() {
    }

    @Override
    public String toString() {
        return "ExternalKafka[" + bootstrapServers + "]";
    }

    // ------------------------------------------------------------------------------------------

    static String normalize(String bootstrapServers) {
        if (bootstrapServers == null || bootstrapServers.isBlank()) {
            throw new ServerStartException("kafka", "", "Kafka bootstrap servers are empty (" + BOOTSTRAP_ENV + ")");
        }
        List<String> out = new ArrayList<>();
        for (String part : bootstrapServers.split(",")) {
            String s = part.trim();
            int scheme = s.indexOf("://");
            if (scheme >= 0) {
                s = s.substring(scheme + 3);
            }
            if (s.isEmpty()) {
                continue;
            }
            int colon = s.lastIndexOf(':');
            if (colon <= 0 || colon == s.length() - 1 || !s.substring(colon + 1).chars().allMatch(Character::isDigit)) {
                throw new ServerStartException("kafka", bootstrapServers,
                        "cannot connect to Kafka: bad bootstrap address '" + part.trim() + "' in '" + bootstrapServers
                                + "' (expected host:port[,host:port...])");
            }
            out.add(s);
        }
        if (out.isEmpty()) {
            throw new ServerStartException("kafka", bootstrapServers, "Kafka bootstrap servers are empty (" + BOOTSTRAP_ENV + ")");
        }
        return String.join(",", out);
    }

    private static void checkTcp(String bootstrap) {
        List<String> failures = new ArrayList<>();
        for (String address : bootstrap.split(",")) {
            int colon = address.lastIndexOf(':');
            String host = address.substring(0, colon).replace("[", "").replace("]", "");
            int port = Integer.parseInt(address.substring(colon + 1));
            try (java.net.Socket socket = new java.net.Socket()) {
                socket.connect(new java.net.InetSocketAddress(host, port), CONNECT_TIMEOUT_MS);
                return; // one reachable bootstrap server is enough
            } catch (java.io.IOException e) {
                failures.add(address + ": " + Support.networkReason(e));
            }
        }
        String reason = failures.size() == 1
                ? failures.get(0).substring(failures.get(0).indexOf(": ") + 2)
                : String.join("; ", failures);
        throw new ServerStartException("kafka", bootstrap, "cannot connect to Kafka at " + bootstrap + ": " + reason);
    }

    private static void checkDescribeCluster(String bootstrap) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, String.valueOf(DESCRIBE_TIMEOUT_MS));
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, String.valueOf(DESCRIBE_TIMEOUT_MS));
        p.put(AdminClientConfig.CLIENT_ID_CONFIG, "partwright-connectivity-check");
        try (Admin admin = Admin.create(p)) {
            admin.describeCluster(new DescribeClusterOptions().timeoutMs(DESCRIBE_TIMEOUT_MS))
                    .nodes().get(DESCRIBE_TIMEOUT_MS + 1000L, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ServerStartException("kafka", bootstrap, "interrupted while connecting to Kafka at " + bootstrap, e);
        } catch (Exception e) {
            throw new ServerStartException("kafka", bootstrap,
                    "cannot connect to Kafka at " + bootstrap + ": the address accepts TCP connections but the cluster did not"
                            + " answer describeCluster within " + DESCRIBE_TIMEOUT_MS / 1000 + "s ("
                            + Support.rootCause(e) + "); is it a Kafka PLAINTEXT listener, and are advertised.listeners reachable"
                            + " from here?", e);
        }
    }
}
