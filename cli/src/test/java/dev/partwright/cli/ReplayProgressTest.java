package dev.partwright.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The progress indicator of {@code partwright replay} when stderr is not a terminal (CI, pipes). */
class ReplayProgressTest {

  @Test
  void aLongReplayPrintsALinePerTenPercentAndAShortOneNothing() {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    PrintStream err = new PrintStream(bytes, true, StandardCharsets.UTF_8);
    ReplayCommand.Progress progress = new ReplayCommand.Progress(err, "log", true);
    for (long read = 0; read <= 1_000_000; read += 1_000) {
      progress.update(read, 1_000_000);
    }
    progress.done();

    String[] lines = bytes.toString(StandardCharsets.UTF_8).split("\n");
    assertThat(lines).hasSize(11);
    assertThat(lines[0]).isEqualTo("replaying log: 0 / 1,000,000 records (0%)");
    assertThat(lines[10]).isEqualTo("replaying log: 1,000,000 / 1,000,000 records (100%)");

    ByteArrayOutputStream quiet = new ByteArrayOutputStream();
    ReplayCommand.Progress short_ = new ReplayCommand.Progress(new PrintStream(quiet, true, StandardCharsets.UTF_8), "log", true);
    short_.update(10, 100);
    short_.done();
    assertThat(quiet.size()).isZero();
  }
}
