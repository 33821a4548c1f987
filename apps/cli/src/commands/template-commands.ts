import { parseArgs } from 'node:util';
import {
  egressText,
  rateLimitsText,
  type CreateTemplateRequest,
  type Hearth,
  type Template,
  type UpdateTemplateRequest,
} from '@hearth/sdk';
import type { Command } from '../command.js';
import { CliError, exitCodes } from '../exit-codes.js';
import { collect, onlyArgument } from '../arguments.js';
import { printList, printObject, printResult, type Column } from '../output.js';
import { resolveReference } from '../resolve.js';
import { createEgressOfFlags, rateLimitsOfFlags } from '../network-flags.js';
import { resolveImage } from './image-commands.js';
import { resolveSnapshot } from '../resolve-snapshot.js';

const templateColumns: readonly Column<Template>[] = [
  { header: 'id', value: (template) => template.id },
  { header: 'name', value: (template) => template.name },
  { header: 'vcpus', value: (template) => String(template.vcpuCount) },
  { header: 'memory', value: (template) => `${template.memoryMib} MiB` },
  { header: 'project', value: (template) => template.project },
];

const templateDetail: readonly Column<Template>[] = [
  ...templateColumns,
  { header: 'description', value: (template) => template.description || '-' },
  { header: 'kernel', value: (template) => template.kernelImageId },
  { header: 'rootfs', value: (template) => template.rootfsImageId },
  { header: 'boot args', value: (template) => template.bootArgs || '-' },
  { header: 'restart', value: (template) => template.restartPolicy },
  { header: 'snapshot', value: (template) => template.snapshotId ?? '-' },
  { header: 'egress', value: (template) => egressText(template.egress) },
  { header: 'shared network', value: (template) => template.sharedNetwork ?? '-' },
  { header: 'rate limits', value: (template) => rateLimitsText(template.rateLimits) },
  { header: 'version', value: (template) => String(template.version) },
  { header: 'updated', value: (template) => template.updatedAt },
];

export function resolveTemplate(hearth: Hearth, reference: string): Promise<Template> {
  return resolveReference('template', reference, {
    idPrefix: 'tpl_',
    byId: (id) => hearth.templates.get(id),
    byName: (name) => collect(hearth.templates.list({ name, pageSize: 500 })),
    all: () => hearth.templates.list({ pageSize: 500 }),
  });
}

/** The options a template's values are given with, on `create` and `set`. */
const presetOptions = {
  kernel: { type: 'string' },
  rootfs: { type: 'string' },
  vcpus: { type: 'string' },
  memory: { type: 'string' },
  'boot-args': { type: 'string' },
  restart: { type: 'string' },
  description: { type: 'string' },
  'shared-network': { type: 'string' },
  egress: { type: 'string' },
  allow: { type: 'string', multiple: true },
  deny: { type: 'string', multiple: true },
  limit: { type: 'string', multiple: true },
} as const;
const presetFlags = [
  '--kernel',
  '--rootfs',
  '--vcpus',
  '--memory',
  '--boot-args',
  '--restart',
  '--description',
  '--shared-network',
  '--egress',
  '--allow',
  '--deny',
  '--limit',
];
const presetUsage =
  '[--vcpus n] [--memory MiB] [--boot-args s] [--restart policy] [--description d] [--shared-network name] ' +
  '[--egress allow|deny | --allow CIDR… | --deny CIDR…] [--limit DEVICE.BUCKET=SIZE/MS[+BURST]]…';

type PresetValues = {
  readonly [K in keyof typeof presetOptions]?: (typeof presetOptions)[K] extends { multiple: true }
    ? string[] | undefined
    : string | undefined;
};

/**
 * The fields the flags give, network settings as `hearth vm create` takes them (`--limit` gives all
 * of the template's limits); the Manager checks their values and names a wrong one.
 */
async function presetOf(hearth: Hearth, values: PresetValues): Promise<UpdateTemplateRequest> {
  const restartPolicy = values.restart as Template['restartPolicy'] | undefined;
  const egress = createEgressOfFlags(values);
  const limits = values.limit ?? [];
  return {
    ...(values.kernel === undefined ? {} : { kernelImageId: (await resolveImage(hearth, values.kernel, 'kernel')).id }),
    ...(values.rootfs === undefined ? {} : { rootfsImageId: (await resolveImage(hearth, values.rootfs, 'rootfs')).id }),
    ...(values.vcpus === undefined ? {} : { vcpuCount: Number(values.vcpus) }),
    ...(values.memory === undefined ? {} : { memoryMib: Number(values.memory) }),
    ...(values['boot-args'] === undefined ? {} : { bootArgs: values['boot-args'] }),
    ...(restartPolicy === undefined ? {} : { restartPolicy }),
    ...(values.description === undefined ? {} : { description: values.description }),
    ...(values['shared-network'] === undefined ? {} : { sharedNetwork: values['shared-network'] }),
    ...(egress === undefined ? {} : { egress }),
    ...(limits.length === 0 ? {} : { rateLimits: rateLimitsOfFlags(limits) }),
  };
}

export const templateCommands: Readonly<Record<string, Command>> = {
  ls: {
    summary: 'List templates',
    usage: '[--name part] [--project p]',
    options: ['--name', '--project'],
    async run({ args, out, hearth }) {
      const { values } = parseArgs({ args: [...args], options: { name: { type: 'string' }, project: { type: 'string' } } });
      const templates = (await hearth()).templates.list({ name: values.name, project: values.project, pageSize: 500 });
      printList(out, await collect(templates), templateColumns);
    },
  },
  get: {
    summary: 'Show a template',
    usage: '<template>',
    async run({ args, out, hearth }) {
      printObject(
        out,
        await resolveTemplate(await hearth(), onlyArgument(args, 'hearth template get <template>')),
        templateDetail,
      );
    },
  },
  create: {
    summary: 'Create a template: a named VM preset (hearth vm create --template uses it); with --snapshot, its VMs are clones',
    usage: `<name> (--kernel <image> --rootfs <image> | --snapshot <snapshot>) ${presetUsage} [--project p]`,
    options: [...presetFlags, '--snapshot', '--project'],
    async run({ args, out, hearth: client }) {
      const { values, positionals } = parseArgs({
        args: [...args],
        allowPositionals: true,
        options: { ...presetOptions, snapshot: { type: 'string' }, project: { type: 'string' } },
      });
      const fromImages = values.kernel !== undefined && values.rootfs !== undefined;
      if (positionals.length !== 1 || fromImages === (values.snapshot !== undefined)) {
        throw new CliError(
          exitCodes.usage,
          'hearth template create <name> --kernel <image> --rootfs <image>, or hearth template create <name> --snapshot <snapshot>',
        );
      }
      const hearth = await client();
      // As for `hearth vm create`: 1 vCPU and 128 MiB unless given; a snapshot gives its VM's.
      const preset = await presetOf(
        hearth,
        fromImages ? { ...values, vcpus: values.vcpus ?? '1', memory: values.memory ?? '128' } : values,
      );
      const snapshot = values.snapshot === undefined ? undefined : await resolveSnapshot(hearth, values.snapshot);
      const template = await hearth.templates.create({
        ...(preset as CreateTemplateRequest),
        name: positionals[0]!,
        ...(snapshot === undefined ? {} : { snapshotId: snapshot.id }),
        ...(values.project === undefined ? {} : { project: values.project }),
      });
      printResult(out, template, template.id);
    },
  },
  set: {
    summary: 'Change a template (VMs created from it keep what they copied)',
    usage: `<template> [--name n] [--snapshot <snapshot>|none] [--kernel <image>] [--rootfs <image>] ${presetUsage} [--no-shared-network] [--no-limits]`,
    options: ['--name', '--snapshot', ...presetFlags, '--no-shared-network', '--no-limits'],
    async run({ args, out, hearth: client }) {
      const { values, positionals } = parseArgs({
        args: [...args],
        allowPositionals: true,
        options: {
          ...presetOptions,
          name: { type: 'string' },
          snapshot: { type: 'string' },
          'no-shared-network': { type: 'boolean', default: false },
          'no-limits': { type: 'boolean', default: false },
        },
      });
      if (positionals.length !== 1) throw new CliError(exitCodes.usage, 'hearth template set <template> [--field value…]');
      if (values['no-shared-network'] && values['shared-network'] !== undefined) {
        throw new CliError(exitCodes.usage, 'give --shared-network or --no-shared-network, not both');
      }
      if (values['no-limits'] && values.limit !== undefined)
        throw new CliError(exitCodes.usage, 'give --limit or --no-limits, not both');
      const hearth = await client();
      const template = await resolveTemplate(hearth, positionals[0]!);
      // `--snapshot none` drops the snapshot: VMs created from the template boot again.
      let snapshotId: string | null | undefined;
      if (values.snapshot === 'none') snapshotId = null;
      else if (values.snapshot !== undefined) snapshotId = (await resolveSnapshot(hearth, values.snapshot)).id;
      const changes = {
        ...(await presetOf(hearth, values)),
        ...(values.name === undefined ? {} : { name: values.name }),
        ...(snapshotId === undefined ? {} : { snapshotId }),
        ...(values['no-shared-network'] ? { sharedNetwork: null } : {}),
        ...(values['no-limits'] ? { rateLimits: {} } : {}),
      };
      if (Object.keys(changes).length === 0) throw new CliError(exitCodes.usage, 'nothing to change: give at least one --field');
      // Only the version just shown is changed: a concurrent change is a 412, never overwritten.
      const updated = await hearth.templates.update(template.id, changes, { ifVersion: template.version });
      printResult(out, updated, `${updated.id} is at version ${updated.version}`);
    },
  },
  rm: {
    summary: 'Delete a template (VMs created from it are not changed)',
    usage: '<template>',
    async run({ args, out, hearth: client }) {
      const hearth = await client();
      const template = await resolveTemplate(hearth, onlyArgument(args, 'hearth template rm <template>'));
      await hearth.templates.delete(template.id, { ifVersion: template.version });
      printResult(out, { id: template.id }, `${template.id} deleted`);
    },
  },
};
