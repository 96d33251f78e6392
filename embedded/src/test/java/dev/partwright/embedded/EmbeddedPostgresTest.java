package dev.partwright.embedded;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EmbeddedPostgresTest {

    @Test
    void versionIs17() throws SQLException {
        assertThat(query(Servers.postgres().dataSource(), "select version()")).startsWith("PostgreSQL 17.");
        assertThat(query(Servers.postgres().dataSource(), "show server_version_num")).startsWith("17");
    }

    @Test
    void serverSettingsOfTheEmbeddedServer() throws SQLException {
        assumeTrue(Servers.postgres().embedded(), "settings are ours only for the embedded server");
        DataSource ds = Servers.postgres().dataSource();
        assertThat(query(ds, "show wal_level")).isEqualTo("replica");
        assertThat(query(ds, "show max_connections")).isEqualTo("200");
        assertThat(query(ds, "show max_wal_senders")).isEqualTo("5");
        assertThat(query(ds, "show fsync")).isEqualTo("off");
    }

    @Test
    void partitionedTableWithAttachedPartition() throws SQLException {
        DataSource ds = Servers.postgres().dataSource();
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            s.execute("create schema if not exists pw_test");
            s.execute("drop table if exists pw_test.events");
            s.execute("create table pw_test.events (tenant text not null, ts timestamptz not null, payload text)"
                    + " partition by range (ts)");
            s.execute("create table pw_test.events_2026_01 (like pw_test.events including all)");
            s.execute("alter table pw_test.events attach partition pw_test.events_2026_01"
                    + " for values from ('2026-01-01') to ('2026-02-01')");
            s.execute("insert into pw_test.events values ('t1', '2026-01-15T10:00:00Z', 'x')");
            try (ResultSet rs = s.executeQuery(
                    "select tableoid::regclass::text, count(*) from pw_test.events group by 1")) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(1)).isEqualTo("pw_test.events_2026_01");
                assertThat(rs.getLong(2)).isEqualTo(1);
            }
            assertThat(query(ds, "select pg_get_expr(relpartbound, oid) from pg_class where relname = 'events_2026_01'"))
                    .isEqualTo("FOR VALUES FROM ('2026-01-01 00:00:00+00') TO ('2026-02-01 00:00:00+00')");
        }
    }

    @Test
    void sharedEndpointDescribesItself() throws SQLException {
        PostgresEndpoint pg = Servers.postgres();
        assertThat(Servers.postgres()).isSameAs(pg);
        boolean external = Support.setting(ExternalPostgres.URL_PROPERTY, ExternalPostgres.URL_ENV) != null;
        assertThat(pg.embedded()).isEqualTo(!external);
        if (!external) {
            assertThat(pg.jdbcUrl()).matches("jdbc:postgresql://127\\.0\\.0\\.1:\\d+/postgres");
            assertThat(pg.user()).isEqualTo("postgres");
        }
        try (Connection c = DriverManager.getConnection(pg.jdbcUrl(), pg.user(), pg.password())) {
            assertThat(c.isValid(2)).isTrue();
        }
        pg.close(); // shared: no-op
        assertThat(query(pg.dataSource(), "select 1")).isEqualTo("1");
    }

    @Test
    void dedicatedInstanceExposesDirectoryAndPortAndCleansUp(@TempDir Path tmp) throws SQLException {
        Path base = tmp.resolve("pg");
        try (EmbeddedPostgres pg = EmbeddedPostgres.start(base)) {
            assertThat(pg.port()).isPositive();
            assertThat(pg.jdbcUrl()).isEqualTo("jdbc:postgresql://127.0.0.1:" + pg.port() + "/postgres");
            assertThat(pg.dataDirectory()).isDirectory();
            assertThat(pg.dataDirectory().resolve("PG_VERSION")).hasContent("17");
            assertThat(query(pg.dataSource(), "show data_directory")).isEqualTo(pg.dataDirectory().toString());
            assertThat(query(pg.dataSource(), "select current_setting('port')")).isEqualTo(String.valueOf(pg.port()));
            assertThat(pg.logFile()).exists();
        }
        assertThat(base).doesNotExist();
    }

    static String query(DataSource ds, String sql) throws SQLException {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            assertThat(rs.next()).isTrue();
            return rs.getString(1);
        }
    }
}
