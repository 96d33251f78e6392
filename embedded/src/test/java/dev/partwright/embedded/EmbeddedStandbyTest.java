package dev.partwright.embedded;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Map;
import javax.sql.DataSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A streaming standby started from a low-level base backup replays the primary's writes, late by
 * its apply delay, and the primary sees that delay as {@code replay_lag}; closing it drops its
 * replication slot and its files.
 */
class EmbeddedStandbyTest {

  @Test
  void replaysThePrimarysWritesLateByTheApplyDelayAndCleansUp(@TempDir Path dir) throws Exception {
    try (EmbeddedPostgres primary = EmbeddedPostgres.start(dir.resolve("primary"), Map.of())) {
      exec(primary.dataSource(), "CREATE TABLE t (v int)", "INSERT INTO t VALUES (1)");
      Path standbyDir = dir.resolve("standby");
      String slot;
      try (EmbeddedStandby standby = EmbeddedStandby.start(primary, standbyDir, Duration.ofSeconds(2))) {
        assertThat(standby.awaitStreaming(Duration.ofSeconds(30))).isTrue();
        assertThat(query(standby.dataSource(), "SELECT pg_is_in_recovery()")).isEqualTo("t");
        slot = query(primary.dataSource(), "SELECT slot_name FROM pg_replication_slots");
        assertThat(slot).startsWith("partwright_standby_");

        exec(primary.dataSource(), "INSERT INTO t VALUES (2)");

        await().atMost(Duration.ofSeconds(30)).until(() -> query(standby.dataSource(), "SELECT count(*) FROM t").equals("2"));
        await().atMost(Duration.ofSeconds(30)).until(() -> Double.parseDouble(query(primary.dataSource(),
            "SELECT COALESCE(max(extract(epoch FROM replay_lag)), 0) FROM pg_stat_replication")) >= 1.0);
      }
      assertThat(query(primary.dataSource(), "SELECT count(*) FROM pg_replication_slots")).isEqualTo("0");
      assertThat(Files.exists(standbyDir)).isFalse();
    }
  }

  private static void exec(DataSource ds, String... sql) throws SQLException {
    try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
      for (String q : sql) {
        s.execute(q);
      }
    }
  }

  private static String query(DataSource ds, String sql) throws SQLException {
    try (Connection c = ds.getConnection(); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
      return rs.next() ? rs.getString(1) : null;
    }
  }
}
