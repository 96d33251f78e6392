package dev.partwright.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

@Command(
    name = "run",
    mixinStandardHelpOptions = true,
    description = {
        "Runs one stage of the pipeline as a long-running process.",
        "",
        "What the Kubernetes Deployments in deploy/kubernetes start. Each logs when",
        "it starts and stops, serves Prometheus metrics on --metrics-port, and",
        "stops cleanly on SIGTERM.",
        "",
        "Exit codes: 0 stopped when asked; 2 bad arguments, or the component",
        "stopped on an error; 3 a server (Kafka, PostgreSQL, Redis) unreachable",
        "at start."},
    subcommands = {RunTopologyCommand.class, RunWorkerCommand.class, RunRegistrySinkCommand.class,
        RunSnapshotsCommand.class})
final class RunCommand implements Callable<Integer> {

  @Spec
  CommandSpec spec;

  @Override
  public Integer call() {
    throw new ParameterException(spec.commandLine(), "Missing subcommand: topology, worker, registry-sink or snapshots");
  }
}
