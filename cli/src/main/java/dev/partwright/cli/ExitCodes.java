package dev.partwright.cli;

/** Exit codes every subcommand uses, so a CronJob or a script can tell outcomes apart. */
final class ExitCodes {
  /** Everything asked for holds. */
  static final int OK = 0;
  /** The work ran but an invariant did not hold (rows in DEFAULT, router disagreement, gap). */
  static final int INVARIANT_VIOLATED = 1;
  /** Bad arguments or unexpected error. */
  static final int ERROR = 2;
  /** A server could not be started or reached. */
  static final int UNAVAILABLE = 3;

  private ExitCodes() {}
}
