#!/usr/bin/env node
/**
 * What one VM's reads of Hearth's nftables tables cost with N VMs in them, through the Agent's own
 * adapter and long-lived `nft -j -i` session, in a throwaway network namespace: the whole tables
 * (`readTable`, what a create read before), the bridge table alone (what a create with the guard
 * alone read), and the VM's entries (`readVmEntries`). For each: the nft process's CPU per read,
 * this process's CPU per read (the adapter's parse included), and the bytes nft wrote.
 *
 *   node bench/dist/nft-reads.js [--vms 100,500] [--reads 40] [--policy allow_list|allow_all]
 *
 * Each VM is written by the script the Agent writes for it (`vmEgressScript`: its chain under the
 * network bench's allow list, or allowing all, a published port, the guard of its TAP), in the
 * three layouts of `Layout`: as today, and as it was before the port lists, then the guard, stopped
 * making a set per VM. Before each read the ruleset changes (as another create's script changes it), so
 * nft's cache is read again as it is at every create. Needs root and nft.
 */
import { parseArgs } from 'node:util';
import { createNetns, missingRequirements } from '@hearth/testkit';
import { ExecFileCommandRunner } from '../../apps/agent/dist/adapters/linux/exec-file-command-runner.js';
import { NftHostFirewall } from '../../apps/agent/dist/adapters/linux/nft-host-firewall.js';
import { NftSession, type NftOutcome } from '../../apps/agent/dist/adapters/linux/nft-session.js';
import { emptyEgressTableState, guestTypesSetName, type VmTableKeys } from '../../apps/agent/dist/domain/egress-rules.js';
import type { TableFamilies } from '../../apps/agent/dist/application/ports/host-firewall.js';
import type { EgressPolicy } from '@hearth/contracts';
import { benchEgressPolicy } from './network-bench.js';
import { benchTable, benchVmOf, benchVmScript, processCpuMs } from './nft-bench-vms.js';

/** A session that counts the bytes of what nft answered. */
class CountingSession extends NftSession {
  outputBytes = 0;

  override async run(script: string, expectsOutput = false): Promise<NftOutcome> {
    const outcome = await super.run(script, expectsOutput);
    if (outcome.kind === 'output') this.outputBytes += Buffer.byteLength(outcome.stdout);
    return outcome;
  }
}

function keysOf(index: number): VmTableKeys {
  const vm = benchVmOf(index);
  return {
    vmId: vm.vmId,
    addresses: [vm.address],
    hostPorts: [{ protocol: 'tcp', hostPort: vm.hostPort }],
    taps: [vm.tap],
    sharedSets: [],
  };
}

/**
 * How a VM's script writes what it matches against a list: as today (the guard's frame types in the
 * named set `guest_types`, a port list as one rule per port: no set per VM), with each port list as
 * the anonymous `dport { … }` set it was (one set per entry with ports), or with the guard's frame
 * types as the anonymous set it was besides (`{ ip, arp }`, one more set per VM).
 */
type Layout = 'anonymous' | 'anonymous port lists' | 'no set per VM';

/** A VM's script as it was written in `layout`: today's, with the rules put back as they were. */
function inLayout(script: string, layout: Layout, vmId: string, policy: EgressPolicy): string {
  if (layout === 'no set per VM') return script;
  const verdict = policy.mode === 'allow_list' ? 'accept' : 'drop';
  const chainRule = `add rule ip ${benchTable.name} ${vmId} `;
  const anonymousRules =
    policy.mode === 'allow_list' || policy.mode === 'deny_list'
      ? policy.rules
          .filter((rule) => rule.protocol !== undefined && (rule.ports ?? []).length > 0)
          .map(
            (rule) => `${chainRule}ip daddr ${rule.cidr} ${rule.protocol} dport { ${(rule.ports ?? []).join(', ')} } ${verdict}`,
          )
      : [];
  const isPortRule = (line: string): boolean => line.startsWith(chainRule) && / dport \d+ (accept|drop)$/.test(line);
  const lines = script.split('\n');
  const first = lines.findIndex(isPortRule);
  const ports = (
    first === -1
      ? lines
      : [...lines.slice(0, first), ...anonymousRules, ...lines.slice(first).filter((line) => !isPortRule(line))]
  ).join('\n');
  return layout === 'anonymous' ? ports.replaceAll(`@${guestTypesSetName}`, '{ ip, arp }') : ports;
}

interface ReadFigures {
  readonly nftCpuMs: number;
  readonly agentCpuMs: number;
  readonly kib: number;
}

async function measure(
  vmCount: number,
  reads: number,
  layout: Layout,
  policy: EgressPolicy,
): Promise<Record<string, ReadFigures>> {
  const netns = await createNetns();
  const prefix = ['ip', 'netns', 'exec', netns.name];
  try {
    const writer = new NftHostFirewall(new ExecFileCommandRunner(), {
      netns: netns.name,
      session: new NftSession({ prefix }),
    });
    for (let index = 0; index < vmCount; index += 1) {
      const script = benchVmScript(index, policy, emptyEgressTableState);
      await writer.apply(inLayout(script, layout, benchVmOf(index).vmId, policy));
    }
    const cases: Record<string, (firewall: NftHostFirewall, index: number) => Promise<unknown>> = {
      'whole tables (readTable)': (firewall) => firewall.readTable(benchTable.name),
      'bridge table alone (readTable bridge)': (firewall) => firewall.readTable(benchTable.name, 'bridge'),
      "one VM's entries (readVmEntries)": (firewall, index) => firewall.readVmEntries(benchTable.name, keysOf(index)),
      "one VM's bridge entries (readVmEntries bridge)": (firewall, index) =>
        firewall.readVmEntries(benchTable.name, { ...keysOf(index), hostPorts: [] }, 'bridge' satisfies TableFamilies),
    };
    const figures: Record<string, ReadFigures> = {};
    for (const [name, read] of Object.entries(cases)) {
      // A session of its own, well under the commands after which a session is replaced.
      const session = new CountingSession({ prefix });
      const firewall = new NftHostFirewall(new ExecFileCommandRunner(), { netns: netns.name, session });
      await firewall.apply(`add table ip ${benchTable.name}`);
      let nftCpuMs = 0;
      let agentCpuMs = 0;
      let bytes = 0;
      for (let i = 0; i < reads; i += 1) {
        // Another create's change: nft reads its cache again at the next command.
        await firewall.apply(`add chain ip ${benchTable.name} bump\ndelete chain ip ${benchTable.name} bump`);
        const pid = session.pid;
        if (pid === undefined) throw new Error('the nft session is not running');
        const [nftBefore, agentBefore, bytesBefore] = [processCpuMs(pid), process.cpuUsage(), session.outputBytes];
        await read(firewall, Math.floor((i * vmCount) / reads));
        const agent = process.cpuUsage(agentBefore);
        nftCpuMs += processCpuMs(pid) - nftBefore;
        agentCpuMs += (agent.user + agent.system) / 1000;
        bytes += session.outputBytes - bytesBefore;
      }
      await session.close();
      figures[name] = { nftCpuMs: nftCpuMs / reads, agentCpuMs: agentCpuMs / reads, kib: bytes / reads / 1024 };
    }
    await writer.apply(`delete table ip ${benchTable.name}\ndelete table bridge ${benchTable.name}`);
    return figures;
  } finally {
    await netns.destroy();
  }
}

async function main(): Promise<void> {
  const missing = missingRequirements({ root: true, commands: ['ip', 'nft'] });
  if (missing !== undefined) {
    process.stderr.write(`nft-reads: skipped (${missing})\n`);
    return;
  }
  const { values } = parseArgs({
    options: {
      vms: { type: 'string', default: '100,500' },
      reads: { type: 'string', default: '40' },
      policy: { type: 'string', default: 'allow_list' },
    },
  });
  const reads = Number(values.reads);
  const policy: EgressPolicy = values.policy === 'allow_all' ? { mode: 'allow_all' } : benchEgressPolicy;
  for (const vmCount of values.vms.split(',').map(Number)) {
    for (const layout of ['anonymous', 'anonymous port lists', 'no set per VM'] as const satisfies readonly Layout[]) {
      const figures = await measure(vmCount, reads, layout, policy);
      process.stdout.write(`\n${vmCount} VMs (${policy.mode}), sets: ${layout}, ${reads} reads each:\n`);
      for (const [name, figure] of Object.entries(figures)) {
        process.stdout.write(
          `  ${name.padEnd(48)} nft ${figure.nftCpuMs.toFixed(1).padStart(6)} ms  agent ${figure.agentCpuMs
            .toFixed(1)
            .padStart(6)} ms  ${figure.kib.toFixed(1).padStart(7)} KiB\n`,
        );
      }
    }
  }
}

await main();
