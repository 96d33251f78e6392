package dev.partwright.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import picocli.CommandLine;

/**
 * Each long-running manifest of deploy/kubernetes runs the {@code partwright run} subcommand of its
 * component, with arguments this CLI accepts, every {@code $(VAR)} they use defined in the
 * container's env, and its metrics port where Prometheus is told to scrape.
 */
class RunManifestsTest {

  private static final Pattern QUOTED = Pattern.compile("\"([^\"]*)\"");
  private static final Pattern VARIABLE = Pattern.compile("\\$\\(([A-Z_]+)\\)");

  @ParameterizedTest
  @CsvSource({"demand-topology.yaml, topology", "worker.yaml, worker", "registry-sink.yaml, registry-sink",
      "snapshots.yaml, snapshots"})
  void theManifestRunsItsSubcommandWithArgumentsThatParse(String file, String subcommand) throws Exception {
    String yaml = Files.readString(Path.of("..", "deploy", "kubernetes", file));
    List<String> args = args(yaml);

    assertThat(args.subList(0, 2)).containsExactly("run", subcommand);
    List<String> substituted = new ArrayList<>();
    for (String a : args) {
      Matcher m = VARIABLE.matcher(a);
      while (m.find()) {
        assertThat(yaml).as("%s defines %s", file, m.group(1)).contains("name: " + m.group(1));
      }
      substituted.add(m.replaceAll("value-of-$1"));
    }
    CommandLine.ParseResult parsed = Partwright.commandLine().parseArgs(substituted.toArray(String[]::new));
    CommandLine.ParseResult run = parsed.subcommand().subcommand();
    assertThat(run.commandSpec().name()).isEqualTo(subcommand);
    LongRunningCommand command = (LongRunningCommand) run.commandSpec().userObject();
    assertThat(command.metricsPort).isEqualTo(9404);
    assertThat(yaml).contains("prometheus.io/port: \"9404\"").contains("containerPort: 9404");
    // the topic layout comes from the shared ConfigMap, so every process checks the same one
    assertThat(yaml).contains("key: topic.partitions").contains("key: topic.replication-factor");
    // every pipeline topic is in the registry's wire format
    assertThat(yaml).contains("name: PARTWRIGHT_SCHEMA_REGISTRY_URL");
  }

  /** The container's {@code args: [...]}, in flow style, possibly over several lines. */
  private static List<String> args(String yaml) {
    int start = yaml.indexOf("args: [");
    assertThat(start).as("args: [ ... ]").isNotNegative();
    String list = yaml.substring(start + "args: [".length(), yaml.indexOf(']', start));
    List<String> out = new ArrayList<>();
    Matcher m = QUOTED.matcher(list);
    while (m.find()) {
      out.add(m.group(1));
    }
    return out;
  }
}
