import { parseArgs } from 'node:util';
import { CliError, exitCodes } from './exit-codes.js';

/** The one positional argument a command takes (no options); else a usage error showing `usage`. */
export function onlyArgument(args: readonly string[], usage: string): string {
  const { positionals } = parseArgs({ args: [...args], allowPositionals: true, strict: true });
  if (positionals.length !== 1) throw new CliError(exitCodes.usage, `usage: ${usage}`);
  return positionals[0]!;
}

/** Every item of a paginated list. */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}
