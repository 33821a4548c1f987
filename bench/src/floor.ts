import { execFile, spawn } from 'node:child_process';
import { watch } from 'node:fs';
import { chmod, mkdir, open, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Client } from 'undici';
import { ulid } from 'ulid';
import type { EgressPolicy, StepName } from '@hearth/contracts';
import {
  emptyEgressTableState,
  removeVmsScript,
  tapSetName,
  vmEgressScript,
  type EgressTableState,
} from '../../apps/agent/dist/domain/egress-rules.js';

/** What the floor does, printed beside its numbers so the comparison can be judged. */
export const floorDescription =
  'floor = no control plane, same netns and double: [ip tuntap add + ip link set master/up] ‖ ' +
  '[cp --reflink=auto --sparse=always + chmod + stat], then the configuration file (logger, machine-config, ' +
  'boot-source with an ip= argument, drives/rootfs, network-interfaces/eth0, mmds-config V2) and the MMDS data ' +
  'written, spawn `ip netns exec NS double --api-sock --config-file --metadata` + wait for the socket (inotify), ' +
  'then GET / until it answers Running (undici, one keep-alive connection). ' +
  'The two bracketed parts run concurrently, as the Agent runs its tap and rootfs steps before its configured spawn.';

/** What the floor with egress does beyond the plain floor. */
export const networkFloorDescription =
  'with egress: after the TAP, one `ip netns exec NS nft SCRIPT`, SCRIPT being what the Agent writes for a new VM ' +
  "(its vmEgressScript: the table's base objects, the VM's chain under its policy, its egress and guests " +
  "elements, its published port, the bridge table's guard of its TAP), into a table of the floor's own";

/**
 * The Agent's apply steps of a cold boot; the floor never configures metrics, and a restore's load
 * and resume are not part of a boot. Egress is written only when the floor is given a table.
 */
export type FloorStep = Exclude<StepName, 'metrics' | 'load' | 'resume'>;

export interface FloorRun {
  readonly totalMs: number;
  readonly steps: Readonly<Partial<Record<FloorStep, number>>>;
}

/**
 * Egress through NAT by hand: the nft script the Agent would write for each VM, into `table` (not
 * the Agent's, so that the two never touch each other's rules), masquerading to `uplink`.
 */
export interface FloorEgress {
  readonly table: string;
  readonly uplink: string;
  readonly policy: EgressPolicy;
  /** Run `index` publishes TCP `portBase + index` to the guest's port 80. */
  readonly portBase: number;
}

export interface FloorSettings {
  readonly netns: string;
  readonly bridge: string;
  /** Where the floor keeps its per-run directories (inside the bench's work directory). */
  readonly runDir: string;
  readonly doubleBin: string;
  readonly kernelPath: string;
  readonly rootfsPath: string;
  readonly bootArgs: string;
  readonly vcpuCount: number;
  readonly memoryMib: number;
  readonly egress?: FloorEgress | undefined;
}

/** What Hearth's table holds of one VM once its script ran: what `destroy` removes. */
function written(vmId: string, address: string, tap: string, hostPort: number): EgressTableState {
  return {
    ...emptyEgressTableState,
    vmChains: [vmId],
    egressElements: [{ address, chain: vmId }],
    guestElements: [{ address, vmId }],
    portElements: [{ protocol: 'tcp', hostPort, address, guestPort: 80, vmId }],
    guardChains: [vmId],
    guardElements: [{ tap, chain: vmId }],
    tapElements: [{ set: tapSetName, tap, vmId }],
  };
}

function run(argv: readonly string[]): Promise<void> {
  const [file, ...args] = argv;
  return new Promise((resolve, reject) => {
    execFile(file as string, args, (error, _stdout, stderr) => {
      if (error) reject(new Error(`${argv.join(' ')} failed: ${stderr.trim() || error.message}`));
      else resolve();
    });
  });
}

/** Resolves once `file` exists, watching its directory (no polling); rejects after `timeoutMs`. */
function waitForFile(file: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const directory = path.dirname(file);
    const name = path.basename(file);
    let done = false;
    const finish = (error?: Error): void => {
      if (done) return;
      done = true;
      watcher.close();
      clearTimeout(timer);
      if (error) reject(error);
      else resolve();
    };
    const watcher = watch(directory, (_event, changed) => {
      if (changed === name) finish();
    });
    const timer = setTimeout(() => finish(new Error(`${file} did not appear within ${timeoutMs} ms`)), timeoutMs);
    stat(file).then(
      () => finish(),
      () => undefined,
    );
  });
}

/**
 * The floor: one VM made with the same commands and Firecracker API calls the Agent makes, by a
 * minimal script with no control plane, no records and no HTTP hop. `create` times it; `destroy`
 * (untimed) removes everything it made.
 */
export class Floor {
  private readonly live = new Map<
    number,
    { pid: number; tap: string; directory: string; client: Client; rules: { vmId: string; state: EgressTableState } | null }
  >();

  constructor(private readonly settings: FloorSettings) {}

  /** The bridge is made once, before any timed run (the Agent too makes it once per process). */
  async prepare(): Promise<void> {
    const { netns, bridge } = this.settings;
    await run(['ip', '-n', netns, 'link', 'add', 'name', bridge, 'type', 'bridge']).catch(() => undefined);
    await run(['ip', '-n', netns, 'link', 'set', 'dev', bridge, 'up']);
    await mkdir(this.settings.runDir, { recursive: true, mode: 0o700 });
  }

  async create(index: number): Promise<FloorRun> {
    const s = this.settings;
    const tap = `flt${index}`;
    const directory = path.join(s.runDir, String(index));
    const socket = path.join(directory, 'fc.sock');
    const rootfs = path.join(directory, 'rootfs.ext4');
    const guestIp = `172.31.${(index >> 8) & 0xff}.${index & 0xff}`;
    const guestMac = `06:00:ac:10:${((index >> 8) & 0xff).toString(16).padStart(2, '0')}:${(index & 0xff).toString(16).padStart(2, '0')}`;
    const vmId = `vm_${ulid()}`;
    await mkdir(directory, { recursive: true, mode: 0o700 });
    const startedAt = performance.now();
    const timed = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
      const t0 = performance.now();
      const value = await fn();
      return [value, performance.now() - t0];
    };
    const client = new Client('http://localhost', { socketPath: socket, pipelining: 1, keepAliveTimeout: 60_000 });
    const egress = s.egress;
    const tapTimed = timed(async () => {
      await run(['ip', '-n', s.netns, 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
      await run(['ip', '-n', s.netns, 'link', 'set', 'dev', tap, 'master', s.bridge, 'up']);
    });
    const [[, tapMs], [, rootfsMs], egressMs] = await Promise.all([
      tapTimed,
      timed(async () => {
        await run(['cp', '--reflink=auto', '--sparse=always', '--', s.rootfsPath, rootfs]);
        await chmod(rootfs, 0o600);
        await stat(rootfs);
      }),
      // As the Agent's egress step: once the TAP exists (its guard names it), beside the rest.
      egress === undefined
        ? Promise.resolve(undefined)
        : tapTimed.then(async () => {
            const script = vmEgressScript(
              { name: egress.table, uplink: egress.uplink },
              {
                vmId,
                address: guestIp,
                policy: egress.policy,
                ports: [{ hostPort: egress.portBase + index, guestPort: 80, protocol: 'tcp' }],
                guard: { tap, mac: guestMac, sharedSet: null },
              },
              emptyEgressTableState,
            );
            const [, ms] = await timed(() => run(['ip', 'netns', 'exec', s.netns, 'nft', script]));
            return ms;
          }),
    ]);
    // The VMM builds and boots the VM as it starts, so the TAP and the disk must be there first, as
    // the Agent's configured spawn waits for them.
    const [pid, spawnMs] = await timed(async () => {
      const configFile = path.join(directory, 'vmm-config.json');
      const metadataFile = path.join(directory, 'mmds.json');
      await writeFile(configFile, JSON.stringify(floorVmmConfig(s, { directory, rootfs, tap, guestIp, guestMac, index })), {
        mode: 0o600,
      });
      await writeFile(metadataFile, JSON.stringify(floorMetadata({ guestIp, guestMac, index })), { mode: 0o600 });
      const stdout = await open(path.join(directory, 'stdout.log'), 'a', 0o600);
      const stderr = await open(path.join(directory, 'stderr.log'), 'a', 0o600);
      try {
        const appeared = waitForFile(socket, 5_000);
        const child = spawn(
          'ip',
          [
            ...['netns', 'exec', s.netns, s.doubleBin, '--api-sock', socket, '--id', `floor-${index}`, '--level', 'Info'],
            ...['--config-file', configFile, '--metadata', metadataFile],
          ],
          { detached: true, stdio: ['ignore', stdout.fd, stderr.fd] },
        );
        await new Promise<void>((resolve, reject) => {
          child.once('spawn', resolve);
          child.once('error', reject);
        });
        child.unref();
        await appeared;
        return child.pid as number;
      } finally {
        await stdout.close();
        await stderr.close();
      }
    });
    const rules = egress === undefined ? null : { vmId, state: written(vmId, guestIp, tap, egress.portBase + index) };
    this.live.set(index, { pid, tap, directory, client, rules });
    const [, startMs] = await timed(async () => {
      // The socket exists from bind(); the API answers once the VM is built and booted.
      for (let attempt = 0; ; attempt++) {
        try {
          const info = JSON.parse(await this.call(client, 'GET', '/')) as { state?: string };
          if (info.state !== 'Running') throw new Error(`floor VM ${index} is ${String(info.state)} after its start`);
          return;
        } catch (error) {
          if (attempt >= 5_000) throw error;
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
      }
    });
    return {
      totalMs: performance.now() - startedAt,
      steps: {
        tap: tapMs,
        rootfs: rootfsMs,
        spawn: spawnMs,
        start: startMs,
        ...(egressMs === undefined ? {} : { egress: egressMs }),
      },
    };
  }

  private async call(client: Client, method: 'GET' | 'PUT', route: string, body?: unknown): Promise<string> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const response = await client.request({
      method,
      path: route,
      headers: payload === undefined ? { accept: 'application/json' } : { 'content-type': 'application/json' },
      body: payload,
    });
    const text = await response.body.text();
    if (response.statusCode >= 300) throw new Error(`floor ${method} ${route}: HTTP ${response.statusCode} ${text}`);
    return text;
  }

  /** Kills the VMM, deletes the TAP, the rules and the files of run `index` (not timed). */
  async destroy(index: number): Promise<void> {
    const vm = this.live.get(index);
    this.live.delete(index);
    if (vm === undefined) return;
    await vm.client.destroy().catch(() => undefined);
    try {
      process.kill(vm.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await run(['ip', '-n', this.settings.netns, 'link', 'del', 'dev', vm.tap]).catch(() => undefined);
    const egress = this.settings.egress;
    const script =
      egress === undefined || vm.rules === null ? null : removeVmsScript(egress.table, new Set([vm.rules.vmId]), vm.rules.state);
    if (script !== null) await run(['ip', 'netns', 'exec', this.settings.netns, 'nft', script]).catch(() => undefined);
    await rm(vm.directory, { recursive: true, force: true });
  }

  async destroyAll(): Promise<void> {
    for (const index of [...this.live.keys()]) await this.destroy(index);
  }
}

/** The configuration a floor VMM starts with: what the Agent's configured start writes, by hand. */
function floorVmmConfig(
  s: FloorSettings,
  vm: { directory: string; rootfs: string; tap: string; guestIp: string; guestMac: string; index: number },
): object {
  return {
    logger: { log_path: path.join(vm.directory, 'firecracker.log'), level: 'Info' },
    'machine-config': { vcpu_count: s.vcpuCount, mem_size_mib: s.memoryMib },
    'boot-source': {
      kernel_image_path: s.kernelPath,
      boot_args: `${s.bootArgs} ip=${vm.guestIp}::172.31.0.1:255.255.0.0:floor-${vm.index}:eth0:off:172.31.0.1`,
    },
    drives: [{ drive_id: 'rootfs', path_on_host: vm.rootfs, is_root_device: true, is_read_only: false }],
    'network-interfaces': [{ iface_id: 'eth0', host_dev_name: vm.tap, guest_mac: vm.guestMac }],
    'mmds-config': { version: 'V2', network_interfaces: ['eth0'] },
  };
}

/** The guest metadata a floor VMM serves over MMDS (`--metadata`). */
function floorMetadata(vm: { guestIp: string; guestMac: string; index: number }): object {
  return {
    latest: {
      'meta-data': {
        'instance-id': `floor-${vm.index}`,
        hostname: `floor-${vm.index}`,
        'local-ipv4': vm.guestIp,
        mac: vm.guestMac,
        network: { gateway: '172.31.0.1', 'dns-servers': ['172.31.0.1'] },
      },
    },
  };
}
