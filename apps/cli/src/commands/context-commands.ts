import { parseArgs } from 'node:util';
import type { Command } from '../command.js';
import { configPath, readConfigFile, writeConfigFile } from '../config.js';
import { CliError, exitCodes } from '../exit-codes.js';
import { printList } from '../output.js';

export const contextCommands: Readonly<Record<string, Command>> = {
  set: {
    summary: 'Save a context (a Manager URL and a token) and make it the current one',
    usage: '<name> --url <url> [--token <token>]',
    options: ['--url', '--token'],
    async run({ args, out, env }) {
      const { values, positionals } = parseArgs({
        args: [...args],
        allowPositionals: true,
        options: { url: { type: 'string' }, token: { type: 'string' } },
      });
      if (positionals.length !== 1 || values.url === undefined) {
        throw new CliError(exitCodes.usage, 'hearth context set <name> --url <url> [--token <token>]');
      }
      const file = configPath(env);
      const config = await readConfigFile(file);
      const name = positionals[0]!;
      await writeConfigFile(file, {
        current: name,
        contexts: {
          ...config.contexts,
          [name]: { url: values.url, ...(values.token === undefined ? {} : { token: values.token }) },
        },
      });
      out.line(`context ${name} saved in ${file} and in use`);
    },
  },
  use: {
    summary: 'Make a saved context the current one',
    usage: '<name>',
    async run({ args, out, env }) {
      const { positionals } = parseArgs({ args: [...args], allowPositionals: true });
      const file = configPath(env);
      const config = await readConfigFile(file);
      const name = positionals[0];
      if (positionals.length !== 1 || name === undefined) throw new CliError(exitCodes.usage, 'hearth context use <name>');
      if (config.contexts[name] === undefined) throw new CliError(exitCodes.notFound, `no context named ${name}`);
      await writeConfigFile(file, { ...config, current: name });
      out.line(`context ${name} in use`);
    },
  },
  ls: {
    summary: 'List saved contexts (never their tokens)',
    usage: '',
    async run({ out, env }) {
      const config = await readConfigFile(configPath(env));
      const rows = Object.entries(config.contexts).map(([name, context]) => ({
        name,
        url: context.url,
        isCurrent: name === config.current,
        hasToken: context.token !== undefined,
      }));
      printList(out, rows, [
        { header: 'current', value: (row) => (row.isCurrent ? '*' : '') },
        { header: 'name', value: (row) => row.name },
        { header: 'url', value: (row) => row.url },
        { header: 'token', value: (row) => (row.hasToken ? 'yes' : 'no') },
      ]);
    },
  },
};
