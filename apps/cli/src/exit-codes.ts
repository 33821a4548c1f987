/** What `hearth` exits with; scripts may rely on these. */
export const exitCodes = Object.freeze({
  /** Done. */
  ok: 0,
  /** The Manager refused or failed the request (its problem is printed), or the connection failed. */
  failed: 1,
  /** The command line is wrong: unknown command or option, a missing argument. */
  usage: 2,
  /** No object has this name or id (prefix). */
  notFound: 3,
  /** A name or id prefix matches several objects. */
  ambiguous: 4,
  /** A wait ended without the state asked for: the VM failed, or time ran out. */
  waitFailed: 5,
  /** No Manager URL or token is configured. */
  notConfigured: 6,
});

/** An error that ends the command with its exit code and message. */
export class CliError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}
