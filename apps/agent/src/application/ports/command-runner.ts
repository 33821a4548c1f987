export interface CommandOutput {
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a host command from an argument array (never a shell string). A non-zero exit becomes an
 * `AppError` HOST_COMMAND_FAILED with `details.argv`, `details.exitCode` and `details.stderr`.
 */
export interface CommandRunner {
  run(argv: readonly string[]): Promise<CommandOutput>;
}
