package dev.partwright.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** The CronJob of deploy/ runs exactly a {@code rotate} this CLI accepts, on the schedule the seed asks for. */
class RotateCronJobManifestTest {

  private static final Path MANIFEST = Path.of("..", "deploy", "kubernetes", "rotate-cronjob.yaml");

  @Test
  void theCronJobHasTheSeedsScheduleAndLimits() throws Exception {
    String yaml = Files.readString(MANIFEST);
    assertThat(yaml).contains("schedule: \"0 2 * * *\"")
        .contains("concurrencyPolicy: Forbid")
        .contains("activeDeadlineSeconds: 300")
        .contains("restartPolicy: OnFailure")
        .containsPattern("name: DB_URL\\s+valueFrom:\\s+secretKeyRef:");
  }

  @Test
  void itsArgumentsParseAsARotateCommand() throws Exception {
    List<String> args = new ArrayList<>();
    boolean inArgs = false;
    for (String line : Files.readAllLines(MANIFEST)) {
      String t = line.trim();
      if (t.equals("args:")) {
        inArgs = true;
      } else if (inArgs && t.startsWith("- ")) {
        args.add(t.substring(2).replace("$(DB_URL)", "jdbc:postgresql://db/app").replace("$(KAFKA_BOOTSTRAP)", "k:9092"));
      } else if (inArgs) {
        break;
      }
    }
    assertThat(args.get(0)).isEqualTo("rotate");
    RotateCommand rotate = new RotateCommand();
    new CommandLine(rotate).parseArgs(args.subList(1, args.size()).toArray(String[]::new));
    assertThat(rotate.bufferDays).isEqualTo(30);
    assertThat(rotate.connection.dbUrl).isEqualTo("jdbc:postgresql://db/app");
    assertThat(rotate.dryRun).isFalse();
  }
}
