#!/usr/bin/env node
/**
 * What one VM's change of Hearth's nftables tables costs the Agent's long-lived `nft -j -i` session,
 * sent as one line (nft's line editor reads it a byte per `read(2)`) or written to a file the line
 * `include "<file>"` names, in a throwaway network namespace. Each VM's create is the script the
 * Agent writes for it (`vmEgressScript`: its chain under the network bench's allow list, a
 * published port, the guard of its TAP), its delete `removeVmsScript`; the two sessions take turns
 * VM by VM, so both see the ruleset at the same sizes. For each: the nft process's CPU per script
 * (from `/proc`, summed over every script and divided), this process's CPU per script, and the
 * scripts a line could not hold (answered `unavailable`, which the Agent forks an `nft` for).
 *
 *   node bench/dist/nft-writes.js [--vms 200]
 *
 * Needs root and nft.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createNetns, missingRequirements } from '@hearth/testkit';
import { ExecFileCommandRunner } from '../../apps/agent/dist/adapters/linux/exec-file-command-runner.js';
import { NftHostFirewall } from '../../apps/agent/dist/adapters/linux/nft-host-firewall.js';
import { NftSession } from '../../apps/agent/dist/adapters/linux/nft-session.js';
import { emptyEgressTableState, removeVmsScript, type EgressTableState } from '../../apps/agent/dist/domain/egress-rules.js';
import { benchEgressPolicy } from './network-bench.js';
import { benchTable, benchVmOf, benchVmScript, processCpuMs } from './nft-bench-vms.js';

interface Tally {
  nftCpuMs: number;
  ownCpuMs: number;
  scripts: number;
  bytes: number;
  unavailable: number;
}

async function runOne(session: NftSession, script: string, tally: Tally): Promise<void> {
  const pid = session.pid;
  if (pid === undefined) throw new Error('the nft session is not running');
  const [nftBefore, ownBefore] = [processCpuMs(pid), process.cpuUsage()];
  const outcome = await session.run(script);
  const own = process.cpuUsage(ownBefore);
  tally.nftCpuMs += processCpuMs(pid) - nftBefore;
  tally.ownCpuMs += (own.user + own.system) / 1000;
  tally.scripts += 1;
  tally.bytes += Buffer.byteLength(script);
  if (outcome.kind === 'unavailable') tally.unavailable += 1;
  else if (outcome.kind === 'failed') throw new Error(`a script failed: ${outcome.stderr}`);
}

async function main(): Promise<void> {
  const missing = missingRequirements({ root: true, commands: ['ip', 'nft'] });
  if (missing !== undefined) {
    process.stderr.write(`nft-writes: skipped (${missing})\n`);
    return;
  }
  const { values } = parseArgs({ options: { vms: { type: 'string', default: '200' } } });
  const vmCount = Number(values.vms);
  const netns = await createNetns();
  const directory = await mkdtemp(path.join(tmpdir(), 'hearth-nft-writes-'));
  const prefix = ['ip', 'netns', 'exec', netns.name];
  const sessions = {
    line: new NftSession({ prefix }),
    'include file': new NftSession({ prefix, scriptDirectory: path.join(directory, 'nft-scripts') }),
  };
  // The state each delete is written from, read through a session of its own (not counted).
  const readerSession = new NftSession({ prefix });
  const reader = new NftHostFirewall(new ExecFileCommandRunner(), { netns: netns.name, session: readerSession });
  const tallies = {
    create: { line: newTally(), 'include file': newTally() },
    delete: { line: newTally(), 'include file': newTally() },
  };
  try {
    // Started (and the table made) before anything is counted.
    for (const session of Object.values(sessions)) await session.run(`add table ip ${benchTable.name}`);
    const state: EgressTableState = emptyEgressTableState;
    for (let index = 0; index < vmCount; index += 1) {
      const script = benchVmScript(index, benchEgressPolicy, state);
      const mode = index % 2 === 0 ? 'line' : 'include file';
      await runOne(sessions[mode], script, tallies.create[mode]);
    }
    for (let index = 0; index < vmCount; index += 1) {
      const vm = benchVmOf(index);
      const entries = await reader.readVmEntries(benchTable.name, {
        vmId: vm.vmId,
        addresses: [vm.address],
        hostPorts: [{ protocol: 'tcp', hostPort: vm.hostPort }],
        taps: [vm.tap],
        sharedSets: [],
      });
      const removal = removeVmsScript(benchTable.name, new Set([vm.vmId]), entries);
      if (removal === null) continue;
      const mode = index % 2 === 0 ? 'line' : 'include file';
      await runOne(sessions[mode], removal, tallies.delete[mode]);
    }
  } finally {
    for (const session of [...Object.values(sessions), readerSession]) await session.close();
    await netns.destroy();
    await rm(directory, { recursive: true, force: true });
  }
  process.stdout.write(`${vmCount} VMs (${benchEgressPolicy.mode}), sessions taking turns VM by VM:\n`);
  for (const [what, byMode] of Object.entries(tallies)) {
    for (const [mode, tally] of Object.entries(byMode)) {
      process.stdout.write(
        `  ${what.padEnd(7)} as ${mode.padEnd(13)} scripts ${String(tally.scripts).padStart(4)}  ` +
          `bytes/script ${(tally.bytes / tally.scripts).toFixed(0).padStart(5)}  ` +
          `nft ${(tally.nftCpuMs / tally.scripts).toFixed(2).padStart(6)} ms  ` +
          `this process ${(tally.ownCpuMs / tally.scripts).toFixed(2).padStart(6)} ms  ` +
          `unavailable ${tally.unavailable}\n`,
      );
    }
  }
}

function newTally(): Tally {
  return { nftCpuMs: 0, ownCpuMs: 0, scripts: 0, bytes: 0, unavailable: 0 };
}

await main();
