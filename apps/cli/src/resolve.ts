import { isHearthError } from '@hearth/sdk';
import { CliError, exitCodes } from './exit-codes.js';

interface Named {
  readonly id: string;
  /** Objects without names (snapshots) are named by id or id prefix only. */
  readonly name?: string;
}

/**
 * The one object `reference` names for a person: a whole id, else an exact name, else a unique id
 * prefix (with or without its `vm_`-style prefix). Several matches are an error, never a guess.
 */
export async function resolveReference<T extends Named>(
  what: string,
  reference: string,
  lookups: {
    readonly byId: (id: string) => Promise<T | undefined>;
    readonly byName: (name: string) => Promise<readonly T[]>;
    readonly all: () => AsyncIterable<T>;
    readonly idPrefix: string;
  },
): Promise<T> {
  const isWholeId = reference.startsWith(lookups.idPrefix) && reference.length === lookups.idPrefix.length + 26;
  if (isWholeId) {
    // A whole id the Manager does not know (or hides from this token's projects) is no object.
    const found = await lookups.byId(reference).catch((error: unknown) => {
      if (isHearthError(error) && error.status === 404) return undefined;
      throw error;
    });
    if (found !== undefined) return found;
    throw new CliError(exitCodes.notFound, `no ${what} ${reference}`);
  }
  const named = (await lookups.byName(reference)).filter((candidate) => candidate.name === reference);
  if (named.length === 1) return named[0]!;
  if (named.length > 1) {
    throw new CliError(
      exitCodes.ambiguous,
      `${named.length} ${what}s are named ${reference}: use an id (${named.map((n) => n.id).join(', ')})`,
    );
  }
  const prefix = (reference.startsWith(lookups.idPrefix) ? reference : lookups.idPrefix + reference).toUpperCase();
  const matches: T[] = [];
  for await (const candidate of lookups.all()) {
    if (candidate.id.toUpperCase().startsWith(prefix)) matches.push(candidate);
  }
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw new CliError(exitCodes.notFound, `no ${what} named ${reference} or with an id starting so`);
  throw new CliError(
    exitCodes.ambiguous,
    `${reference} is the start of ${matches.length} ${what} ids (${matches.map((m) => m.id).join(', ')}): give more of it`,
  );
}
