export interface CommandOutput {
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a host command from an argument array (never a shell string). A non-zero exit becomes an
 * `AppError` HOST_COMMAND_FAILED with `details.exitCode` and, for the log only, `diagnostics.argv` and
 * `diagnostics.stderr`.
 */
export interface CommandRunner {
  run(argv: readonly string[]): Promise<CommandOutput>;
}
