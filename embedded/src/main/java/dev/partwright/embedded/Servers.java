package dev.partwright.embedded;

import javax.sql.DataSource;

/**
 * The JVM-wide shared servers: started lazily on first use, once per JVM (not per test class), and
 * stopped by a shutdown hook.
 *
 * <ul>
 *   <li>{@link #kafka()}: {@link ExternalKafka} if {@code PARTWRIGHT_KAFKA_BOOTSTRAP} (or
 *       {@code -Dpartwright.kafka.bootstrap}) is set, else a shared {@link EmbeddedKafka}.</li>
 *   <li>{@link #postgres()}: {@link ExternalPostgres} if {@code PARTWRIGHT_DB_URL} (or
 *       {@code -Dpartwright.db.url}) is set, else a shared {@link EmbeddedPostgres}.</li>
 * </ul>
 * System properties win over environment variables.
 *
 * <p>The returned endpoints are shared: their {@code close()} does nothing. A test that needs to
 * stop/restart a broker should start its own {@link EmbeddedKafka}. A failed start is remembered
 * and rethrown on later calls, so one broken server does not cost every test class a timeout.
 */
public final class Servers {

    private static final Object KAFKA_LOCK = new Object();
    private static final Object POSTGRES_LOCK = new Object();
    private static final Object REGISTRY_LOCK = new Object();

    private static KafkaEndpoint kafka;
    private static RuntimeException kafkaFailure;
    private static PostgresEndpoint postgres;
    private static RuntimeException postgresFailure;
    private static SchemaRegistryEndpoint schemaRegistry;
    private static RuntimeException schemaRegistryFailure;
    private static boolean hookInstalled;

    private Servers() {
    }

    /** The shared Kafka (started on first call). @throws ServerStartException if it cannot be started/reached */
    public static KafkaEndpoint kafka() {
        synchronized (KAFKA_LOCK) {
            if (kafka == null) {
                if (kafkaFailure != null) {
                    throw rethrow(kafkaFailure);
                }
                try {
                    installHook();
                    String bootstrap = Support.setting(ExternalKafka.BOOTSTRAP_PROPERTY, ExternalKafka.BOOTSTRAP_ENV);
                    kafka = new SharedKafka(bootstrap != null ? ExternalKafka.connect(bootstrap) : EmbeddedKafka.start());
                } catch (RuntimeException e) {
                    kafkaFailure = e;
                    throw e;
                }
            }
            return kafka;
        }
    }

    /** The shared PostgreSQL (started on first call). @throws ServerStartException if it cannot be started/reached */
    public static PostgresEndpoint postgres() {
        synchronized (POSTGRES_LOCK) {
            if (postgres == null) {
                if (postgresFailure != null) {
                    throw rethrow(postgresFailure);
                }
                try {
                    installHook();
                    String url = Support.setting(ExternalPostgres.URL_PROPERTY, ExternalPostgres.URL_ENV);
                    postgres = new SharedPostgres(url != null ? ExternalPostgres.connect(url) : EmbeddedPostgres.start());
                } catch (RuntimeException e) {
                    postgresFailure = e;
                    throw e;
                }
            }
            return postgres;
        }
    }

    /**
     * The shared schema registry (started on first call): {@link ExternalSchemaRegistry} if
     * {@code PARTWRIGHT_SCHEMA_REGISTRY_URL} (or {@code -Dpartwright.schema-registry.url}) is set, else a
     * shared {@link EmbeddedSchemaRegistry}.
     */
    public static SchemaRegistryEndpoint schemaRegistry() {
        synchronized (REGISTRY_LOCK) {
            if (schemaRegistry == null) {
                if (schemaRegistryFailure != null) {
                    throw rethrow(schemaRegistryFailure);
                }
                try {
                    installHook();
                    String url = Support.setting(ExternalSchemaRegistry.URL_PROPERTY, ExternalSchemaRegistry.URL_ENV);
                    schemaRegistry = new SharedSchemaRegistry(
                            url != null ? ExternalSchemaRegistry.connect(url) : EmbeddedSchemaRegistry.start());
                } catch (RuntimeException e) {
                    schemaRegistryFailure = e;
                    throw e;
                }
            }
            return schemaRegistry;
        }
    }

    /**
     * Stops the shared servers now (the shutdown hook does the same at JVM exit). Later calls to
     * {@link #kafka()} / {@link #postgres()} start new ones.
     */
    public static void shutdown() {
        KafkaEndpoint k;
        PostgresEndpoint p;
        synchronized (KAFKA_LOCK) {
            k = kafka;
            kafka = null;
            kafkaFailure = null;
        }
        synchronized (POSTGRES_LOCK) {
            p = postgres;
            postgres = null;
            postgresFailure = null;
        }
        SchemaRegistryEndpoint r;
        synchronized (REGISTRY_LOCK) {
            r = schemaRegistry;
            schemaRegistry = null;
            schemaRegistryFailure = null;
        }
        if (r != null) {
            try {
                ((SharedSchemaRegistry) r).delegate.close();
            } catch (RuntimeException ignored) {
                // shutting down anyway
            }
        }
        if (k != null) {
            try {
                ((SharedKafka) k).delegate.close();
            } catch (RuntimeException ignored) {
                // shutting down anyway
            }
        }
        if (p != null) {
            try {
                ((SharedPostgres) p).delegate.close();
            } catch (RuntimeException ignored) {
                // shutting down anyway
            }
        }
    }

    private static synchronized void installHook() {
        if (!hookInstalled) {
            Runtime.getRuntime().addShutdownHook(new Thread(Servers::shutdown, "partwright-servers-shutdown"));
            hookInstalled = true;
        }
    }

    private static RuntimeException rethrow(RuntimeException earlier) {
        if (earlier instanceof ServerStartException) {
            ServerStartException s = (ServerStartException) earlier;
            return new ServerStartException(s.server(), s.target(), s.getMessage() + " (failed earlier in this JVM)", s);
        }
        return new IllegalStateException("shared server failed to start earlier in this JVM: " + earlier, earlier);
    }

    /** Shared view: everything delegates except {@link #close()}, which is a no-op. */
    private static final class SharedSchemaRegistry implements SchemaRegistryEndpoint {
        final SchemaRegistryEndpoint delegate;

        SharedSchemaRegistry(SchemaRegistryEndpoint delegate) {
            this.delegate = delegate;
        }

        @Override
        public String url() {
            return delegate.url();
        }

        @Override
        public boolean embedded() {
            return delegate.embedded();
        }

        @Override
        public void close() {
            // shared for the whole JVM: stopped by Servers.shutdown() / the shutdown hook
        }

        @Override
        public String toString() {
            return "shared " + delegate;
        }
    }

    private static final class SharedKafka implements KafkaEndpoint {
        final KafkaEndpoint delegate;

        SharedKafka(KafkaEndpoint delegate) {
            this.delegate = delegate;
        }

        @Override
        public String bootstrapServers() {
            return delegate.bootstrapServers();
        }

        @Override
        public boolean embedded() {
            return delegate.embedded();
        }

        @Override
        public void close() {
            // shared for the whole JVM: stopped by Servers.shutdown() / the shutdown hook
        }

        @Override
        public String toString() {
            return "shared " + delegate;
        }
    }

    private static final class SharedPostgres implements PostgresEndpoint {
        final PostgresEndpoint delegate;

        SharedPostgres(PostgresEndpoint delegate) {
            this.delegate = delegate;
        }

        @Override
        public String jdbcUrl() {
            return delegate.jdbcUrl();
        }

        @Override
        public String user() {
            return delegate.user();
        }

        @Override
        public String password() {
            return delegate.password();
        }

        @Override
        public DataSource dataSource() {
            return delegate.dataSource();
        }

        @Override
        public boolean embedded() {
            return delegate.embedded();
        }

        @Override
        public void close() {
            // shared for the whole JVM: stopped by Servers.shutdown() / the shutdown hook
        }

        @Override
        public String toString() {
            return "shared " + delegate;
        }
    }
}
