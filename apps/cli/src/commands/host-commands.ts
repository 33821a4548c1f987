import { parseArgs } from 'node:util';
import type { Hearth, Host, HostResources } from '@hearth/sdk';
import type { Command } from '../command.js';
import { collect, onlyArgument } from '../arguments.js';
import { CliError, exitCodes } from '../exit-codes.js';
import { printList, printObject, printResult, printTable, type Column } from '../output.js';
import { resolveReference } from '../resolve.js';

const hostColumns: readonly Column<Host>[] = [
  { header: 'id', value: (host) => host.id },
  { header: 'name', value: (host) => host.name },
  { header: 'status', value: (host) => host.status },
  { header: 'cordoned', value: (host) => (host.isCordoned ? 'yes' : 'no') },
  { header: 'vms', value: (host) => String(host.capacity.vmCount) },
  { header: 'memory free', value: (host) => `${host.capacity.memoryMibAvailable}/${host.capacity.memoryMibTotal} MiB` },
];

export function resolveHost(hearth: Hearth, reference: string): Promise<Host> {
  return resolveReference('host', reference, {
    idPrefix: 'host_',
    byId: (id) => hearth.hosts.get(id),
    byName: async (name) => (await collect(hearth.hosts.list({ pageSize: 500 }))).filter((host) => host.name === name),
    all: () => hearth.hosts.list({ pageSize: 500 }),
  });
}

const resourceColumns: readonly Column<HostResources['items'][number]>[] = [
  { header: 'vm', value: (item) => item.vmId },
  { header: 'vm state', value: (item) => item.vmState ?? (item.isOrphaned ? 'orphaned' : '-') },
  { header: 'kind', value: (item) => item.kind },
  { header: 'ref', value: (item) => item.ref },
];

function oneHost(args: readonly string[], verb: string): string {
  return onlyArgument(args, `hearth host ${verb} <host>`);
}

export const hostCommands: Readonly<Record<string, Command>> = {
  ls: {
    summary: 'List hosts',
    usage: '',
    async run({ out, hearth }) {
      printList(out, await collect((await hearth()).hosts.list({ pageSize: 500 })), hostColumns);
    },
  },
  get: {
    summary: 'Show a host',
    usage: '<host>',
    async run({ args, out, hearth }) {
      printObject(out, await resolveHost(await hearth(), oneHost(args, 'get')), hostColumns);
    },
  },
  cordon: {
    summary: 'Give a host no new VMs (its VMs keep running)',
    usage: '<host>',
    async run({ args, out, hearth: client }) {
      const hearth = await client();
      const host = await hearth.hosts.cordon((await resolveHost(hearth, oneHost(args, 'cordon'))).id);
      printResult(out, host, `${host.id} cordoned`);
    },
  },
  uncordon: {
    summary: 'Let a cordoned host take new VMs again',
    usage: '<host>',
    async run({ args, out, hearth: client }) {
      const hearth = await client();
      const host = await hearth.hosts.uncordon((await resolveHost(hearth, oneHost(args, 'uncordon'))).id);
      printResult(out, host, `${host.id} uncordoned`);
    },
  },
  metrics: {
    summary: "A host's Agent's Prometheus metrics (per-VM Firecracker counters included), read through the Manager",
    usage: '<host>',
    async run({ args, out, hearth: client }) {
      const hearth = await client();
      const host = await resolveHost(hearth, oneHost(args, 'metrics'));
      const text = await hearth.hosts.metrics(host.id);
      if (out.format === 'json') out.json({ id: host.id, metrics: text });
      else out.write(text);
    },
  },
  drain: {
    summary: 'Cordon a host and stop its running and paused VMs',
    usage: '<host>',
    async run({ args, out, hearth: client }) {
      const hearth = await client();
      const report = await hearth.hosts.drain((await resolveHost(hearth, oneHost(args, 'drain'))).id);
      if (out.format === 'json') {
        out.json(report);
        return;
      }
      out.line(
        `${report.host.id} drained: ${report.stopped.length} stopped, ${report.failed.length} failed, ${report.skipped.length} skipped`,
      );
      for (const failed of report.failed) out.line(`  failed: ${JSON.stringify(failed)}`);
      return report.failed.length === 0 ? exitCodes.ok : exitCodes.failed;
    },
  },
  resources: {
    summary: "What a host's Agent holds for each VM (TAPs, processes, files, firewall rules), orphans included",
    usage: '<host>',
    async run({ args, out, hearth: client }) {
      const hearth = await client();
      const resources = await hearth.hosts.resources((await resolveHost(hearth, oneHost(args, 'resources'))).id);
      if (out.format === 'json') out.json(resources);
      else printTable(out, resources.items, resourceColumns);
    },
  },
  'join-token': {
    summary: 'A one-time token for a new Agent to join the cluster with (AGENT_JOIN_TOKEN); printed this once',
    usage: '[--ttl seconds]',
    options: ['--ttl'],
    async run({ args, out, hearth }) {
      const { values, positionals } = parseArgs({
        args: [...args],
        allowPositionals: true,
        options: { ttl: { type: 'string' } },
      });
      const ttlSeconds = values.ttl === undefined ? undefined : Number(values.ttl);
      if (positionals.length !== 0 || (ttlSeconds !== undefined && !Number.isSafeInteger(ttlSeconds))) {
        throw new CliError(exitCodes.usage, 'usage: hearth host join-token [--ttl seconds] (a whole number of seconds)');
      }
      const token = await (await hearth()).hosts.createJoinToken(ttlSeconds === undefined ? {} : { ttlSeconds });
      printResult(out, token, `${token.token} (expires ${token.expiresAt})`);
    },
  },
  rm: {
    summary: 'Remove a host that is gone for good (--force: with the records of its VMs)',
    usage: '<host> [--force]',
    options: ['--force'],
    async run({ args, out, hearth: client }) {
      const { values, positionals } = parseArgs({
        args: [...args],
        allowPositionals: true,
        options: { force: { type: 'boolean', default: false } },
      });
      if (positionals.length !== 1) throw new CliError(exitCodes.usage, 'usage: hearth host rm <host> [--force]');
      const hearth = await client();
      const host = await resolveHost(hearth, positionals[0]!);
      await hearth.hosts.remove(host.id, { force: values.force });
      printResult(out, { id: host.id }, `${host.id} removed`);
    },
  },
};
