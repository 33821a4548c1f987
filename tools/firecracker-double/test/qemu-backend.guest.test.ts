/**
 * The qemu backend with real guests: the double binary runs inside a private network namespace
 * (bridge br0 172.31.0.1/24 + TAPs), boots the project's guest images under QEMU TCG and is
 * driven over the Firecracker API exactly as the Agent does. No traffic leaves the namespace.
 *
 * Needs root (namespaces, TAPs), qemu-system-x86_64, and the guest images of images/build.sh
 * (found by `findGuestImages`: `npm test` builds them in the background and these tests wait).
 * `FC_DOUBLE_QEMU_BENCH=<runs>` adds a boot-time comparison with plain QEMU.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hostTscKhz } from '../src/backends/qemu-argv.js';
import { findGuestImages, hasCommand } from '@hearth/testkit';
import { ApiClient, BIN, canConnect, cleanupAll, tempDir, until } from './helpers.js';

const GUEST_IP = '172.31.0.2';
const HOST_IP = '172.31.0.1';
const GUEST_MAC = '06:00:AC:1F:00:02';
const BOOT_ARGS = `console=ttyS0 reboot=k panic=1 ip=${GUEST_IP}::${HOST_IP}:255.255.255.0::eth0:off`;
const READY = 'HEARTH-GUEST-READY';
const READY_TIMEOUT_MS = 60_000;

const images = await findGuestImages();
const IMAGES = images.dir;
const skipReason =
  process.getuid?.() !== 0
    ? 'needs root (network namespace, TAP devices)'
    : !hasCommand('qemu-system-x86_64')
      ? 'qemu-system-x86_64 missing (apt-get install qemu-system-x86)'
      : !hasCommand('ip')
        ? 'iproute2 missing'
        : !hasCommand('busybox')
          ? 'busybox missing (ping/wget inside the namespace; apt-get install busybox-static)'
          : (images.missing ?? '');
if (skipReason) console.warn(`qemu-backend tests skipped: ${skipReason}`);

const NS = `hearth-q${randomBytes(3).toString('hex')}`;

function sh(cmd: string, args: string[], check = true): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 20_000 });
  if (check && r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.status} ${r.stderr}`);
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}
const nsx = (args: string[], check = true) => sh('ip', ['netns', 'exec', NS, ...args], check);

function ping(): boolean {
  // busybox: iputils ping is not necessarily installed.
  return nsx(['busybox', 'ping', '-c1', '-W1', '-q', GUEST_IP], false).status === 0;
}
function httpGet(url = `http://${GUEST_IP}/`): string | undefined {
  // busybox 1.35's `wget -T` may segfault: bound it with timeout(1) instead.
  const r = nsx(['timeout', '3', 'busybox', 'wget', '-q', '-O', '-', url], false);
  return r.status === 0 ? r.stdout : undefined;
}
function nsPids(): number[] {
  return sh('ip', ['netns', 'pids', NS], false)
    .stdout.split('\n')
    .filter((l) => l.trim() !== '')
    .map(Number);
}
/** Live (not zombie) QEMU processes in the namespace. */
function qemuPidsInNs(): number[] {
  return nsPids().filter((p) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const m = /^\d+ \((.*)\) (\S)/.exec(stat);
      return m !== null && (m[1] ?? '').startsWith('qemu') && m[2] !== 'Z';
    } catch {
      return false;
    }
  });
}

async function killDoubles(): Promise<void> {
  for (const d of doubles) {
    d.api.close();
    if (!d.exit()) {
      d.child.kill('SIGKILL');
      await d.waitExit(10_000).catch(() => undefined);
    }
  }
  await until(() => qemuPidsInNs().length === 0 || undefined, 5000, 'qemu gone').catch(() => undefined);
}

interface NsDouble {
  child: ChildProcess;
  dir: string;
  sock: string;
  api: ApiClient;
  stdout(): string;
  exit(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  waitExit(ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const doubles: NsDouble[] = [];

async function startNsDouble(id: string, env: Readonly<Record<string, string>> = {}): Promise<NsDouble> {
  const dir = tempDir();
  const sock = join(dir, 'api.sock');
  const child = spawn('ip', ['netns', 'exec', NS, process.execPath, BIN, '--api-sock', sock, '--id', id], {
    cwd: dir,
    env: { ...process.env, FC_DOUBLE_BACKEND: 'qemu', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.on('exit', (code, signal) => res((exit = { code, signal }))),
  );
  await until(async () => exit !== undefined || (existsSync(sock) && (await canConnect(sock))), 10_000, 'api socket');
  if (exit) throw new Error(`double exited early: ${out}`);
  const d: NsDouble = {
    child,
    dir,
    sock,
    api: new ApiClient(sock),
    stdout: () => out,
    exit: () => exit,
    waitExit: (ms) =>
      Promise.race([
        exited,
        new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`no exit; output:\n${out}`)), ms).unref()),
      ]),
  };
  doubles.push(d);
  return d;
}

async function put(api: ApiClient, path: string, body: unknown, timeoutMs = 5000): Promise<void> {
  const r = await api.call('PUT', path, body, timeoutMs);
  expect(r.status, `${path}: ${r.body}`).toBe(204);
}

async function state(api: ApiClient): Promise<string> {
  return ((await api.get('/')).json() as { state: string }).state;
}

/** Configures like the Agent: machine, kernel, a rootfs copy, eth0 on `tap`, serial to a file. */
async function configure(d: NsDouble, tap: string): Promise<{ serial: string; rootfs: string }> {
  const img = IMAGES as string;
  const rootfs = join(d.dir, 'rootfs.ext4');
  sh('cp', ['--sparse=always', join(img, 'rootfs.ext4'), rootfs]);
  const serial = join(d.dir, 'serial.log');
  await put(d.api, '/machine-config', { vcpu_count: 1, mem_size_mib: 256 });
  await put(d.api, '/boot-source', { kernel_image_path: join(img, 'vmlinux'), boot_args: BOOT_ARGS });
  await put(d.api, '/drives/rootfs', { drive_id: 'rootfs', path_on_host: rootfs, is_root_device: true, is_read_only: false });
  await put(d.api, '/network-interfaces/eth0', { iface_id: 'eth0', host_dev_name: tap, guest_mac: GUEST_MAC });
  await put(d.api, '/serial', { serial_out_path: serial });
  return { serial, rootfs };
}

function serialText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

async function waitReady(serial: string, d?: NsDouble): Promise<number> {
  await until(
    () => {
      if (d?.exit()) throw new Error(`double exited: ${d.stdout()}\nserial:\n${serialText(serial)}`);
      return serialText(serial).includes(READY) || undefined;
    },
    READY_TIMEOUT_MS,
    `${READY} (serial so far:\n${serialText(serial).slice(-2000)})`,
  );
  return performance.now();
}

/** Boots a guest through the API; returns InstanceStart -> ready in ms. */
async function bootGuest(
  d: NsDouble,
  tap: string,
): Promise<{ serial: string; rootfs: string; readyMs: number; startMs: number }> {
  const files = await configure(d, tap);
  const t0 = performance.now();
  await put(d.api, '/actions', { action_type: 'InstanceStart' }, 30_000);
  const startMs = performance.now() - t0;
  expect(await state(d.api)).toBe('Running');
  const tReady = await waitReady(files.serial, d);
  return { ...files, readyMs: tReady - t0, startMs };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

describe.skipIf(skipReason !== '')('qemu backend: real guests in a network namespace', () => {
  beforeAll(() => {
    sh('ip', ['netns', 'add', NS]);
    nsx(['ip', 'link', 'set', 'lo', 'up']);
    nsx(['ip', 'link', 'add', 'br0', 'type', 'bridge']);
    nsx(['ip', 'addr', 'add', `${HOST_IP}/24`, 'dev', 'br0']);
    nsx(['ip', 'link', 'set', 'br0', 'up']);
    for (const tap of ['tap0', 'tap1']) {
      nsx(['ip', 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
      nsx(['ip', 'link', 'set', tap, 'master', 'br0']);
      nsx(['ip', 'link', 'set', tap, 'up']);
    }
  });

  // A failed test must not leave its guest holding a TAP for the next one.
  afterEach(killDoubles);

  afterAll(async () => {
    await killDoubles();
    for (const p of nsPids()) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    sh('ip', ['netns', 'del', NS], false);
    cleanupAll();
  });

  it('boots, serves, pauses, resumes, and ends on Ctrl+Alt+Del', async () => {
    const d = await startNsDouble('t1');
    const { readyMs, startMs } = await bootGuest(d, 'tap0');
    console.log(
      `qemu backend: InstanceStart answered in ${startMs.toFixed(0)} ms; InstanceStart -> ${READY} ${readyMs.toFixed(0)} ms`,
    );

    // The private QEMU directory sits next to the API socket, mode 0700.
    const priv = readdirSync(d.dir).filter((n) => n.startsWith('qemu-'));
    expect(priv).toHaveLength(1);
    expect(statSync(join(d.dir, priv[0] as string)).mode & 0o777).toBe(0o700);

    await until(() => ping() || undefined, 10_000, 'ping');
    expect(httpGet()).toBeDefined();

    expect((await d.api.patch('/vm', { state: 'Paused' })).status).toBe(204);
    expect(await state(d.api)).toBe('Paused');
    expect(ping()).toBe(false);
    expect((await d.api.patch('/vm', { state: 'Resumed' })).status).toBe(204);
    expect(await state(d.api)).toBe('Running');
    await until(() => ping() || undefined, 10_000, 'ping after resume');

    expect((await d.api.put('/actions', { action_type: 'SendCtrlAltDel' })).status).toBe(204);
    const exit = await d.waitExit(30_000);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(d.stdout()).toContain('Vmm is stopping.');
    expect(d.stdout()).toContain('Firecracker exiting successfully. exit_code=0');
    expect(qemuPidsInNs()).toEqual([]);
    expect(readdirSync(d.dir).filter((n) => n.startsWith('qemu-'))).toEqual([]);
  }, 120_000);

  it('rejects what QEMU cannot start with its stderr and stays Not started', async () => {
    const d = await startNsDouble('t-bad');
    const files = await configure(d, 'tap0');
    // Not an ELF: refused before QEMU runs, with Firecracker's message.
    await put(d.api, '/boot-source', { kernel_image_path: files.rootfs, boot_args: BOOT_ARGS });
    let r = await d.api.call('PUT', '/actions', { action_type: 'InstanceStart' }, 30_000);
    expect(r.status).toBe(400);
    expect((r.json() as { fault_message: string }).fault_message).toBe(
      'Start microvm error: System configuration error: Cannot load kernel due to invalid memory configuration or invalid kernel image: Kernel Loader: Invalid ELF magic number',
    );
    // An ELF header with nothing behind it: QEMU itself fails; its stderr is the message.
    const fake = join(d.dir, 'fake-vmlinux');
    writeFileSync(fake, Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46]), Buffer.alloc(60)]));
    await put(d.api, '/boot-source', { kernel_image_path: fake, boot_args: BOOT_ARGS });
    r = await d.api.call('PUT', '/actions', { action_type: 'InstanceStart' }, 30_000);
    expect(r.status).toBe(400);
    expect((r.json() as { fault_message: string }).fault_message).toBe(
      'Start microvm error: qemu-system-x86_64: Error while loading elf kernel',
    );
    expect(await state(d.api)).toBe('Not started');
    expect(qemuPidsInNs()).toEqual([]);
    // Still configurable and startable after the failure.
    await put(d.api, '/boot-source', { kernel_image_path: join(IMAGES as string, 'vmlinux'), boot_args: BOOT_ARGS });
    await put(d.api, '/actions', { action_type: 'InstanceStart' }, 30_000);
    await waitReady(files.serial, d);
    d.child.kill('SIGTERM');
    expect(await d.waitExit(10_000)).toEqual({ code: null, signal: 'SIGTERM' });
    await until(() => qemuPidsInNs().length === 0 || undefined, 5000, 'qemu gone after SIGTERM');
    expect(readdirSync(d.dir).filter((n) => n.startsWith('qemu-'))).toEqual([]);
  }, 120_000);

  it('snapshots, survives kill -9 without leaking QEMU, and restores in a fresh process', async () => {
    const a = await startNsDouble('t2');
    const { serial, readyMs } = await bootGuest(a, 'tap0');
    console.log(`qemu backend: InstanceStart -> ${READY} ${readyMs.toFixed(0)} ms`);
    await until(() => ping() || undefined, 10_000, 'ping');

    expect((await a.api.patch('/vm', { state: 'Paused' })).status).toBe(204);
    const snap = join(a.dir, 'vm.snap');
    const mem = join(a.dir, 'vm.mem');
    const t0 = performance.now();
    await put(a.api, '/snapshot/create', { snapshot_path: snap, mem_file_path: mem }, 120_000);
    console.log(
      `qemu backend: snapshot create ${(performance.now() - t0).toFixed(0)} ms, memory file ${(statSync(mem).size / 2 ** 20).toFixed(1)} MiB`,
    );
    expect(statSync(snap).size).toBeGreaterThan(0);

    // kill -9 runs no handler in the double: QEMU must go anyway (pdeathsig).
    expect(qemuPidsInNs()).toHaveLength(1);
    a.child.kill('SIGKILL');
    await a.waitExit(10_000);
    await until(() => qemuPidsInNs().length === 0 || undefined, 5000, 'qemu gone after kill -9');

    // The restoring double traces its QEMU's steps (FC_DOUBLE_TRACE_DIR).
    const traceDir = join(tempDir(), 'trace');
    const b = await startNsDouble('t3', { FC_DOUBLE_TRACE_DIR: traceDir });
    const t1 = performance.now();
    await put(
      b.api,
      '/snapshot/load',
      {
        snapshot_path: snap,
        mem_backend: { backend_type: 'File', backend_path: mem },
        network_overrides: [{ iface_id: 'eth0', host_dev_name: 'tap1' }],
        resume_vm: true,
      },
      120_000,
    );
    console.log(`qemu backend: snapshot load + resume ${(performance.now() - t1).toFixed(0)} ms`);
    expect(await state(b.api)).toBe('Running');
    const trace = readFileSync(join(traceDir, 't3.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { step: string; atMs: number; pid?: number; status?: string; cpuMs?: number });
    expect(trace.map((entry) => entry.step)).toEqual(['restore-began', 'qemu-spawned', 'qmp-ready', 'migration-ended']);
    expect(trace[1]?.pid).toBe(qemuPidsInNs()[0]);
    expect(trace[3]).toMatchObject({ status: 'paused', cpuMs: expect.any(Number) as number });
    expect(trace.map((entry) => entry.atMs)).toEqual([...trace.map((entry) => entry.atMs)].sort((x, y) => x - y));
    await until(() => ping() || undefined, 15_000, 'ping after restore');
    expect(httpGet()).toBeDefined();
    // Restored, not rebooted: the console shows one boot.
    expect(serialText(serial).split('Linux version').length - 1).toBeLessThanOrEqual(1);

    b.child.kill('SIGTERM');
    await b.waitExit(10_000);
    await until(() => qemuPidsInNs().length === 0 || undefined, 5000, 'qemu gone after SIGTERM');
    expect(readdirSync(b.dir).filter((n) => n.startsWith('qemu-'))).toEqual([]);
  }, 240_000);

  it('a guest panic (no root, panic=1) ends the process with 0; no serial path: console on stdout', async () => {
    const d = await startNsDouble('t-panic');
    await put(d.api, '/machine-config', { vcpu_count: 1, mem_size_mib: 256 });
    // No ip=: without a NIC the kernel would wait ~10 s for eth0 before panicking.
    const bootArgs = 'console=ttyS0 reboot=k panic=1';
    await put(d.api, '/boot-source', { kernel_image_path: join(IMAGES as string, 'vmlinux'), boot_args: bootArgs });
    await put(d.api, '/actions', { action_type: 'InstanceStart' }, 30_000);
    expect(await d.waitExit(60_000)).toEqual({ code: 0, signal: null });
    expect(d.stdout()).toContain('Kernel panic');
    expect(d.stdout()).toContain('Firecracker exiting successfully. exit_code=0');
    await until(() => qemuPidsInNs().length === 0 || undefined, 5000, 'qemu gone');
  }, 90_000);

  /** MMDS data laid out as the Agent writes it (apps/agent/src/domain/guest-metadata.ts). */
  function metadata(id: string, ip: string, hostname: string, mac: string): unknown {
    const m = mac.toLowerCase();
    const nic = { 'local-ipv4s': ip, 'ipv4-prefix-length': 24, gateway: HOST_IP, 'dns-servers': [HOST_IP] };
    return {
      latest: {
        'meta-data': {
          'instance-id': id,
          hostname,
          'local-ipv4': ip,
          mac: m,
          network: { interfaces: { macs: { [m]: nic } } },
          hearth: { 'entropy-seed': randomBytes(32).toString('hex') },
        },
      },
    };
  }

  it('serves MMDS to its own guest only, which applies the identity it reads at boot and again after a restore', async () => {
    const a = await startNsDouble('t-mmds');
    const files = await configure(a, 'tap0');
    await put(a.api, '/mmds/config', { version: 'V2', network_interfaces: ['eth0'] });
    await put(a.api, '/mmds', metadata('vm-a', GUEST_IP, 'guest-a', GUEST_MAC));
    await put(a.api, '/actions', { action_type: 'InstanceStart' }, 30_000);
    await waitReady(files.serial, a);
    const identity = (id: string): Promise<unknown> =>
      until(
        () => serialText(files.serial).includes(`HEARTH-GUEST-IDENTITY instance-id=${id} `) || undefined,
        30_000,
        `identity ${id} (serial:\n${serialText(files.serial).slice(-1500)})`,
      );
    await identity('vm-a');
    expect(httpGet(`http://${GUEST_IP}/identity`)).toBe(
      `instance-id=vm-a host=guest-a addr=${GUEST_IP}/24 mac=06:00:ac:1f:00:02\n`,
    );
    // The bridge side has no MMDS: asked there, nothing answers for its address.
    nsx(['ip', 'route', 'replace', '169.254.169.254', 'dev', 'br0']);
    expect(httpGet('http://169.254.169.254/latest/meta-data/instance-id')).toBeUndefined();

    // A restore in a fresh process with other metadata (as for a clone): a new identity.
    expect((await a.api.patch('/vm', { state: 'Paused' })).status).toBe(204);
    const snap = join(a.dir, 'vm.snap');
    const mem = join(a.dir, 'vm.mem');
    await put(a.api, '/snapshot/create', { snapshot_path: snap, mem_file_path: mem }, 120_000);
    a.child.kill('SIGKILL');
    await a.waitExit(10_000);
    await until(() => qemuPidsInNs().length === 0 || undefined, 5000, 'qemu gone after kill -9');
    const b = await startNsDouble('t-mmds-b');
    const body = { snapshot_path: snap, mem_backend: { backend_type: 'File', backend_path: mem } };
    await put(b.api, '/snapshot/load', { ...body, network_overrides: [{ iface_id: 'eth0', host_dev_name: 'tap1' }] }, 120_000);
    const otherIp = '172.31.0.3';
    await put(b.api, '/mmds', metadata('vm-b', otherIp, 'guest-b', '06:00:AC:1F:00:03'));
    const t0 = performance.now();
    expect((await b.api.patch('/vm', { state: 'Resumed' })).status).toBe(204);
    await identity('vm-b');
    await until(() => httpGet(`http://${otherIp}/identity`), 15_000, 'the new address answers');
    console.log(`qemu backend: resume -> answering at the new address ${(performance.now() - t0).toFixed(0)} ms`);
    expect(httpGet(`http://${otherIp}/identity`)).toBe(
      `instance-id=vm-b host=guest-b addr=${otherIp}/24 mac=06:00:ac:1f:00:03\n`,
    );
    expect(httpGet(`http://${otherIp}/`)).toContain(`HEARTH-GUEST-OK host=guest-b addr=${otherIp}/24`);
  }, 240_000);

  const benchRuns = Number(process.env['FC_DOUBLE_QEMU_BENCH'] ?? 0);
  it.skipIf(!(benchRuns > 0))(
    'bench: InstanceStart -> ready vs plain QEMU launch -> ready',
    async () => {
      const viaDouble: number[] = [];
      const plain: number[] = [];
      const img = IMAGES as string;
      for (let i = 0; i < benchRuns; i++) {
        const d = await startNsDouble(`bench${i}`);
        viaDouble.push((await bootGuest(d, 'tap0')).readyMs);
        d.child.kill('SIGKILL');
        await d.waitExit(10_000);
        await until(() => qemuPidsInNs().length === 0 || undefined, 5000, 'qemu gone');

        const dir = tempDir();
        const rootfs = join(dir, 'rootfs.ext4');
        sh('cp', ['--sparse=always', join(img, 'rootfs.ext4'), rootfs]);
        const serial = join(dir, 'serial.log');
        const khz = hostTscKhz();
        // prettier-ignore
        const qemuArgs = [
          'netns', 'exec', NS, 'qemu-system-x86_64',
          '-M', 'microvm,x-option-roms=off,rtc=on,acpi=off', '-accel', 'tcg', '-cpu', 'max', '-smp', '1', '-m', '256',
          '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot', '-device', 'i8042',
          '-chardev', `file,id=ser0,path=${serial}`, '-serial', 'chardev:ser0',
          '-kernel', join(img, 'vmlinux'),
          '-append', `${BOOT_ARGS} root=/dev/vda rw pci=off${khz ? ` tsc_early_khz=${khz}` : ''}`,
          '-drive', `id=root,file=${rootfs},format=raw,if=none,cache=unsafe`, '-device', 'virtio-blk-device,drive=root',
          '-netdev', 'tap,id=net0,ifname=tap0,script=no,downscript=no', '-device', `virtio-net-device,netdev=net0,mac=${GUEST_MAC}`,
      ];
        const t0 = performance.now();
        const q = spawn('ip', qemuArgs, { stdio: 'ignore' });
        try {
          plain.push((await waitReady(serial)) - t0);
        } finally {
          q.kill('SIGKILL');
          await until(() => qemuPidsInNs().length === 0 || undefined, 5000, 'plain qemu gone');
        }
      }
      console.log(
        `bench (${benchRuns} runs): InstanceStart -> ready median ${median(viaDouble).toFixed(0)} ms [${viaDouble.map((x) => x.toFixed(0)).join(', ')}]; ` +
          `plain QEMU launch -> ready median ${median(plain).toFixed(0)} ms [${plain.map((x) => x.toFixed(0)).join(', ')}]`,
      );
    },
    600_000,
  );
});
