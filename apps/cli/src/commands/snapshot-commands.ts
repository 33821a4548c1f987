import { parseArgs } from 'node:util';
import type { Snapshot } from '@hearth/sdk';
import type { Command } from '../command.js';
import { CliError, exitCodes } from '../exit-codes.js';
import { collect, onlyArgument } from '../arguments.js';
import { formatMs, printList, printObject, printResult, type Column } from '../output.js';
import { resolveSnapshot } from '../resolve-snapshot.js';
import { resolveVm } from './vm-commands.js';

const mib = (bytes: number): string => `${(bytes / 1048576).toFixed(1)} MiB`;

const snapshotColumns: readonly Column<Snapshot>[] = [
  { header: 'id', value: (snapshot) => snapshot.id },
  { header: 'vm', value: (snapshot) => snapshot.vmId },
  { header: 'state', value: (snapshot) => snapshot.state },
  { header: 'type', value: (snapshot) => (snapshot.type === 'diff' ? `diff ${snapshot.chainDepth}` : 'full') },
  { header: 'memory', value: (snapshot) => (snapshot.sizes === null ? '-' : mib(snapshot.sizes.memoryBytes)) },
  { header: 'created', value: (snapshot) => snapshot.createdAt },
];

const snapshotDetail: readonly Column<Snapshot>[] = [
  ...snapshotColumns,
  { header: 'project', value: (snapshot) => snapshot.project },
  { header: 'host', value: (snapshot) => snapshot.hostId },
  { header: 'disk', value: (snapshot) => (snapshot.sizes === null ? '-' : mib(snapshot.sizes.rootfsBytes)) },
  { header: 'paused for', value: (snapshot) => formatMs(snapshot.pauseMs) },
  { header: 'parent', value: (snapshot) => snapshot.parentId ?? '-' },
  { header: 'merged from', value: (snapshot) => snapshot.mergedFrom ?? '-' },
  { header: 'expires', value: (snapshot) => snapshot.expiresAt ?? '-' },
  {
    header: 'failure',
    value: (snapshot) =>
      snapshot.failureReason === null ? '-' : `${snapshot.failureReason.code}: ${snapshot.failureReason.message}`,
  },
];

export const snapshotCommands: Readonly<Record<string, Command>> = {
  create: {
    summary: 'Snapshot a running or paused VM (memory, devices and disk, taken while it is paused)',
    usage: '<vm> [--diff [--parent <snapshot>]] [--stop] [--expires-in seconds]',
    options: ['--diff', '--parent', '--stop', '--expires-in'],
    async run({ args, out, hearth: client }) {
      const { values, positionals } = parseArgs({
        args: [...args],
        allowPositionals: true,
        options: {
          diff: { type: 'boolean', default: false },
          parent: { type: 'string' },
          stop: { type: 'boolean', default: false },
          'expires-in': { type: 'string' },
        },
      });
      if (positionals.length !== 1) throw new CliError(exitCodes.usage, 'hearth snapshot create <vm> [--stop] [--expires-in s]');
      const hearth = await client();
      const vm = await resolveVm(hearth, positionals[0]!);
      const parent = values.parent === undefined ? undefined : await resolveSnapshot(hearth, values.parent);
      const snapshot = await hearth.snapshots.create(vm.id, {
        ...(values.diff ? { type: 'diff' as const } : {}),
        ...(parent === undefined ? {} : { parentId: parent.id }),
        ...(values.stop ? { afterwards: 'stopped' as const } : {}),
        ...(values['expires-in'] === undefined ? {} : { expiresInSeconds: Number(values['expires-in']) }),
      });
      printResult(out, snapshot, `${snapshot.id} ${snapshot.state}; the guest was paused for ${formatMs(snapshot.pauseMs)}`);
    },
  },
  ls: {
    summary: 'List snapshots',
    usage: '[--vm <vm>] [--state creating|ready|failed] [--project p]',
    options: ['--vm', '--state', '--project'],
    async run({ args, out, hearth: client }) {
      const { values } = parseArgs({
        args: [...args],
        options: { vm: { type: 'string' }, state: { type: 'string' }, project: { type: 'string' } },
      });
      const hearth = await client();
      const vmId = values.vm === undefined ? undefined : (await resolveVm(hearth, values.vm)).id;
      const state = values.state as Snapshot['state'] | undefined;
      const snapshots = hearth.snapshots.list({ vmId, state, project: values.project, pageSize: 500 });
      printList(out, await collect(snapshots), snapshotColumns);
    },
  },
  get: {
    summary: 'Show a snapshot',
    usage: '<snapshot>',
    async run({ args, out, hearth }) {
      printObject(
        out,
        await resolveSnapshot(await hearth(), onlyArgument(args, 'hearth snapshot get <snapshot>')),
        snapshotDetail,
      );
    },
  },
  merge: {
    summary: 'Make a full snapshot of a diff snapshot and its chain (the VM is not paused)',
    usage: '<snapshot> [--no-wait]',
    options: ['--no-wait'],
    async run({ args, out, hearth: client }) {
      const { values, positionals } = parseArgs({
        args: [...args],
        allowPositionals: true,
        options: { 'no-wait': { type: 'boolean', default: false } },
      });
      if (positionals.length !== 1) throw new CliError(exitCodes.usage, 'hearth snapshot merge <snapshot> [--no-wait]');
      const hearth = await client();
      const diff = await resolveSnapshot(hearth, positionals[0]!);
      const merged = await hearth.snapshots.merge(diff.id, { wait: !values['no-wait'] });
      printResult(out, merged, `${merged.id} ${merged.state}, merged from ${diff.id}`);
    },
  },
  expire: {
    summary: 'Set when a snapshot is removed (kept past it while a VM or template still needs it), or never',
    usage: '<snapshot> (--in seconds | --never)',
    options: ['--in', '--never'],
    async run({ args, out, hearth: client }) {
      const usage = 'hearth snapshot expire <snapshot> (--in seconds | --never)';
      const { values, positionals } = parseArgs({
        args: [...args],
        allowPositionals: true,
        options: { in: { type: 'string' }, never: { type: 'boolean', default: false } },
      });
      if (positionals.length !== 1 || (values.in === undefined) === !values.never) throw new CliError(exitCodes.usage, usage);
      if (values.in !== undefined && !/^[1-9][0-9]{0,8}$/.test(values.in)) {
        throw new CliError(exitCodes.usage, `--in takes a whole number of seconds, got "${values.in}"; ${usage}`);
      }
      const hearth = await client();
      const snapshot = await resolveSnapshot(hearth, positionals[0]!);
      const expiresAt = values.in === undefined ? null : new Date(Date.now() + Number(values.in) * 1000);
      const changed = await hearth.snapshots.setExpiry(snapshot.id, expiresAt);
      printResult(
        out,
        changed,
        `${changed.id} ${changed.expiresAt === null ? 'never expires' : `expires at ${changed.expiresAt}`}`,
      );
    },
  },
  rm: {
    summary: 'Delete a snapshot and its files',
    usage: '<snapshot>',
    async run({ args, out, hearth: client }) {
      const hearth = await client();
      const snapshot = await resolveSnapshot(hearth, onlyArgument(args, 'hearth snapshot rm <snapshot>'));
      await hearth.snapshots.delete(snapshot.id);
      printResult(out, { id: snapshot.id }, `${snapshot.id} deleted`);
    },
  },
};
