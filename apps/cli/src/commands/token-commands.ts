import { parseArgs } from 'node:util';
import type { CreateTokenRequest, Hearth, Token } from '@hearth/sdk';
import type { Command } from '../command.js';
import { CliError, exitCodes } from '../exit-codes.js';
import { collect, onlyArgument } from '../arguments.js';
import { printList, printObject, printResult, type Column } from '../output.js';
import { resolveReference } from '../resolve.js';

const tokenColumns: readonly Column<Token>[] = [
  { header: 'id', value: (token) => token.id },
  { header: 'name', value: (token) => token.name },
  { header: 'scopes', value: (token) => token.scopes.join(',') },
  { header: 'projects', value: (token) => token.projects.join(',') },
  { header: 'expires', value: (token) => token.expiresAt ?? 'never' },
  { header: 'revoked', value: (token) => token.revokedAt ?? '-' },
];

/** A token by its id, its name (revoked ones count: a name both had is ambiguous) or a unique start of its id. */
export function resolveToken(hearth: Hearth, reference: string): Promise<Token> {
  return resolveReference('token', reference, {
    idPrefix: 'tok_',
    byId: (id) => hearth.tokens.get(id),
    byName: async (name) => (await collect(hearth.tokens.list({ pageSize: 500 }))).filter((token) => token.name === name),
    all: () => hearth.tokens.list({ pageSize: 500 }),
  });
}

export const tokenCommands: Readonly<Record<string, Command>> = {
  ls: {
    summary: 'List API tokens (never their secrets)',
    usage: '',
    async run({ out, hearth }) {
      printList(out, await collect((await hearth()).tokens.list({ pageSize: 500 })), tokenColumns);
    },
  },
  create: {
    summary: 'Create an API token; its secret is printed this once',
    usage: '<name> --scope s [--scope s …] [--project p …] [--expires-in seconds]',
    options: ['--scope', '--project', '--expires-in'],
    async run({ args, out, hearth }) {
      const { values, positionals } = parseArgs({
        args: [...args],
        allowPositionals: true,
        options: {
          scope: { type: 'string', multiple: true },
          project: { type: 'string', multiple: true },
          'expires-in': { type: 'string' },
        },
      });
      const expiresIn = values['expires-in'] === undefined ? undefined : Number(values['expires-in']);
      if (
        positionals.length !== 1 ||
        values.scope === undefined ||
        (expiresIn !== undefined && !Number.isSafeInteger(expiresIn))
      ) {
        throw new CliError(
          exitCodes.usage,
          'usage: hearth token create <name> --scope <scope> [--project <project>] [--expires-in seconds] (a whole number of seconds)',
        );
      }
      const request: CreateTokenRequest = {
        name: positionals[0]!,
        scopes: values.scope as CreateTokenRequest['scopes'],
        ...(values.project === undefined ? {} : { projects: values.project }),
        ...(expiresIn === undefined ? {} : { expiresInSeconds: expiresIn }),
      };
      const created = await (await hearth()).tokens.create(request);
      printResult(out, created, `${created.id} ${created.secret}`);
    },
  },
  get: {
    summary: 'Show an API token (never its secret)',
    usage: '<token>',
    async run({ args, out, hearth }) {
      printObject(out, await resolveToken(await hearth(), onlyArgument(args, 'hearth token get <token>')), tokenColumns);
    },
  },
  revoke: {
    summary: 'Revoke an API token',
    usage: '<token>',
    async run({ args, out, hearth: client }) {
      const hearth = await client();
      const { id } = await resolveToken(hearth, onlyArgument(args, 'hearth token revoke <token>'));
      await hearth.tokens.revoke(id);
      printResult(out, { id }, `${id} revoked`);
    },
  },
  whoami: {
    summary: 'The token in use: its id, name, scopes and projects',
    usage: '',
    async run({ out, hearth }) {
      const current = await (await hearth()).tokens.current();
      printObject(out, current, [
        { header: 'id', value: (token) => token.tokenId },
        { header: 'name', value: (token) => token.tokenName },
        { header: 'scopes', value: (token) => token.scopes.join(',') },
        { header: 'projects', value: (token) => token.projects.join(',') },
      ]);
    },
  },
};
