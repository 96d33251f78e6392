package dev.partwright.embedded;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.sql.SQLException;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.junit.jupiter.api.Test;

class ExternalEndpointTest {

    @Test
    void closedPostgresPortGivesClearError() {
        int closed = Support.freePort();
        String url = "jdbc:postgresql://127.0.0.1:" + closed + "/partwright?user=app&password=s3cret";
        assertThatThrownBy(() -> ExternalPostgres.connect(url))
                .isInstanceOf(ServerStartException.class)
                .hasMessage("cannot connect to PostgreSQL at jdbc:postgresql://127.0.0.1:" + closed
                        + "/partwright: connection refused")
                .satisfies(e -> {
                    ServerStartException s = (ServerStartException) e;
                    assertThat(s.server()).isEqualTo("postgres");
                    assertThat(s.target()).isEqualTo("jdbc:postgresql://127.0.0.1:" + closed + "/partwright");
                    assertThat(s.getCause()).isNotNull();
                });
    }

    @Test
    void closedKafkaPortGivesClearError() {
        int closed = Support.freePort();
        assertThatThrownBy(() -> ExternalKafka.connect("127.0.0.1:" + closed))
                .isInstanceOf(ServerStartException.class)
                .hasMessage("cannot connect to Kafka at 127.0.0.1:" + closed + ": connection refused")
                .extracting(e -> ((ServerStartException) e).server()).isEqualTo("kafka");
    }

    @Test
    void unsupportedUrlGivesClearErrorWithoutThePassword() {
        assertThatThrownBy(() -> ExternalPostgres.connect("mysql://root:hunter2@db:3306/x"))
                .isInstanceOf(ServerStartException.class)
                .hasMessageContaining("unsupported URL 'mysql://root:***@db:3306/x'")
                .hasMessageNotContaining("hunter2");
    }

    @Test
    void sharedEmbeddedPostgresThroughItsOwnUrl() throws SQLException {
        PostgresEndpoint shared = Servers.postgres();
        String url = shared.jdbcUrl() + "?user=" + shared.user() + "&password=" + shared.password();
        try (ExternalPostgres pg = ExternalPostgres.connect(url)) {
            assertThat(pg.embedded()).isFalse();
            assertThat(pg.jdbcUrl()).isEqualTo(shared.jdbcUrl());
            assertThat(pg.user()).isEqualTo("postgres");
            assertThat(EmbeddedPostgresTest.query(pg.dataSource(), "select current_database()")).isEqualTo("postgres");
        }
    }

    @Test
    void sharedEmbeddedPostgresThroughLibpqUri() throws SQLException {
        PostgresEndpoint shared = Servers.postgres();
        String hostPortDb = shared.jdbcUrl().substring("jdbc:postgresql://".length());
        try (ExternalPostgres pg = ExternalPostgres.connect("postgresql://postgres:any@" + hostPortDb + "?ApplicationName=t")) {
            assertThat(pg.jdbcUrl()).isEqualTo(shared.jdbcUrl() + "?ApplicationName=t");
            assertThat(pg.password()).isEqualTo("any"); // trust auth accepts any password
            assertThat(EmbeddedPostgresTest.query(pg.dataSource(), "select 1")).isEqualTo("1");
        }
    }

    @Test
    void sharedEmbeddedKafkaThroughExternalKafka() throws Exception {
        KafkaEndpoint shared = Servers.kafka();
        ExternalKafka kafka = ExternalKafka.connect("PLAINTEXT://" + shared.bootstrapServers());
        assertThat(kafka.embedded()).isFalse();
        assertThat(kafka.bootstrapServers()).isEqualTo(shared.bootstrapServers());
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
            assertThat(admin.describeCluster().clusterId().get()).isNotBlank();
        }
    }

    @Test
    void urlParsing() {
        ExternalPostgres.Parsed p = ExternalPostgres.parse("postgres://u%40x:p%3Aw@db.example:6543/app?sslmode=require", null, null);
        assertThat(p.jdbcUrl).isEqualTo("jdbc:postgresql://db.example:6543/app?sslmode=require");
        assertThat(p.user).isEqualTo("u@x");
        assertThat(p.password).isEqualTo("p:w");

        p = ExternalPostgres.parse("jdbc:postgresql://h1:5432,h2:5433/app?user=a&targetServerType=primary&password=b", null, null);
        assertThat(p.jdbcUrl).isEqualTo("jdbc:postgresql://h1:5432,h2:5433/app?targetServerType=primary");
        assertThat(p.user).isEqualTo("a");
        assertThat(p.password).isEqualTo("b");

        p = ExternalPostgres.parse("postgresql://bob@localhost", null, null);
        assertThat(p.jdbcUrl).isEqualTo("jdbc:postgresql://localhost/bob");

        p = ExternalPostgres.parse("jdbc:postgresql://h/app", "explicit", "pw");
        assertThat(p.user).isEqualTo("explicit");
        assertThat(p.password).isEqualTo("pw");
    }

    @Test
    void bootstrapNormalization() {
        assertThat(ExternalKafka.normalize(" PLAINTEXT://a:9092, b:9093 ")).isEqualTo("a:9092,b:9093");
        assertThatThrownBy(() -> ExternalKafka.normalize("localhost"))
                .isInstanceOf(ServerStartException.class)
                .hasMessageContaining("bad bootstrap address 'localhost'");
    }
}
