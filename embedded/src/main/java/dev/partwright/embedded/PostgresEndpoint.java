package dev.partwright.embedded;

import javax.sql.DataSource;

/**
 * A reachable PostgreSQL server: either one started by this JVM ({@link EmbeddedPostgres}) or an
 * existing one ({@link ExternalPostgres}). Callers should not care which.
 */
public interface PostgresEndpoint extends AutoCloseable {

    /** JDBC URL without credentials, e.g. {@code jdbc:postgresql://127.0.0.1:5432/postgres}. */
    String jdbcUrl();

    String user();

    /** The password; empty string when the server does not need one. */
    String password();

    /** A small HikariCP pool (max 8 connections), created on first call and closed by {@link #close()}. */
    DataSource dataSource();

    /** {@code true} if this JVM started the server. */
    boolean embedded();

    /** Closes the pool (and for an embedded server: stops it and deletes its data). */
    @Override
    void close();
}
