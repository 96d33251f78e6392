package dev.partwright.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code partwright} command. */
@Command(
    name = "partwright",
    mixinStandardHelpOptions = true,
    versionProvider = Partwright.Version.class,
    description = {
        "Keeps PostgreSQL partitioned tables provisioned ahead of their writes, driven by Kafka.",
        "",
        "Ingestion events flow through the demand topology, which appends ProvisionPartitions",
        "commands to the command store; workers apply them to PostgreSQL with low-lock DDL and",
        "publish boundary changes that routers in applications follow."},
    subcommands = {DemoCommand.class, ManageCommand.class, RotateCommand.class, ReplayCommand.class, RouteCommand.class,
        RunCommand.class,
        CommandLine.HelpCommand.class})
public final class Partwright {

  public static void main(String[] args) {
    System.exit(commandLine().execute(args));
  }

  static CommandLine commandLine() {
    CommandLine cli = new CommandLine(new Partwright());
    // the descriptions are written as lines of up to ~100 characters: at picocli's default 80 every
    // one of them broke in two
    cli.setUsageHelpWidth(110);
    cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
      commandLine.getErr().println("partwright: " + (e.getMessage() == null ? e.toString() : e.getMessage()));
      if (Boolean.getBoolean("partwright.debug")) {
        e.printStackTrace(commandLine.getErr());
      } else {
        commandLine.getErr().println("(run with -Dpartwright.debug=true for the stack trace)");
      }
      return ExitCodes.ERROR;
    });
    return cli;
  }

  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = Partwright.class.getPackage().getImplementationVersion();
      return new String[] {"partwright " + (v == null ? "development build" : v)};
    }
  }
}
