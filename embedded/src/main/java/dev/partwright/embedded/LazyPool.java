package dev.partwright.embedded;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import javax.sql.DataSource;

/** The lazily created, small HikariCP pool behind {@link PostgresEndpoint#dataSource()}. */
final class LazyPool {

    static final int MAX_POOL_SIZE = 8;

    private final String name;
    private final String jdbcUrl;
    private final String user;
    private final String password;
    private HikariDataSource pool;
    private boolean closed;

    LazyPool(String name, String jdbcUrl, String user, String password) {
        this.name = name;
        this.jdbcUrl = jdbcUrl;
        this.user = user;
        this.password = password;
    }

    synchronized DataSource get() {
        if (closed) {
            throw new IllegalStateException(name + " is closed");
        }
        if (pool == null) {
            HikariConfig config = new HikariConfig();
            config.setPoolName(name);
            config.setJdbcUrl(jdbcUrl);
            config.setUsername(user);
            config.setPassword(password);
            config.setMaximumPoolSize(MAX_POOL_SIZE);
            config.setMinimumIdle(1);
            config.setConnectionTimeout(10_000);
            config.setInitializationFailTimeout(-1); // connectivity was already checked; don't fail here
            pool = new HikariDataSource(config);
        }
        return pool;
    }

    synchronized void close() {
        closed = true;
        if (pool != null) {
            pool.close();
            pool = null;
        }
    }
}
