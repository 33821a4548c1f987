import { parseArgs } from 'node:util';
import type { Project, ProjectQuota } from '@hearth/sdk';
import { onlyArgument } from '../arguments.js';
import type { Command } from '../command.js';
import { CliError, exitCodes } from '../exit-codes.js';
import { printList, printObject, printResult, type Column } from '../output.js';

const limit = (value: number | null): string => (value === null ? 'no limit' : String(value));

const projectColumns: readonly Column<Project>[] = [
  { header: 'name', value: (project) => project.name },
  { header: 'max vms', value: (project) => limit(project.quota.maxVms) },
  { header: 'max vcpus', value: (project) => limit(project.quota.maxVcpus) },
  { header: 'max memory MiB', value: (project) => limit(project.quota.maxMemoryMib) },
];

const quotaOptions = {
  'max-vms': { type: 'string' },
  'max-vcpus': { type: 'string' },
  'max-memory': { type: 'string' },
} as const;

/** A quota from `--max-vms n` and the like; `none` (or leaving it out) is no limit. */
function quotaOf(values: { 'max-vms'?: string; 'max-vcpus'?: string; 'max-memory'?: string }): ProjectQuota {
  const parse = (option: string, value: string | undefined): number | null => {
    if (value === undefined || value === 'none') return null;
    if (!/^\d+$/.test(value)) throw new CliError(exitCodes.usage, `--${option} takes a number or none`);
    return Number(value);
  };
  return {
    maxVms: parse('max-vms', values['max-vms']),
    maxVcpus: parse('max-vcpus', values['max-vcpus']),
    maxMemoryMib: parse('max-memory', values['max-memory']),
  };
}

export const projectCommands: Readonly<Record<string, Command>> = {
  ls: {
    summary: 'List the projects the token is bound to, with their quotas',
    usage: '',
    async run({ out, hearth }) {
      printList(out, await (await hearth()).projects.list(), projectColumns);
    },
  },
  get: {
    summary: 'Show a project and its quota',
    usage: '<project>',
    async run({ args, out, hearth }) {
      printObject(out, await (await hearth()).projects.get(onlyArgument(args, 'hearth project get <project>')), projectColumns);
    },
  },
  create: {
    summary: 'Create a project (no limit unless given)',
    usage: '<name> [--max-vms n] [--max-vcpus n] [--max-memory MiB]',
    options: ['--max-vms', '--max-vcpus', '--max-memory'],
    async run({ args, out, hearth }) {
      const { values, positionals } = parseArgs({ args: [...args], allowPositionals: true, options: quotaOptions });
      if (positionals.length !== 1) throw new CliError(exitCodes.usage, 'usage: hearth project create <name> [--max-vms n]');
      const project = await (await hearth()).projects.create({ name: positionals[0]!, quota: quotaOf(values) });
      printResult(out, project, project.name);
    },
  },
  quota: {
    summary: "Set a project's whole quota (a limit left out, or none, is no limit)",
    usage: '<project> [--max-vms n|none] [--max-vcpus n|none] [--max-memory MiB|none]',
    options: ['--max-vms', '--max-vcpus', '--max-memory'],
    async run({ args, out, hearth }) {
      const { values, positionals } = parseArgs({ args: [...args], allowPositionals: true, options: quotaOptions });
      if (positionals.length !== 1) throw new CliError(exitCodes.usage, 'usage: hearth project quota <project> [--max-vms n]');
      const project = await (await hearth()).projects.setQuota(positionals[0]!, quotaOf(values));
      printObject(out, project, projectColumns);
    },
  },
  rm: {
    summary: 'Delete an empty project',
    usage: '<project>',
    async run({ args, out, hearth }) {
      const name = onlyArgument(args, 'hearth project rm <project>');
      await (await hearth()).projects.delete(name);
      printResult(out, { name }, `${name} deleted`);
    },
  },
};
