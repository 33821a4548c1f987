import { parseArgs } from 'node:util';
import {
  VmWaitError,
  describeConsoleEnd,
  isDeleteUnderWay,
  egressText,
  rateLimitsText,
  type Hearth,
  type Vm,
  type VmState,
} from '@hearth/sdk';
import type { Command } from '../command.js';
import { CliError, exitCodes } from '../exit-codes.js';
import { collect, onlyArgument } from '../arguments.js';
import { formatMs, printEvents, printList, printObject, printResult, type Column, type Output } from '../output.js';
import { resolveReference } from '../resolve.js';
import { resolveSnapshot } from '../resolve-snapshot.js';
import { resolveImage } from './image-commands.js';
import { resolveTemplate } from './template-commands.js';
import { runConsole, type ConsoleTerminal } from '../console-terminal.js';
import {
  createEgressOfFlags,
  egressPolicyOfFlags,
  parsePortFlag,
  rateLimitsChangeOfFlags,
  rateLimitsOfFlags,
} from '../network-flags.js';

/** The process's own terminal; SIGINT, SIGTERM and SIGHUP detach (and so restore the terminal). */
function processTerminal(): ConsoleTerminal {
  return {
    input: process.stdin,
    output: process.stdout,
    notice: (line) => process.stderr.write(`${line}\r\n`),
    onInterrupt: (end) => {
      const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
      for (const signal of signals) process.on(signal, end);
      return () => {
        for (const signal of signals) process.off(signal, end);
      };
    },
  };
}

const vmColumns: readonly Column<Vm>[] = [
  { header: 'id', value: (vm) => vm.id },
  { header: 'name', value: (vm) => vm.name },
  { header: 'state', value: (vm) => vm.state },
  { header: 'vcpus', value: (vm) => String(vm.vcpuCount) },
  { header: 'memory', value: (vm) => `${vm.memoryMib} MiB` },
  { header: 'project', value: (vm) => vm.project },
  { header: 'host', value: (vm) => vm.hostId },
];

const vmDetail: readonly Column<Vm>[] = [
  ...vmColumns,
  { header: 'version', value: (vm) => String(vm.version) },
  { header: 'restart', value: (vm) => vm.restartPolicy },
  { header: 'egress', value: (vm) => egressText(vm.egress) },
  { header: 'ports', value: (vm) => vm.ports.map((p) => `${p.hostPort}:${p.guestPort}/${p.protocol}`).join(' ') || '-' },
  { header: 'shared network', value: (vm) => vm.sharedNetwork ?? '-' },
  { header: 'rate limits', value: (vm) => rateLimitsText(vm.rateLimits) },
  {
    header: 'failure',
    value: (vm) => (vm.failureReason === null ? '-' : `${vm.failureReason.code}: ${vm.failureReason.message}`),
  },
  { header: 'start time', value: (vm) => formatMs(vm.totalMs) },
  { header: 'steps', value: (vm) => vm.steps.map((step) => `${step.name} ${formatMs(step.durationMs)}`).join(', ') || '-' },
  { header: 'created', value: (vm) => vm.createdAt },
];

export function resolveVm(hearth: Hearth, reference: string): Promise<Vm> {
  return resolveReference('VM', reference, {
    idPrefix: 'vm_',
    byId: (id) => hearth.vms.get(id),
    byName: (name) => hearth.vms.findByName(name),
    all: () => hearth.vms.list({ pageSize: 500 }),
  });
}

/** How often `hearth vm logs --follow` reads the console again. */
const consolePollMs = 1000;
/** How much of the end of the output already shown is looked for in the next read. */
const consoleAnchorLength = 256;

/**
 * What `latest` (the end of the console output now) adds to `shown` (its end before): what follows
 * the last place where the end of `shown` appears, or all of `latest` when it appears nowhere (the
 * console printed more than one read holds since).
 */
export function consoleAddition(shown: string, latest: string): string {
  if (shown === '') return latest;
  const anchor = shown.slice(-consoleAnchorLength);
  const at = latest.lastIndexOf(anchor);
  return at === -1 ? latest : latest.slice(at + anchor.length);
}

function printSteps(out: Output, vm: Vm): void {
  const total = 'total (as the Manager saw it)';
  const width = Math.max(total.length, ...vm.steps.map((step) => step.name.length));
  for (const step of vm.steps) out.line(`  ${step.name.padEnd(width)} ${formatMs(step.durationMs).padStart(9)}`);
  out.line(`  ${total.padEnd(width)} ${formatMs(vm.totalMs).padStart(9)}`);
}

/** Follows the VM's events from its first, printing each state change, until `target` (or a failure). */
async function followUntil(hearth: Hearth, out: Output, vm: Vm, target: VmState, timeoutMs: number): Promise<Vm> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  const started = Date.now();
  try {
    for await (const event of hearth.events({ vmId: vm.id, since: 0, signal: abort.signal })) {
      if (event.toState === null) continue;
      if (out.format === 'table')
        out.line(`${formatMs(Date.now() - started).padStart(9)}  ${event.fromState ?? '-'} → ${event.toState}`);
      if (event.toState === target) break;
      if (event.toState === 'failed') break;
    }
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  const current = await hearth.vms.get(vm.id);
  if (current.state !== target) {
    throw new VmWaitError(current.state === 'failed' ? 'failed' : 'timed_out', current, target);
  }
  return current;
}

export const vmCommands: Readonly<Record<string, Command>> = {
  create: {
    summary: 'Create a VM from images or a template, or clones of a snapshot (--wait: show each step until it runs)',
    usage:
      '<name> (--kernel <image> --rootfs <image> | --template <template> | --snapshot <snapshot>) [--count n] [--vcpus n] [--memory MiB] [--project p] [--boot-args s] [--restart policy] ' +
      '[--port HOST:GUEST[/proto]]… [--shared-network name] [--egress allow|deny | --allow CIDR…| --deny CIDR…] [--limit DEVICE.BUCKET=SIZE/MS[+BURST]]… [--wait] [--timeout s]',
    options: [
      '--kernel',
      '--rootfs',
      '--template',
      '--snapshot',
      '--count',
      '--vcpus',
      '--memory',
      '--project',
      '--boot-args',
      '--restart',
      '--port',
      '--shared-network',
      '--egress',
      '--allow',
      '--deny',
      '--limit',
      '--wait',
      '--timeout',
    ],
    async run({ args, out, hearth: client }) {
      const { values, positionals } = parseArgs({
        args: [...args],
        allowPositionals: true,
        options: {
          kernel: { type: 'string' },
          rootfs: { type: 'string' },
          template: { type: 'string' },
          snapshot: { type: 'string' },
          count: { type: 'string' },
          vcpus: { type: 'string' },
          memory: { type: 'string' },
          project: { type: 'string' },
          'boot-args': { type: 'string' },
          restart: { type: 'string' },
          port: { type: 'string', multiple: true },
          'shared-network': { type: 'string' },
          egress: { type: 'string' },
          allow: { type: 'string', multiple: true },
          deny: { type: 'string', multiple: true },
          limit: { type: 'string', multiple: true },
          wait: { type: 'boolean', default: false },
          timeout: { type: 'string', default: '300' },
        },
      });
      const fromImages = values.kernel !== undefined && values.rootfs !== undefined;
      const origins = [fromImages, values.template !== undefined, values.snapshot !== undefined].filter(Boolean).length;
      if (positionals.length !== 1 || origins !== 1) {
        throw new CliError(
          exitCodes.usage,
          'hearth vm create <name> with one of --kernel <image> --rootfs <image>, --template <template> or --snapshot <snapshot>',
        );
      }
      const count = values.count === undefined ? undefined : Number(values.count);
      if (count !== undefined && (!Number.isInteger(count) || count < 1 || fromImages)) {
        throw new CliError(exitCodes.usage, '--count n (1 or more) needs --snapshot, or a --template that carries a snapshot');
      }
      const ports = (values.port ?? []).map(parsePortFlag);
      const egress = createEgressOfFlags(values);
      const rateLimits = rateLimitsOfFlags(values.limit ?? []);
      const hearth = await client();
      // With a template, what is given replaces the template's value; a clone is its snapshot VM's
      // size; otherwise 1 vCPU and 128 MiB.
      const template = values.template === undefined ? undefined : await resolveTemplate(hearth, values.template);
      const snapshot = values.snapshot === undefined ? undefined : await resolveSnapshot(hearth, values.snapshot);
      const kernel = values.kernel === undefined ? undefined : await resolveImage(hearth, values.kernel, 'kernel');
      const rootfs = values.rootfs === undefined ? undefined : await resolveImage(hearth, values.rootfs, 'rootfs');
      const vcpus = values.vcpus ?? (fromImages ? '1' : undefined);
      const memory = values.memory ?? (fromImages ? '128' : undefined);
      const restartPolicy = values.restart as 'never' | 'on-failure' | 'always' | undefined;
      const request = {
        name: positionals[0]!,
        ...(template === undefined ? {} : { templateId: template.id }),
        ...(snapshot === undefined ? {} : { snapshotId: snapshot.id }),
        ...(kernel === undefined ? {} : { kernelImageId: kernel.id }),
        ...(rootfs === undefined ? {} : { rootfsImageId: rootfs.id }),
        ...(vcpus === undefined ? {} : { vcpuCount: Number(vcpus) }),
        ...(memory === undefined ? {} : { memoryMib: Number(memory) }),
        ...(values.project === undefined ? {} : { project: values.project }),
        ...(values['boot-args'] === undefined ? {} : { bootArgs: values['boot-args'] }),
        ...(restartPolicy === undefined ? {} : { restartPolicy }),
        ...(ports.length === 0 ? {} : { ports }),
        ...(values['shared-network'] === undefined ? {} : { sharedNetwork: values['shared-network'] }),
        ...(egress === undefined ? {} : { egress }),
        ...(Object.keys(rateLimits).length === 0 ? {} : { rateLimits }),
      };
      if (count !== undefined) {
        // The Manager waits for all of them (its own wait limit), or answers them pending.
        const clones = await hearth.vms.clone({ ...request, count }, values.wait ? {} : { wait: false });
        printList(out, clones, vmColumns);
        return;
      }
      const created = await hearth.vms.create(request, { wait: false });
      if (!values.wait) {
        printResult(out, created, created.id);
        return;
      }
      if (out.format === 'table') out.line(`${created.id} ${created.name}`);
      const running = await followUntil(hearth, out, created, 'running', Number(values.timeout) * 1000);
      if (out.format === 'json') {
        out.json(running);
        return;
      }
      out.line(`running on ${running.hostId}; host steps:`);
      printSteps(out, running);
    },
  },
  ls: {
    summary: 'List VMs',
    usage: '[--project p] [--name n]',
    options: ['--project', '--name'],
    async run({ args, out, hearth }) {
      const { values } = parseArgs({ args: [...args], options: { project: { type: 'string' }, name: { type: 'string' } } });
      const vms = (await hearth()).vms.list({ project: values.project, name: values.name, pageSize: 500 });
      printList(out, await collect(vms), vmColumns);
    },
  },
  get: {
    summary: 'Show a VM, with its host steps',
    usage: '<vm>',
    async run({ args, out, hearth }) {
      printObject(out, await resolveVm(await hearth(), onlyArgument(args, 'hearth vm get <vm>')), vmDetail);
    },
  },
  ...Object.fromEntries(
    (['start', 'stop', 'pause', 'resume'] as const).map((action) => [
      action,
      {
        summary: `${action[0]!.toUpperCase()}${action.slice(1)} a VM`,
        usage: '<vm>',
        async run({ args, out, hearth: client }) {
          const hearth = await client();
          const vm = await resolveVm(hearth, onlyArgument(args, `hearth vm ${action} <vm>`));
          // No `If-Match`: the command asks for the state, whatever version the VM is at; the VM's own
          // transitions (a start still under way) change its version meanwhile.
          const changed = await hearth.vms[action](vm.id);
          printResult(out, changed, `${changed.id} ${changed.state}`);
        },
      } satisfies Command,
    ]),
  ),
  restore: {
    summary: 'Restore a VM in place to one of its own snapshots (it keeps its id, address and MAC)',
    usage: '<vm> <snapshot> [--paused] [--no-wait]',
    options: ['--paused', '--no-wait'],
    async run({ args, out, hearth: client }) {
      const { values, positionals } = parseArgs({
        args: [...args],
        allowPositionals: true,
        options: { paused: { type: 'boolean', default: false }, 'no-wait': { type: 'boolean', default: false } },
      });
      if (positionals.length !== 2)
        throw new CliError(exitCodes.usage, 'hearth vm restore <vm> <snapshot> [--paused] [--no-wait]');
      const hearth = await client();
      const vm = await resolveVm(hearth, positionals[0]!);
      const snapshot = await resolveSnapshot(hearth, positionals[1]!);
      // No `If-Match`, as for start and stop: the VM's own transitions change its version meanwhile.
      const restored = await hearth.vms.restore(vm.id, snapshot.id, {
        ...(values.paused ? { afterwards: 'paused' as const } : {}),
        ...(values['no-wait'] ? { wait: false } : {}),
      });
      printResult(out, restored, `${restored.id} ${restored.state} (snapshot ${snapshot.id})`);
    },
  },
  egress: {
    summary: "Replace a VM's egress policy (a running VM's host applies it at once)",
    usage: '<vm> --allow-all | --deny-all | --allow CIDR[:proto[:ports]]… | --deny CIDR[:proto[:ports]]…',
    options: ['--allow-all', '--deny-all', '--allow', '--deny'],
    async run({ args, out, hearth: client }) {
      const { values, positionals } = parseArgs({
        args: [...args],
        allowPositionals: true,
        options: {
          'allow-all': { type: 'boolean' },
          'deny-all': { type: 'boolean' },
          allow: { type: 'string', multiple: true },
          deny: { type: 'string', multiple: true },
        },
      });
      if (positionals.length !== 1) {
        throw new CliError(exitCodes.usage, 'hearth vm egress <vm> --allow-all|--deny-all|--allow CIDR…|--deny CIDR…');
      }
      const policy = egressPolicyOfFlags(values);
      const hearth = await client();
      const vm = await resolveVm(hearth, positionals[0]!);
      // No `If-Match`: the policy is the whole of what was asked, not derived from the VM as read, and
      // the VM's own start or stop changes its version meanwhile (a create without --wait, say).
      const changed = await hearth.vms.setEgress(vm.id, policy);
      printResult(out, changed, `${changed.id} egress ${egressText(changed.egress)}`);
    },
  },
  limits: {
    summary: "Change a VM's rate limits (a running VM's host applies them at once, without a restart)",
    usage: '<vm> [--limit DEVICE.BUCKET=SIZE/REFILL_MS[+BURST]]… [--unlimit DEVICE]…  (DEVICE: net-rx, net-tx, drive)',
    options: ['--limit', '--unlimit'],
    async run({ args, out, hearth: client }) {
      const { values, positionals } = parseArgs({
        args: [...args],
        allowPositionals: true,
        options: { limit: { type: 'string', multiple: true }, unlimit: { type: 'string', multiple: true } },
      });
      if (positionals.length !== 1) {
        throw new CliError(
          exitCodes.usage,
          'hearth vm limits <vm> [--limit DEVICE.BUCKET=SIZE/REFILL_MS[+BURST]]… [--unlimit DEVICE]…',
        );
      }
      const change = rateLimitsChangeOfFlags(values);
      const hearth = await client();
      const vm = await resolveVm(hearth, positionals[0]!);
      // No `If-Match`: the Manager merges the change into the limits it holds (a lost race merges
      // again), and the VM's own start or stop changes its version meanwhile.
      const changed = await hearth.vms.updateRateLimits(vm.id, change);
      printResult(out, changed, `${changed.id} rate limits ${rateLimitsText(changed.rateLimits)}`);
    },
  },
  rm: {
    summary: 'Delete a VM and everything its host holds for it',
    usage: '<vm>',
    async run({ args, out, hearth: client }) {
      const hearth = await client();
      const vm = await resolveVm(hearth, onlyArgument(args, 'hearth vm rm <vm>'));
      const deleted = await hearth.vms.delete(vm.id);
      // Accepted but not finished (its host did not confirm in time): the Manager finishes it.
      printResult(out, deleted, isDeleteUnderWay(deleted) ? `${deleted.id} deleting` : `${deleted.id} deleted`);
    },
  },
  wait: {
    summary: 'Wait until a VM is in a state (exit 5 if it fails or time runs out)',
    usage: '<vm> [--state running] [--timeout s]',
    options: ['--state', '--timeout'],
    async run({ args, out, hearth: client }) {
      const { values, positionals } = parseArgs({
        args: [...args],
        allowPositionals: true,
        options: { state: { type: 'string', default: 'running' }, timeout: { type: 'string', default: '300' } },
      });
      if (positionals.length !== 1) throw new CliError(exitCodes.usage, 'hearth vm wait <vm> [--state s]');
      const hearth = await client();
      const vm = await resolveVm(hearth, positionals[0]!);
      const reached = await hearth.vms.waitFor(vm.id, values.state as VmState, { timeoutMs: Number(values.timeout) * 1000 });
      printResult(out, reached, `${reached.id} ${reached.state}`);
    },
  },
  console: {
    summary: "Attach to a VM's serial console (Ctrl-] detaches); piped input is typed, then it detaches",
    usage: '<vm> [--backlog BYTES] [--until TEXT] [--linger-ms MS]',
    options: ['--backlog', '--until', '--linger-ms'],
    async run({ args, hearth: client }) {
      const { values, positionals } = parseArgs({
        args: [...args],
        allowPositionals: true,
        options: { backlog: { type: 'string' }, until: { type: 'string' }, 'linger-ms': { type: 'string', default: '1000' } },
      });
      const usage = 'hearth vm console <vm> [--backlog BYTES] [--until TEXT] [--linger-ms MS]';
      if (positionals.length !== 1) throw new CliError(exitCodes.usage, usage);
      const backlogBytes = values.backlog === undefined ? undefined : Number(values.backlog);
      const lingerMs = Number(values['linger-ms']);
      if ((backlogBytes !== undefined && (!Number.isInteger(backlogBytes) || backlogBytes < 0)) || !(lingerMs >= 0)) {
        throw new CliError(exitCodes.usage, '--backlog and --linger-ms take whole numbers of 0 or more');
      }
      const hearth = await client();
      const vm = await resolveVm(hearth, positionals[0]!);
      const session = await hearth.vms.attachConsole(vm.id, backlogBytes === undefined ? {} : { backlogBytes });
      const outcome = await runConsole(session, processTerminal(), {
        lingerMs,
        ...(values.until === undefined ? {} : { until: values.until }),
      });
      if (outcome.kind === 'detached') return exitCodes.ok;
      process.stderr.write(`\r\nThe console was closed: ${describeConsoleEnd(outcome.closed)}\r\n`);
      return outcome.closed.reason === 'vm_stopped' ? exitCodes.ok : exitCodes.failed;
    },
  },
  logs: {
    summary: "The end of a VM's serial console output; --follow keeps printing what it adds",
    usage: '<vm> [--bytes N] [--follow]',
    options: ['--bytes', '--follow'],
    async run({ args, out, hearth: client }) {
      const { values, positionals } = parseArgs({
        args: [...args],
        allowPositionals: true,
        options: { bytes: { type: 'string' }, follow: { type: 'boolean', short: 'f', default: false } },
      });
      if (positionals.length !== 1) throw new CliError(exitCodes.usage, 'hearth vm logs <vm> [--bytes N] [--follow]');
      const bytes = values.bytes === undefined ? undefined : Number(values.bytes);
      if (bytes !== undefined && (!Number.isInteger(bytes) || bytes < 1)) {
        throw new CliError(exitCodes.usage, '--bytes takes a positive whole number');
      }
      const hearth = await client();
      const vm = await resolveVm(hearth, positionals[0]!);
      let shown = await hearth.vms.consoleLog(vm.id, { bytes });
      if (out.format === 'json') out.json({ id: vm.id, console: shown });
      else out.write(shown);
      while (values.follow) {
        await new Promise((resolve) => setTimeout(resolve, consolePollMs));
        const latest = await hearth.vms.consoleLog(vm.id);
        const added = consoleAddition(shown, latest);
        if (added === '') continue;
        if (out.format === 'json') out.json({ id: vm.id, console: added });
        else out.write(added);
        shown = latest;
      }
    },
  },
  events: {
    summary: "A VM's events; --follow keeps printing them as they happen",
    usage: '<vm> [--follow]',
    options: ['--follow'],
    async run({ args, out, hearth: client }) {
      const { values, positionals } = parseArgs({
        args: [...args],
        allowPositionals: true,
        options: { follow: { type: 'boolean', short: 'f', default: false } },
      });
      if (positionals.length !== 1) throw new CliError(exitCodes.usage, 'hearth vm events <vm> [--follow]');
      const hearth = await client();
      const vm = await resolveVm(hearth, positionals[0]!);
      const events = values.follow ? hearth.events({ vmId: vm.id, since: 0 }) : hearth.vms.events(vm.id);
      await printEvents(out, events);
    },
  },
};
