import type { Hearth } from '@hearth/sdk';
import type { Output } from './output.js';

/** What a command gets: its arguments after the verb, the output, and the client (made on first use). */
export interface CommandContext {
  readonly args: readonly string[];
  readonly out: Output;
  readonly env: Readonly<Record<string, string | undefined>>;
  hearth(): Promise<Hearth>;
}

export interface Command {
  /** One line for `hearth help`. */
  readonly summary: string;
  /** `<vm>` and options, for the usage line. */
  readonly usage: string;
  /** Long options it takes (for completion). */
  readonly options?: readonly string[];
  run(context: CommandContext): Promise<number | void>;
}

/** Commands by resource and verb: `hearth vm ls` is `commands.vm.ls`. */
export type CommandTable = Readonly<Record<string, Readonly<Record<string, Command>>>>;
