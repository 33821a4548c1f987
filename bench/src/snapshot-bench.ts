import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import path from 'node:path';
import { processTimes } from '@hearth/firecracker-double';
import { findCommand } from '@hearth/testkit';
import { agentApplyTimes } from './agent-reads.js';
import { cpuPidsOf, startBenchStack, type BenchStack } from './bench-stack.js';
import { agentEntryPoint, ProfileMarks } from './cpu-profile.js';
import { cpuMsBetween, cpuSnapshot, msPerItem } from './cpu.js';
import { registerImages } from './manager-vms.js';
import type { BenchOptions } from './options.js';
import type { Log } from './phases.js';
import { guestImages } from './qemu-boot.js';
import { NetnsProbe } from './netns-probe.js';
import { readDoubleTrace, type QemuLoadTrace } from './qemu-load-trace.js';
import { RestoreFloor, type PreparedRestore, type SnapshotFiles } from './qemu-restore-floor.js';
import {
  emptySnapshotSamples,
  freshSnapshotSamples,
  cloneTimelineMarks,
  snapshotFigures,
  snapshotMemoryMib,
  type CloneTimeline,
  type SnapshotResult,
} from './snapshot-figures.js';
import { vmmInstanceId, vmmLogMarks, type VmmLogMarks } from './vmm-log-marks.js';

/** The guest the snapshot figures are taken with. */
const memoryMib = snapshotMemoryMib;
const bridgeCidr = '172.30.0.1/16';
/** Under TCG on a loaded machine a restore takes seconds; ten at once take a minute or more. */
const answerTimeoutMs = 180_000;

interface Vm {
  readonly id: string;
  readonly name: string;
  readonly state: string;
  readonly guestMac: string;
  readonly network: { readonly ipAddress: string; readonly prefixLength: number } | null;
  readonly totalMs: number | null;
  readonly steps: readonly { readonly name: string; readonly durationMs: number; readonly at: string }[];
}

/** `GET /identity` of the guest: what it read from its own MMDS and applied. */
function identityOf(vm: Vm): string {
  const ip = vm.network?.ipAddress ?? '';
  return `instance-id=${vm.id} host=${vm.name} addr=${ip}/${String(vm.network?.prefixLength)} mac=${vm.guestMac.toLowerCase()}\n`;
}

/** Resolves once `vm` answers at its own address as itself: when it first answered there at all, and as itself. */
async function answering(probe: NetnsProbe, vm: Vm): Promise<{ firstAnswerAtMs: number; answeredAtMs: number }> {
  return probe.answeredWithTimes(`http://${vm.network?.ipAddress}/identity`, {
    expected: identityOf(vm),
    timeoutMs: answerTimeoutMs,
  });
}

/** The text of a file, or `fallback` when it cannot be read. */
function readTextOr(file: string, fallback: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

/** A VM's Firecracker log, in the Agent's run directory. */
function vmmLogOf(runDir: string, vm: Pick<Vm, 'id'>): string {
  return path.join(runDir, 'vms', vm.id, 'firecracker.log');
}

/** The load's and the resume's instants in a VMM's log; undefined when it wrote none (or no load). */
function vmmMarksOf(logFile: string): VmmLogMarks | undefined {
  const text = readTextOr(logFile, '');
  return text === '' ? undefined : vmmLogMarks(text);
}

/** How long the doubles' CPU is sampled after a clone round, their guests running. */
const restSampleMs = 2_000;

const marksText = (marks: Readonly<Record<string, number>>): string =>
  Object.entries(marks)
    .map(([name, value]) => `${name} ${value.toFixed(0)}`)
    .join(', ');

/** When a timeline's QEMU was spawned, answered on QMP and ended its load (ms from the request; none untraced). */
function qemuMarks(t: CloneTimeline): Readonly<Record<string, number>> {
  if (t.qemu === undefined) return {};
  return {
    qemuSpawned: t.qemu.spawnedAtMs - t.requestedAtMs,
    qemuQmp: t.qemu.qmpAtMs - t.requestedAtMs,
    qemuLoaded: t.qemu.loadEndedAtMs - t.requestedAtMs,
  };
}

async function expectStatus<T>(stack: BenchStack, method: string, route: string, body: unknown, status: number): Promise<T> {
  const response = await stack.api<T>(method, route, body);
  if (response.status !== status) {
    throw new Error(`${method} ${route} answered ${response.status}: ${JSON.stringify(response.body).slice(0, 300)}`);
  }
  return response.body;
}

/**
 * Part 7: snapshots of a 256 MiB real guest under QEMU (the double's QEMU backend), `rounds` times:
 * snapshot create (client time and the reported pause), restore in place → the guest answers as
 * itself, and `cloneCount` clones from one snapshot → all answer as themselves; each restore and
 * clone round is paired with QEMU alone restoring the same files (`RestoreFloor`).
 */
export async function measureSnapshots(
  rounds: number,
  cloneCount: number,
  options: Pick<
    BenchOptions,
    'doubleNodeFlags' | 'managerMain' | 'agentMain' | 'agentCpuProfDir' | 'settleMs' | 'vmmPoolSize' | 'warmupRounds'
  >,
  log: Log,
): Promise<SnapshotResult> {
  const shape = { memoryMib, cloneCount };
  const skipped = (why: string): SnapshotResult => snapshotFigures(emptySnapshotSamples, shape, `skipped: ${why}`);
  const qemu = findCommand('qemu-system-x86_64');
  if (qemu === undefined) return skipped('qemu-system-x86_64 is not installed');
  let imageDir: string;
  try {
    imageDir = await guestImages();
  } catch (error) {
    return skipped(`guest images unavailable: ${error instanceof Error ? error.message : String(error)}`);
  }
  // Each double traces its QEMU's start, load and CPU there (one JSON file per VMM, by instance id).
  const traceDir = mkdtempSync(path.join(tmpdir(), 'hearth-bench-double-trace-'));
  const traceOf = (vm: Vm): QemuLoadTrace | undefined => {
    // The instance id the VM's log names: a warm VMM's own (the Agent's pool), or the VM's id with
    // `-` for `_`, as the Agent starts a VM's own VMM.
    const instanceId = vmmInstanceId(readTextOr(vmmLogOf(stack.runDir, vm), '')) ?? vm.id.replaceAll('_', '-');
    return readDoubleTrace(path.join(traceDir, `${instanceId}.jsonl`));
  };
  const stack = await startBenchStack({
    doubleNodeFlags: options.doubleNodeFlags,
    managerMain: options.managerMain,
    agentMain: agentEntryPoint(options),
    bridgeCidr,
    agentEnv: {
      FC_DOUBLE_BACKEND: 'qemu',
      FC_DOUBLE_TRACE_DIR: traceDir,
      AGENT_VMM_POOL_SIZE: String(options.vmmPoolSize),
    },
  }).catch((error: unknown) => {
    rmSync(traceDir, { recursive: true, force: true });
    throw error;
  });
  const profile =
    options.agentCpuProfDir === null ? null : new ProfileMarks(stack.agent.child.pid, options.agentCpuProfDir, 'agent');
  const cpuPids = cpuPidsOf(stack);
  const floor = new RestoreFloor(qemu, path.join(stack.workDir, 'restore-floor'), bridgeCidr);
  let openedProbe: NetnsProbe | undefined;
  const samples = freshSnapshotSamples();
  try {
    const probe = await NetnsProbe.start(stack.netns);
    openedProbe = probe;
    const kernelPath = path.join(stack.imageRoot, 'vmlinux');
    const rootfsPath = path.join(stack.imageRoot, 'rootfs.ext4');
    copyFileSync(path.join(imageDir, 'vmlinux'), kernelPath);
    copyFileSync(path.join(imageDir, 'rootfs.ext4'), rootfsPath);
    const images = await registerImages(stack, { kernelPath, rootfsPath, suffix: 'snapshot' });
    const source = await expectStatus<Vm>(
      stack,
      'POST',
      '/v1/vms',
      { name: 'snapshot-source', vcpuCount: 1, memoryMib, ...images, bootArgs: 'console=ttyS0 reboot=k panic=1' },
      201,
    );
    await answering(probe, source);
    // The source maps the snapshot it was last restored to (its VMM reads that memory file): each
    // snapshot is deleted once the next restore in place has moved the source on to another one.
    let previousSnapshotId: string | undefined;
    for (let pass = 0; pass < options.warmupRounds + rounds; pass++) {
      // The warm-up rounds run as the measured ones do and are logged, but count in no figure.
      const isWarmup = pass < options.warmupRounds;
      const round = pass - options.warmupRounds;
      const label = isWarmup ? `warm-up ${pass + 1}` : `${round + 1}`;
      const nameTag = isWarmup ? `w${pass + 1}` : `${round + 1}`;
      const roundSamples = isWarmup ? freshSnapshotSamples() : samples;
      const t0 = performance.now();
      const snapshot = await expectStatus<{ id: string; pauseMs: number }>(
        stack,
        'POST',
        `/v1/vms/${source.id}/snapshots`,
        {},
        201,
      );
      roundSamples.createMs.push(performance.now() - t0);
      roundSamples.pauseMs.push(snapshot.pauseMs);
      const directory = path.join(stack.runDir, 'vms', source.id);
      const files: SnapshotFiles = {
        statePath: path.join(directory, `${snapshot.id}.vmstate`),
        memoryPath: path.join(directory, `${snapshot.id}.memory`),
        rootfsPath: path.join(directory, `${snapshot.id}.rootfs.ext4`),
      };

      log(
        `  snapshot ${label}: memory file ${statSync(files.memoryPath).size} bytes, disk ${statSync(files.rootfsPath).size} bytes`,
      );
      // Which side goes first alternates from round to round: a restore allocates its guest's memory,
      // and memory freed a moment ago costs this host much less to hand out than memory freed long
      // before (ADR 0080). The side that goes second runs on what the first has just freed; the first
      // measured round's first side, on what the warm-up round's second side freed (ADR 0128).
      const isHearthFirst = ((round % 2) + 2) % 2 === 0;
      const restoreViaHearth = async (): Promise<void> => {
        const t1 = performance.now();
        const requestedAtMs = Date.now();
        const restored = await expectStatus<Vm>(stack, 'POST', `/v1/vms/${source.id}/restore`, { snapshotId: snapshot.id }, 200);
        const acceptedAtMs = Date.now();
        await answering(probe, source);
        const answeredAtMs = Date.now();
        roundSamples.restoreMs.push(performance.now() - t1);
        const firstStep = restored.steps[0];
        if (firstStep !== undefined && restored.totalMs !== null) {
          // The restore answers once its apply has ended; its apply began after the stop of its VMM.
          const timeline: CloneTimeline = {
            requestedAtMs,
            acceptedAtMs,
            applyStartedAtMs: Date.parse(firstStep.at),
            applyMs: restored.totalMs,
            steps: restored.steps,
            answeredAtMs,
            // Its new VMM's load and resume, the last in the VM's log; its QEMU's start and load, the
            // last in its double's trace (the VM keeps its instance id, so both files go on).
            vmm: vmmMarksOf(vmmLogOf(stack.runDir, source)),
            qemu: traceOf(source),
          };
          roundSamples.restoreTimelines.push(timeline);
          log(
            `    restore in place, ms from the request: ${marksText({ ...cloneTimelineMarks(timeline), ...qemuMarks(timeline) })}`,
          );
        }
        if (previousSnapshotId !== undefined) {
          await expectStatus(stack, 'DELETE', `/v1/snapshots/${previousSnapshotId}`, undefined, 204);
        }
        previousSnapshotId = snapshot.id;
      };
      const restoreAlone = async (): Promise<void> => {
        const alone = await floor.prepare(files, `restore-${nameTag}`);
        const t = await floor.restoreWithTimeline(alone, answerTimeoutMs);
        roundSamples.restoreFloorMs.push(t.answeredMs);
        const marks = Object.fromEntries(Object.entries(t).filter(([name]) => name !== 'startedAtMs' && name !== 'qemu'));
        log(`    restore alone, ms from its start: ${marksText(marks)}`);
        await floor.destroyAll();
      };
      for (const side of isHearthFirst ? [restoreViaHearth, restoreAlone] : [restoreAlone, restoreViaHearth]) await side();

      const clonesViaHearth = async (): Promise<void> => {
        if (options.settleMs > 0) await delay(options.settleMs);
        await profile?.mark(null);
        const cpuBefore = cpuSnapshot(cpuPids);
        const t2 = performance.now();
        const requestedAtMs = Date.now();
        const cloned = await expectStatus<{ items: Vm[] }>(
          stack,
          'POST',
          '/v1/vms?wait=false',
          { name: `clone-${nameTag}`, snapshotId: snapshot.id, count: cloneCount },
          202,
        );
        const acceptedAtMs = Date.now();
        // The guest writes its new identity on its serial console last of all (HEARTH-GUEST-IDENTITY), and
        // nothing else once it is up: the console log's last change, read as it answers, is when it took it.
        const consoleLogOf = (vm: Vm): string => path.join(stack.runDir, 'vms', vm.id, 'stdout.log');
        // Its QEMU's CPU is read as it answers, as QEMU alone's is.
        const qemuAtAnswer = (vm: Vm): QemuLoadTrace | undefined => {
          const trace = traceOf(vm);
          return trace === undefined ? undefined : { ...trace, atAnswer: processTimes(trace.pid) };
        };
        const answers = await Promise.all(
          cloned.items.map((vm) =>
            answering(probe, vm).then((answer) => ({
              ...answer,
              identityAtMs: statSync(consoleLogOf(vm)).mtimeMs,
              qemu: qemuAtAnswer(vm),
            })),
          ),
        );
        roundSamples.clonesMs.push(performance.now() - t2);
        // From the request until every clone answers: the guests' own CPU is QEMU's, not the control plane's.
        const cpuAfter = cpuSnapshot(cpuPids);
        const cpuMs = cpuMsBetween(cpuBefore, cpuAfter);
        roundSamples.cloneCpuMs.push(msPerItem(cpuMs, cloneCount));
        // What the doubles cost once their guests run (each guest polls its MMDS five times a second).
        await delay(restSampleMs);
        roundSamples.doublesAtRestMsPerS.push((cpuMsBetween(cpuAfter, cpuSnapshot(cpuPids)).vmms * 1000) / restSampleMs);
        await profile?.mark(`clones-${nameTag}`);
        const agentApplies = agentApplyTimes(readFileSync(stack.agentLogFile, 'utf8'));
        for (const [i, item] of cloned.items.entries()) {
          const vm = await expectStatus<Vm>(stack, 'GET', `/v1/vms/${item.id}`, undefined, 200);
          const firstStep = vm.steps[0];
          if (firstStep === undefined || vm.totalMs === null) continue;
          const timeline: CloneTimeline = {
            requestedAtMs,
            acceptedAtMs,
            applyStartedAtMs: Date.parse(firstStep.at),
            agent: agentApplies.get(item.id),
            applyMs: vm.totalMs,
            steps: vm.steps,
            firstAnswerAtMs: answers[i]?.firstAnswerAtMs ?? Date.now(),
            identityAtMs: answers[i]?.identityAtMs,
            answeredAtMs: answers[i]?.answeredAtMs ?? Date.now(),
            // Its VMM's own log says when the load and the resume happened (the file of PUT /logger).
            vmm: vmmMarksOf(vmmLogOf(stack.runDir, item)),
            qemu: answers[i]?.qemu,
          };
          roundSamples.cloneTimelines.push(timeline);
          log(`    clone ${i + 1}, ms from the request: ${marksText(cloneTimelineMarks(timeline))}`);
        }
        await Promise.all(cloned.items.map((vm) => expectStatus(stack, 'DELETE', `/v1/vms/${vm.id}`, undefined, 200)));
      };
      const clonesAlone = async (): Promise<void> => {
        const prepared: PreparedRestore[] = [];
        for (let i = 0; i < cloneCount; i++) prepared.push(await floor.prepare(files, `clone-${nameTag}-${i}`));
        if (options.settleMs > 0) await delay(options.settleMs);
        const t3 = performance.now();
        const floorTimelines = await Promise.all(prepared.map((guest) => floor.restoreWithTimeline(guest, answerTimeoutMs)));
        roundSamples.clonesFloorMs.push(performance.now() - t3);
        for (const [i, t] of floorTimelines.entries()) {
          roundSamples.cloneFloorTimelines.push(t);
          const marks = Object.fromEntries(Object.entries(t).filter(([name]) => name !== 'startedAtMs' && name !== 'qemu'));
          log(`    alone ${i + 1}, ms from its start: ${marksText(marks)}`);
        }
        await floor.destroyAll();
      };
      if (cloneCount > 0) {
        for (const side of isHearthFirst ? [clonesViaHearth, clonesAlone] : [clonesAlone, clonesViaHearth]) await side();
      }
      log(
        `  snapshot ${label}${isWarmup ? '' : `/${rounds}`} (${isHearthFirst ? 'Hearth' : 'QEMU alone'} first): create ${roundSamples.createMs.at(-1)?.toFixed(0)} ms (paused ${snapshot.pauseMs.toFixed(0)} ms), ` +
          `restore ${roundSamples.restoreMs.at(-1)?.toFixed(0)} ms vs alone ${roundSamples.restoreFloorMs.at(-1)?.toFixed(0)} ms` +
          (cloneCount > 0
            ? `, ${cloneCount} clones ${roundSamples.clonesMs.at(-1)?.toFixed(0)} ms vs alone ${roundSamples.clonesFloorMs.at(-1)?.toFixed(0)} ms` +
              `, Agent CPU ${roundSamples.cloneCpuMs.at(-1)?.agent.toFixed(1)} ms per clone`
            : ''),
      );
    }
    return snapshotFigures(
      samples,
      shape,
      `images from ${imageDir}; answering = GET /identity every 20 ms by one probe process inside the namespace (via Hearth: the VM's own identity)`,
    );
  } catch (error) {
    return snapshotFigures(samples, shape, `failed: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    await floor.destroyAll().catch((error: unknown) => log(`restore floor cleanup: ${String(error)}`));
    await openedProbe?.close();
    await stack.stop();
    rmSync(traceDir, { recursive: true, force: true });
  }
}
