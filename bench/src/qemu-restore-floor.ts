import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import {
  decodeSnapshot,
  INCOMING_FROM_FD_ARGV,
  incomingMigrationEnd,
  processTimes,
  qemuArgv,
  QmpClient,
  type QemuSnapshotState,
  type VmResources,
  wallClockMs,
} from '@hearth/firecracker-double';
import { createNetns, waitFor, type Netns } from '@hearth/testkit';
import { NetnsProbe } from './netns-probe.js';
import type { QemuLoadTrace } from './qemu-load-trace.js';
import { runCommand } from './run-command.js';

/** The files of one snapshot as the Agent wrote them. */
export interface SnapshotFiles {
  readonly statePath: string;
  readonly memoryPath: string;
  readonly rootfsPath: string;
}

/** What the double stored in the state file (its own JSON payload, see the double's snapshot.ts). */
export interface StatePayload {
  readonly resources: VmResources;
  readonly cmdline: string;
  readonly backendState: QemuSnapshotState;
}

/**
 * Reads the device state file the double wrote (magic, version, JSON payload, CRC64) and returns
 * the guest's resources, command line and the QEMU backend's state (the `-append` and kernel).
 */
export function readSnapshotState(statePath: string): StatePayload {
  const payload = decodeSnapshot(readFileSync(statePath)) as Partial<StatePayload>;
  const state = payload.backendState;
  if (payload.resources === undefined || state?.format !== 'qemu-migration') {
    throw new Error(`${statePath} was not written by the double's QEMU backend`);
  }
  return payload as StatePayload;
}

/** The guest's address (the `ip=` of its command line) and MAC, as the snapshot holds them. */
export function guestAddress(payload: StatePayload): { ip: string; mac: string } {
  const ip = /(?:^|\s)ip=([0-9.]+)/.exec(payload.backendState.append)?.[1];
  const mac = payload.resources.net[0]?.guest_mac ?? undefined;
  if (ip === undefined || mac === undefined) throw new Error('the snapshot has no ip= argument or no guest MAC');
  return { ip, mac };
}

const bridge = 'br0';

/**
 * Where one restore alone spent its time: ms from its start at the end of each part, in order.
 * `tap`, `copy` and `spawn` are done one after the other; QEMU then reads the memory file
 * (`qmp`: its QMP answered, QEMU started; it then reads the file from the descriptor it was given;
 * `incoming`: QEMU out of `inmigrate`), is resumed
 * (`cont`), and its guest answers (`firstAnswer`: at all; `answered`: as expected).
 */
export interface FloorRestoreTimeline {
  readonly startedAtMs: number;
  readonly tapMs: number;
  readonly copyMs: number;
  readonly spawnMs: number;
  readonly qmpMs: number;
  readonly incomingMs: number;
  readonly contMs: number;
  readonly firstAnswerMs: number;
  readonly answeredMs: number;
  /** Its QEMU seen as a clone's double traces its own (`QemuLoadTrace`). */
  readonly qemu?: QemuLoadTrace;
}

/** One guest ready to be restored alone: its namespace with a bridge, and its MMDS NIC's socket. */
export interface PreparedRestore {
  readonly files: SnapshotFiles;
  readonly name: string;
  readonly payload: StatePayload;
  readonly ip: string;
  readonly netns: Netns;
  /** Polls the guest from inside its namespace. */
  readonly probe: NetnsProbe;
  readonly directory: string;
  readonly mmdsSocket: string;
}

/**
 * One QEMU restored alone from a snapshot's files: what Hearth's restore would cost with no
 * control plane. It runs in a network namespace of its own (the restored guest keeps the source's
 * address and MAC, so two of them cannot share a bridge), with a bridge holding `gatewayCidr` and
 * one TAP; the disk is copied as the Agent copies it; QEMU gets the argv the double's QEMU backend
 * builds for that restore (`qemuArgv` + `INCOMING_FROM_FD_ARGV`), the memory file handed to QEMU as
 * the double hands it (a descriptor QEMU reads itself), its end taken as the double takes it
 * (`incomingMigrationEnd`), then `cont`. The MMDS NIC of the argv is connected to a socket that accepts
 * and ignores frames: the restored guest already holds its identity.
 */
export class RestoreFloor {
  private readonly netnsList: Netns[] = [];
  private readonly servers: Server[] = [];
  private readonly qmps: QmpClient[] = [];
  private readonly probes: NetnsProbe[] = [];

  constructor(
    private readonly qemuBinary: string,
    private readonly workDir: string,
    private readonly gatewayCidr: string,
  ) {}

  /**
   * Makes what exists before a restore starts, as Hearth's bridge exists before a VM's: the
   * namespace, its bridge, the socket of the MMDS NIC and the probe that polls the guest. Not timed.
   */
  async prepare(files: SnapshotFiles, name: string): Promise<PreparedRestore> {
    const payload = readSnapshotState(files.statePath);
    const { ip, mac } = guestAddress(payload);
    const netns = await createNetns();
    this.netnsList.push(netns);
    const directory = path.join(this.workDir, name);
    rmSync(directory, { recursive: true, force: true });
    mkdirSync(directory, { recursive: true });
    await netns.exec(['ip', 'link', 'add', bridge, 'type', 'bridge']);
    await netns.exec(['ip', 'addr', 'add', this.gatewayCidr, 'dev', bridge]);
    await netns.exec(['ip', 'link', 'set', bridge, 'up']);
    await netns.exec(['ip', 'neigh', 'replace', ip, 'lladdr', mac, 'dev', bridge, 'nud', 'permanent']);
    const mmdsSocket = path.join(directory, 'mmds.sock');
    const server = createServer((socket) => socket.resume());
    this.servers.push(server);
    await new Promise<void>((resolve) => server.listen(mmdsSocket, resolve));
    const probe = await NetnsProbe.start(netns);
    this.probes.push(probe);
    return { files, name, payload, ip, netns, probe, directory, mmdsSocket };
  }

  /** Restores a prepared guest; resolves with ms from the start until its `GET /identity` answers. */
  async restoreUntilAnswering(prepared: PreparedRestore, timeoutMs: number): Promise<number> {
    return (await this.restoreWithTimeline(prepared, timeoutMs)).answeredMs;
  }

  /** Restores a prepared guest; resolves with where its time went until its `GET /identity` answered. */
  async restoreWithTimeline(prepared: PreparedRestore, timeoutMs: number): Promise<FloorRestoreTimeline> {
    const { files, name, payload, ip, netns, probe, directory, mmdsSocket } = prepared;
    const startedAtMs = Date.now();
    const started = performance.now();
    const since = (): number => performance.now() - started;
    const tap = 'tap0';
    await netns.exec(['ip', 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
    await netns.exec(['ip', 'link', 'set', 'dev', tap, 'master', bridge, 'up']);
    const tapMs = since();
    const rootfs = path.join(directory, 'rootfs.ext4');
    await runCommand(['cp', '--reflink=auto', '--sparse=always', '--', files.rootfsPath, rootfs]);
    const copyMs = since();
    const r = payload.resources;
    const resources: VmResources = {
      ...r,
      bootSource: r.bootSource && {
        ...r.bootSource,
        kernel_image_path: payload.backendState.kernelPath ?? r.bootSource.kernel_image_path,
      },
      drives: r.drives.map((d) => (d.is_root_device ? { ...d, path_on_host: rootfs } : d)),
      net: r.net.map((n, i) => (i === 0 ? { ...n, host_dev_name: tap } : n)),
    };
    const qmpPath = path.join(directory, 'qmp.sock');
    const argv = qemuArgv(
      { instanceId: name, resources, cmdline: payload.cmdline, enablePci: false, mmdsData: () => ({}) },
      payload.backendState.append,
      qmpPath,
      r.mmdsConfig ? mmdsSocket : undefined,
    );
    // The memory file is QEMU's descriptor 3 (INCOMING_FD), as the double gives it.
    const memoryFd = openSync(files.memoryPath, 'r');
    let qemuPid: number | undefined;
    try {
      // `ip netns exec` execs QEMU: the child's pid is QEMU's.
      qemuPid = netns.spawn([this.qemuBinary, ...argv, ...INCOMING_FROM_FD_ARGV], {
        stdio: ['ignore', 'ignore', 'ignore', memoryFd],
      }).pid;
    } finally {
      closeSync(memoryFd);
    }
    const spawnMs = since();
    const spawnedAtMs = wallClockMs();
    const qmp = await waitFor(() => (existsSync(qmpPath) ? QmpClient.connect(qmpPath).catch(() => undefined) : undefined), {
      timeoutMs,
      intervalMs: 20,
      description: `QEMU's QMP socket for ${name}`,
    });
    this.qmps.push(qmp);
    const qmpMs = since();
    const qmpAtMs = wallClockMs();
    const status = await incomingMigrationEnd(qmp, timeoutMs);
    const atLoadEnd = qemuPid === undefined ? undefined : processTimes(qemuPid);
    const loadEndedAtMs = wallClockMs();
    if (status !== 'paused' && status !== 'running') throw new Error(`QEMU alone is ${status} after the incoming migration`);
    const incomingMs = since();
    await qmp.execute('cont');
    const contMs = since();
    const answer = await probe.answeredWithTimes(`http://${ip}/identity`, { timeoutMs });
    const atAnswer = qemuPid === undefined ? undefined : processTimes(qemuPid);
    return {
      startedAtMs,
      tapMs,
      copyMs,
      spawnMs,
      qmpMs,
      incomingMs,
      contMs,
      firstAnswerMs: answer.firstAnswerAtMs - startedAtMs,
      answeredMs: since(),
      ...(qemuPid === undefined ? {} : { qemu: { pid: qemuPid, spawnedAtMs, qmpAtMs, loadEndedAtMs, atLoadEnd, atAnswer } }),
    };
  }

  /** Kills every QEMU and removes every namespace and file this floor made. */
  async destroyAll(): Promise<void> {
    for (const qmp of this.qmps.splice(0)) qmp.close();
    await Promise.all(this.probes.splice(0).map((probe) => probe.close()));
    for (const server of this.servers.splice(0)) server.close();
    const problems: string[] = [];
    for (const netns of this.netnsList.splice(0)) {
      await netns.destroy().catch((error: unknown) => problems.push(String(error)));
    }
    rmSync(this.workDir, { recursive: true, force: true });
    if (problems.length > 0) throw new Error(problems.join('; '));
  }
}
