import { parseArgs } from 'node:util';
import type { Command } from '../command.js';
import { CliError, exitCodes } from '../exit-codes.js';
import { printEvents } from '../output.js';
import { resolveHost } from './host-commands.js';
import { resolveVm } from './vm-commands.js';

const usage = 'hearth event ls [--vm <vm>] [--host <host>] [--type <type>] [--follow]';

export const eventCommands: Readonly<Record<string, Command>> = {
  ls: {
    summary: "Every event (of one VM's or host's, of one type), oldest first; --follow keeps printing them as they happen",
    usage: '[--vm <vm>] [--host <host>] [--type <type>] [--follow]',
    options: ['--vm', '--host', '--type', '--follow'],
    async run({ args, out, hearth: client }) {
      const { values, positionals } = parseArgs({
        args: [...args],
        allowPositionals: true,
        options: {
          vm: { type: 'string' },
          host: { type: 'string' },
          type: { type: 'string' },
          follow: { type: 'boolean', short: 'f', default: false },
        },
      });
      if (positionals.length !== 0) throw new CliError(exitCodes.usage, `usage: ${usage}`);
      const hearth = await client();
      const filter = {
        ...(values.vm === undefined ? {} : { vmId: (await resolveVm(hearth, values.vm)).id }),
        ...(values.host === undefined ? {} : { hostId: (await resolveHost(hearth, values.host)).id }),
        ...(values.type === undefined ? {} : { type: values.type }),
      };
      await printEvents(out, values.follow ? hearth.events({ ...filter, since: 0 }) : hearth.eventLog(filter));
    },
  },
};
