package dev.partwright.embedded;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class EmbeddedRedisTest {

    @Test
    void startsOnAFreeLoopbackPortAnswersPingAndStopsOnClose() {
        EmbeddedRedis a = EmbeddedRedis.start();
        EmbeddedRedis b = EmbeddedRedis.start();
        try {
            assertThat(a.port()).isNotEqualTo(b.port());
            assertThat(EmbeddedRedis.ping(a.port())).isTrue();
            assertThat(EmbeddedRedis.ping(b.port())).isTrue();
            assertThat(a.uri()).isEqualTo("redis://127.0.0.1:" + a.port());
        } finally {
            a.close();
            b.close();
        }
        // close() waits for the process to exit: nothing answers any more
        assertThat(EmbeddedRedis.ping(a.port())).isFalse();
        assertThat(EmbeddedRedis.ping(b.port())).isFalse();
        a.close(); // idempotent
    }

    @Test
    void aConfiguredBinaryThatIsNotExecutableIsAnOperatorFacingError() {
        System.setProperty(EmbeddedRedis.BINARY_PROPERTY, "/nonexistent/redis-server");
        try {
            assertThatThrownBy(EmbeddedRedis::start).isInstanceOfSatisfying(ServerStartException.class, e -> {
                assertThat(e.server()).isEqualTo("redis");
                assertThat(e.getMessage()).contains("/nonexistent/redis-server").contains("not executable");
            });
        } finally {
            System.clearProperty(EmbeddedRedis.BINARY_PROPERTY);
        }
    }
}
