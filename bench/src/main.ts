#!/usr/bin/env node
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { missingRequirements, waitFor } from '@hearth/testkit';
import { Client } from 'undici';
import { startBenchStack, type BenchStack } from './bench-stack.js';
import { agentEntryPoint, managerEntryPoint, phaseMarksOf, ProfileMarks } from './cpu-profile.js';
import { machineFacts, pssMib, rssMib } from './machine.js';
import { floorBeside, registerSimulatedImages } from './manager-vms.js';
import { optionsOrExitCode, parseOptions, usage, type BenchOptions } from './options.js';
import { measureCreateLatency, measureEvents, measureList, measureWave, type WaveResult } from './phases.js';
import { natStackOptions, networkResult } from './network-bench.js';
import { measureQemu, type QemuResult } from './qemu-boot.js';
import { renderText, toJson } from './report.js';
import { measureSnapshots } from './snapshot-bench.js';
import { emptySnapshotSamples, snapshotFigures, snapshotMemoryMib, type SnapshotResult } from './snapshot-figures.js';
import { runScale } from './scale/scale-main.js';

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** One double started alone and idle: what each simulated VM costs in memory. */
async function measureDouble(stack: BenchStack): Promise<{ rssMib: number | null; pssMib: number | null }> {
  const socket = path.join(stack.workDir, 'rss-probe.sock');
  const child = spawn(stack.doubleBin, ['--api-sock', socket], { stdio: 'ignore' });
  try {
    // The socket's file exists from its bind, a moment before its listen: wait for an answer.
    const client = new Client('http://localhost', { socketPath: socket });
    try {
      await waitFor(
        async () => {
          if (!existsSync(socket)) return false;
          try {
            await (await client.request({ method: 'GET', path: '/' })).body.text();
            return true;
          } catch {
            return false;
          }
        },
        { timeoutMs: 10_000, description: 'the probe double answers' },
      );
    } finally {
      await client.close();
    }
    await sleep(300);
    return { rssMib: rssMib(child.pid), pssMib: child.pid === undefined ? null : pssMib(child.pid) };
  } finally {
    child.kill('SIGKILL');
  }
}

async function runBench(options: BenchOptions, onStack: (stop: () => Promise<void>) => void): Promise<void> {
  const startedAt = new Date();
  const t0 = performance.now();
  const machine = machineFacts();
  log(
    `hearth bench (${options.isQuick ? 'quick' : 'full'}) on ${machine.cpuCount} cores, ${machine.memoryMibAvailable} MiB available`,
  );
  const manager = managerEntryPoint(options);
  const stack = await startBenchStack({
    doubleNodeFlags: options.doubleNodeFlags,
    managerMain: manager.main,
    managerNodeFlags: manager.nodeFlags,
    agentMain: agentEntryPoint(options),
    ...(options.egress === 'nat' ? natStackOptions() : {}),
  });
  if (options.egress === 'nat') log('the Agent writes egress through NAT (--egress nat) besides the guard of each TAP');
  const agentProfile =
    options.agentCpuProfDir === null ? null : new ProfileMarks(stack.agent.child.pid, options.agentCpuProfDir, 'agent');
  const managerProfile =
    options.managerCpuProfDir === null ? null : new ProfileMarks(stack.manager.child.pid, options.managerCpuProfDir, 'manager');
  const profile = phaseMarksOf([agentProfile, managerProfile].flatMap((marks) => (marks === null ? [] : [marks])));
  const floor = floorBeside(stack);
  const stop = async (): Promise<void> => {
    await floor.destroyAll().catch(() => undefined);
    await stack.stop();
  };
  onStack(stop);
  let qemu: QemuResult;
  try {
    const images = await registerSimulatedImages(stack, 'sim');
    await floor.prepare();
    const doubleRss = await measureDouble(stack);
    log(`double: ${doubleRss.rssMib?.toFixed(1)} MiB RSS, ${doubleRss.pssMib?.toFixed(1)} MiB PSS`);
    await sleep(1_000);
    const memoryAtZero = { agentRssMib: rssMib(stack.agent.child.pid), managerRssMib: rssMib(stack.manager.child.pid) };

    log(`1. create latency: ${options.latencyCount} creates, each paired with a floor run`);
    const latency = await measureCreateLatency(stack, images, floor, options.latencyCount, log);
    const waves: WaveResult[] = [];
    for (const concurrency of options.concurrencies) {
      log(`2. throughput: ${options.throughputCount} creates at concurrency ${concurrency}, then deletes`);
      waves.push(
        await measureWave(
          stack,
          images,
          concurrency,
          options.throughputCount,
          options.minMemAvailableMib,
          options.restWindows,
          log,
          profile,
        ),
      );
    }
    log(`3. list: ${options.listRows} rows, ${options.listRequests} requests`);
    const list = await measureList(stack, images, options.listRows, options.listRequests, managerProfile);
    log('4. event delivery');
    const events = await measureEvents(stack, images, options.eventCount);
    await stop();
    log(`8. create latency with networking on: ${options.networkCount} creates, each paired with a floor run`);
    const network = await networkResult(options, log);
    if (options.qemuCount > 0) {
      log(`6. real guests: ${options.qemuCount} through Hearth (QEMU backend) and ${options.qemuCount} with QEMU alone`);
      qemu = await measureQemu(options.qemuCount, options, log).catch((error: unknown) => ({
        count: 0,
        viaHearth: null,
        qemuAlone: null,
        ratio: null,
        note: `failed: ${error instanceof Error ? error.message : String(error)}`,
      }));
    } else {
      qemu = { count: 0, viaHearth: null, qemuAlone: null, ratio: null, note: 'skipped (--quick or --qemu 0)' };
    }
    let snapshots: SnapshotResult;
    const snapshotShape = { memoryMib: snapshotMemoryMib, cloneCount: options.cloneCount };
    if (options.snapshotRounds > 0) {
      log(`7. snapshots: ${options.snapshotRounds} rounds of snapshot, restore and ${options.cloneCount} clones of a real guest`);
      snapshots = await measureSnapshots(options.snapshotRounds, options.cloneCount, options, log);
    } else {
      snapshots = snapshotFigures(emptySnapshotSamples, snapshotShape, 'skipped (--quick or --snapshots 0)');
    }
    const results = {
      machine,
      options,
      startedAt: startedAt.toISOString(),
      durationS: (performance.now() - t0) / 1000,
      doubleRss,
      memoryAtZero,
      latency,
      waves,
      list,
      events,
      network,
      qemu,
      snapshots,
    };
    const json = toJson(results);
    process.stdout.write(`\n${renderText(results, json)}\n`);
    if (options.jsonFile !== null) {
      writeFileSync(options.jsonFile, `${JSON.stringify(json, null, 2)}\n`);
      log(`results written to ${options.jsonFile}`);
    }
  } finally {
    await stop();
  }
}

async function main(): Promise<number> {
  // The scale harness: Managers against simulated hosts (no root, no namespaces).
  if (process.argv.includes('--scale')) return runScale(process.argv.slice(2));
  const options = optionsOrExitCode(parseOptions, process.argv.slice(2), usage);
  if (typeof options === 'number') return options;
  const missing = missingRequirements({ root: true, commands: ['ip', 'mkfs.ext4', 'cp'], database: true });
  if (missing !== undefined) {
    process.stderr.write(`hearth bench cannot run: ${missing}\n`);
    return 1;
  }
  let stop: (() => Promise<void>) | undefined;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: cleaning up`);
      (stop?.() ?? Promise.resolve())
        .catch((error: unknown) => log(`cleanup failed: ${error instanceof Error ? error.message : String(error)}`))
        .finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    });
  }
  await runBench(options, (fn) => {
    stop = fn;
  });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`hearth bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
