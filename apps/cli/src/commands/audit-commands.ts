import { parseArgs } from 'node:util';
import type { AuditEntry, ListAuditFilter } from '@hearth/sdk';
import type { Command } from '../command.js';
import { CliError, exitCodes } from '../exit-codes.js';
import { printList, type Column } from '../output.js';
import { resolveToken } from './token-commands.js';

const usage =
  'hearth audit ls [--token <token>] [--project p] [--action a] [--outcome succeeded|refused|failed] [--since time] [--until time] [--last n]';
const outcomes = ['succeeded', 'refused', 'failed'] as const;

const auditColumns: readonly Column<AuditEntry>[] = [
  { header: 'id', value: (entry) => String(entry.id) },
  { header: 'at', value: (entry) => entry.at },
  {
    header: 'outcome',
    value: (entry) => `${entry.outcome} ${entry.statusCode}${entry.errorCode === null ? '' : ` ${entry.errorCode}`}`,
  },
  { header: 'action', value: (entry) => entry.action },
  { header: 'target', value: (entry) => entry.target ?? '-' },
  { header: 'token', value: (entry) => entry.tokenName ?? entry.tokenId ?? '-' },
  { header: 'correlation id', value: (entry) => entry.correlationId },
];

export const auditCommands: Readonly<Record<string, Command>> = {
  ls: {
    summary: 'The audit log, newest first: every change and every refused attempt (the last 100 unless --last says)',
    usage:
      '[--token <token>] [--project p] [--action a] [--outcome succeeded|refused|failed] [--since time] [--until time] [--last n]',
    options: ['--token', '--project', '--action', '--outcome', '--since', '--until', '--last'],
    async run({ args, out, hearth: client }) {
      const { values, positionals } = parseArgs({
        args: [...args],
        allowPositionals: true,
        options: {
          token: { type: 'string' },
          project: { type: 'string' },
          action: { type: 'string' },
          outcome: { type: 'string' },
          since: { type: 'string' },
          until: { type: 'string' },
          last: { type: 'string', default: '100' },
        },
      });
      const last = Number(values.last);
      const outcome = outcomes.find((each) => each === values.outcome);
      if (
        positionals.length !== 0 ||
        !Number.isSafeInteger(last) ||
        last < 1 ||
        (values.outcome !== undefined && outcome === undefined)
      ) {
        throw new CliError(exitCodes.usage, `usage: ${usage}`);
      }
      const hearth = await client();
      const filter: ListAuditFilter = {
        ...(values.token === undefined ? {} : { tokenId: (await resolveToken(hearth, values.token)).id }),
        ...(values.project === undefined ? {} : { project: values.project }),
        ...(values.action === undefined ? {} : { action: values.action }),
        ...(outcome === undefined ? {} : { outcome }),
        ...(values.since === undefined ? {} : { since: values.since }),
        ...(values.until === undefined ? {} : { until: values.until }),
      };
      const entries: AuditEntry[] = [];
      for await (const entry of hearth.auditLog({ ...filter, pageSize: Math.min(last, 500) })) {
        entries.push(entry);
        if (entries.length === last) break;
      }
      printList(out, entries, auditColumns);
    },
  },
};
