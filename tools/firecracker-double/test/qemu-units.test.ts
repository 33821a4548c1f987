/** The qemu backend's pure parts, its QMP client and its migration streams (no QEMU, no root needed). */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkKernelImage } from '../src/backends/kernel.js';
import { guestAppend, hostTscKhz, qemuArgv, unsupportedConfig } from '../src/backends/qemu-argv.js';
import {
  INCOMING_FD,
  INCOMING_FROM_FD_ARGV,
  listenForMigration,
  incomingMigrationEnd,
  streamMigration,
} from '../src/backends/qemu-migration.js';
import { processTimes } from '../src/backends/process-times.js';
import { executableOnPath, QemuSupervisor } from '../src/backends/qemu-process.js';
import { fileTrace } from '../src/backends/qemu-trace.js';
import { QmpClient } from '../src/backends/qmp.js';
import type { GuestSpec } from '../src/backends/types.js';
import type { Drive } from '../src/vmm/types.js';
import { emptyResources } from '../src/vmm/types.js';

function drive(id: string, path: string, root: boolean, ro = false): Drive {
  return {
    drive_id: id,
    partuuid: null,
    is_root_device: root,
    cache_type: 'Unsafe',
    is_read_only: ro,
    path_on_host: path,
    rate_limiter: null,
    io_engine: 'Sync',
    socket: null,
  };
}

function spec(): GuestSpec {
  const r = emptyResources();
  r.machine = { ...r.machine, vcpu_count: 2, mem_size_mib: 256 };
  r.bootSource = { kernel_image_path: '/img/vmlinux', initrd_path: '/img/initrd', boot_args: 'console=ttyS0' };
  r.drives = [drive('data', '/d/data,1.img', false, true), drive('rootfs', '/d/root.ext4', true)];
  r.net = [
    {
      iface_id: 'eth0',
      host_dev_name: 'tap7',
      guest_mac: '06:00:ac:1f:00:02',
      mtu: null,
      rx_rate_limiter: null,
      tx_rate_limiter: null,
    },
  ];
  return {
    instanceId: 'x',
    resources: r,
    cmdline: 'console=ttyS0 root=/dev/vda rw pci=off',
    enablePci: false,
    mmdsData: () => null,
  };
}

describe('qemu argv', () => {
  it('maps the Firecracker config onto a microvm board', () => {
    const argv = qemuArgv(spec(), 'console=ttyS0 root=/dev/vda rw pci=off tsc_early_khz=1000', '/run/q/qmp.sock');
    const pairs = (flag: string) => argv.flatMap((a, i) => (a === flag ? [argv[i + 1]] : []));
    expect(pairs('-M')).toEqual(['microvm,x-option-roms=off,rtc=on,acpi=off']);
    expect(pairs('-accel')).toEqual(['tcg']);
    expect(pairs('-smp')).toEqual(['2']);
    expect(pairs('-m')).toEqual(['256']);
    expect(pairs('-kernel')).toEqual(['/img/vmlinux']);
    expect(pairs('-initrd')).toEqual(['/img/initrd']);
    expect(pairs('-append')).toEqual(['console=ttyS0 root=/dev/vda rw pci=off tsc_early_khz=1000']);
    // Root first (→ /dev/vda); read-only flagged; commas in paths doubled.
    expect(pairs('-drive')).toEqual([
      'id=drive0,file=/d/root.ext4,format=raw,if=none,cache=unsafe,file.locking=off',
      'id=drive1,file=/d/data,,1.img,format=raw,if=none,cache=unsafe,file.locking=off,readonly=on',
    ]);
    expect(pairs('-netdev')).toEqual(['tap,id=net0,ifname=tap7,script=no,downscript=no']);
    expect(pairs('-device')).toContain('virtio-net-device,netdev=net0,mac=06:00:ac:1f:00:02');
    expect(pairs('-device')).toContain('i8042');
    expect(pairs('-qmp')).toEqual(['unix:/run/q/qmp.sock,server=on,wait=off']);
    expect(argv).toContain('-no-reboot');
  });

  it('gives a guest with MMDS one more NIC, after its own, on the MMDS socket', () => {
    const s = spec();
    expect(qemuArgv(s, 'x', '/q', '/run/q/mmds.sock').join(' ')).not.toContain('netdev=mmds');
    s.resources.mmdsConfig = { version: 'V2', network_interfaces: ['eth0'], ipv4_address: '169.254.169.254', imds_compat: false };
    const argv = qemuArgv(s, 'x', '/q', '/run/q,1/mmds.sock');
    const pairs = (flag: string) => argv.flatMap((a, i) => (a === flag ? [argv[i + 1]] : []));
    expect(pairs('-netdev')).toEqual([
      'tap,id=net0,ifname=tap7,script=no,downscript=no',
      'stream,id=mmds,server=off,addr.type=unix,addr.path=/run/q,,1/mmds.sock',
    ]);
    const nics = pairs('-device').filter((d) => d?.startsWith('virtio-net-device'));
    expect(nics).toEqual([
      'virtio-net-device,netdev=net0,mac=06:00:ac:1f:00:02',
      'virtio-net-device,netdev=mmds,mac=06:01:23:45:67:02',
    ]);
  });

  it('refuses a kernel path that is not a regular file without opening it (a FIFO would block)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fc-kernel-'));
    try {
      const fifo = join(dir, 'vmlinux');
      execFileSync('mkfifo', [fifo]);
      expect(() => checkKernelImage(fifo)).toThrow(/Invalid argument/);
      expect(() => checkKernelImage(join(dir, 'missing'))).toThrow(/No such file or directory/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('adds tsc_early_khz once, from /proc/cpuinfo format', () => {
    expect(hostTscKhz('processor : 0\ncpu MHz\t\t: 2599.996\n')).toBe(2599996);
    expect(hostTscKhz('nothing')).toBeUndefined();
    expect(guestAppend('a b', 1234)).toBe('a b tsc_early_khz=1234');
    expect(guestAppend('a tsc_early_khz=5', 1234)).toBe('a tsc_early_khz=5');
  });

  it('names what it cannot run', () => {
    expect(unsupportedConfig(spec())).toBeUndefined();
    const s = spec();
    s.resources.vsock = { guest_cid: 3, uds_path: '/v' };
    s.enablePci = true;
    expect(unsupportedConfig(s)).toBe('The qemu backend does not support: PCI (--enable-pci), vsock');
  });
});

describe('the launcher of QEMU', () => {
  it('finds setpriv on PATH without running it: the first executable file of that name, in PATH order', () => {
    const root = mkdtempSync(join(tmpdir(), 'fcd-path-'));
    try {
      const notExecutable = join(root, 'a');
      const aDirectory = join(root, 'b');
      const first = join(root, 'c');
      const second = join(root, 'd');
      for (const dir of [notExecutable, aDirectory, first, second]) mkdirSync(dir);
      writeFileSync(join(notExecutable, 'setpriv'), '#!/bin/sh\n');
      chmodSync(join(notExecutable, 'setpriv'), 0o644);
      mkdirSync(join(aDirectory, 'setpriv'));
      for (const dir of [first, second]) {
        writeFileSync(join(dir, 'setpriv'), '#!/bin/sh\n');
        chmodSync(join(dir, 'setpriv'), 0o755);
      }

      expect(executableOnPath('setpriv', ['', notExecutable, aDirectory, first, second].join(':'))).toBe(join(first, 'setpriv'));
      expect(executableOnPath('setpriv', [notExecutable, aDirectory].join(':'))).toBeNull();
      expect(executableOnPath('setpriv', '')).toBeNull();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("the trace of QEMU's steps", () => {
  it('appends one JSON line a step with its wall-clock time, creating its directory', () => {
    const root = mkdtempSync(join(tmpdir(), 'fcd-trace-'));
    try {
      const file = join(root, 'traces', 'vm-1.jsonl');
      const trace = fileTrace(file);
      const before = Date.now();
      trace('qemu-spawned', { pid: 42 });
      trace('qmp-ready');
      const lines = readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { step: string; atMs: number; pid?: number });

      expect(lines.map(({ step, pid }) => ({ step, pid }))).toEqual([{ step: 'qemu-spawned', pid: 42 }, { step: 'qmp-ready' }]);
      expect(lines[0]!.atMs).toBeGreaterThanOrEqual(before - 1);
      expect(lines[1]!.atMs).toBeGreaterThanOrEqual(lines[0]!.atMs);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("reads a process's CPU and its main thread's run and wait, and nothing of a process that is gone", () => {
    const start = process.cpuUsage();
    while (process.cpuUsage(start).user < 30_000) {
      /* on a core for 30 ms at least */
    }
    const times = processTimes(process.pid);

    expect(times?.cpuMs).toBeGreaterThan(0);
    expect(times?.mainRunMs).toBeGreaterThanOrEqual(30);
    expect(times?.mainWaitMs).toBeGreaterThanOrEqual(0);
    expect(processTimes(2 ** 22 + 1)).toBeUndefined();
  });

  it("holds QEMU's spawn with its pid, then its QMP answer", async () => {
    const root = mkdtempSync(join(tmpdir(), 'fcd-trace-'));
    const fakeQemu = writeFakeQemu(root);
    const steps: { step: string; fields: Readonly<Record<string, unknown>> | undefined }[] = [];
    const supervisor = new QemuSupervisor(fakeQemu, root, '', (step, fields) => steps.push({ step, fields }));
    try {
      await supervisor.launch((qmpPath) => ['-qmp', `unix:${qmpPath},server=on,wait=off`], null);

      expect(steps).toEqual([
        { step: 'qemu-spawned', fields: { pid: supervisor.pid } },
        { step: 'qmp-ready', fields: undefined },
      ]);
      expect(supervisor.pid).toBeGreaterThan(0);
    } finally {
      supervisor.cleanupSync();
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('keeps its private directory where its run directory is when QEMU first starts, a directory renamed since included', async () => {
    const root = mkdtempSync(join(tmpdir(), 'fcd-rundir-'));
    const fakeQemu = writeFakeQemu(root);
    mkdirSync(join(root, 'warm'));
    let runDir = join(root, 'warm');
    const supervisor = new QemuSupervisor(fakeQemu, () => runDir);
    try {
      renameSync(join(root, 'warm'), join(root, 'vm'));
      runDir = join(root, 'vm');
      await supervisor.launch((qmpPath) => ['-qmp', `unix:${qmpPath},server=on,wait=off`], null);

      expect(existsSync(join(root, 'vm', `qemu-${process.pid}`))).toBe(true);
      expect(existsSync(join(root, 'warm'))).toBe(false);
      supervisor.cleanupSync();
      expect(existsSync(join(root, 'vm', `qemu-${process.pid}`))).toBe(false);
    } finally {
      supervisor.cleanupSync();
      rmSync(root, { recursive: true, force: true });
    }
  });
});

/** Writes, in `dir`, a script that stands for QEMU: it answers QMP on the socket of its `-qmp unix:PATH,…` argument. */
function writeFakeQemu(dir: string): string {
  const fakeQemu = join(dir, 'fake-qemu.mjs');
  writeFileSync(
    fakeQemu,
    [
      `#!${process.execPath}`,
      `import { createServer } from 'node:net';`,
      `const path = /^unix:([^,]+)/.exec(process.argv[process.argv.indexOf('-qmp') + 1])[1];`,
      `createServer((s) => {`,
      `  s.write('{"QMP": {"version": {}, "capabilities": []}}\\r\\n');`,
      `  s.on('data', (d) => { for (const line of d.toString().split('\\n')) if (line.trim()) s.write(JSON.stringify({ return: {}, id: JSON.parse(line).id }) + '\\r\\n'); });`,
      `}).listen(path);`,
    ].join('\n'),
  );
  chmodSync(fakeQemu, 0o755);
  return fakeQemu;
}

/**
 * A QMP peer on a Unix socket in `dir`, standing for QEMU: it greets, and hands each command it
 * reads (one JSON object a line) to `answer` with the connection.
 */
async function qmpPeer(
  dir: string,
  answer: (message: { execute: string; id: string }, connection: Socket) => void,
): Promise<{ path: string; close(): Promise<void> }> {
  const path = join(dir, 'qmp.sock');
  const server = createServer((s: Socket) => {
    s.write('{"QMP": {"version": {}, "capabilities": []}}\r\n');
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const message = JSON.parse(buf.slice(0, nl)) as { execute: string; id: string };
        buf = buf.slice(nl + 1);
        answer(message, s);
      }
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  return { path, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('QMP client', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('greets, negotiates, matches replies by id across events, surfaces errors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qmp-'));
    dirs.push(dir);
    const seen: string[] = [];
    const server = await qmpPeer(dir, (msg, s) => {
      seen.push(msg.execute);
      if (msg.execute === 'bad') {
        s.write(`${JSON.stringify({ error: { class: 'GenericError', desc: 'nope' }, id: msg.id })}\r\n`);
      } else {
        // An event first, and the reply split over two writes.
        const reply = JSON.stringify({ return: msg.execute === 'query-status' ? { status: 'running' } : {}, id: msg.id });
        s.write(`{"event": "RESUME", "timestamp": {}}\r\n${reply.slice(0, 5)}`);
        setTimeout(() => s.write(`${reply.slice(5)}\r\n`), 5);
      }
    });
    const events: string[] = [];
    const qmp = await QmpClient.connect(server.path);
    qmp.onEvent((e) => events.push(e.event));
    expect(await qmp.execute('query-status')).toEqual({ status: 'running' });
    await expect(qmp.execute('bad')).rejects.toThrow('nope');
    expect(seen).toEqual(['qmp_capabilities', 'query-status', 'bad']);
    expect(events).toContain('RESUME');
    qmp.close();
    await expect(qmp.execute('x')).rejects.toThrow('closed');
    await server.close();
  });
});

describe('an incoming migration from a descriptor', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  /**
   * A QMP peer standing for QEMU restoring: `query-status` answers `states` in turn (the last one
   * again after), and `events` (MIGRATION statuses) are sent after the first answer, or the
   * connection is closed then.
   */
  async function qemuRestoring(
    states: readonly string[],
    events: readonly string[] | 'close',
  ): Promise<{ path: string; asked: string[]; close(): Promise<void> }> {
    const dir = mkdtempSync(join(tmpdir(), 'qmp-in-'));
    dirs.push(dir);
    const asked: string[] = [];
    const server = await qmpPeer(dir, (msg, s) => {
      if (msg.execute === 'qmp_capabilities') {
        s.write(`${JSON.stringify({ return: {}, id: msg.id })}\r\n`);
        return;
      }
      asked.push(msg.execute);
      const status = states[Math.min(asked.length - 1, states.length - 1)];
      s.write(`${JSON.stringify({ return: { status }, id: msg.id })}\r\n`);
      if (asked.length !== 1) return;
      if (events === 'close') s.destroy();
      else for (const ended of events) s.write(`${JSON.stringify({ event: 'MIGRATION', data: { status: ended } })}\r\n`);
    });
    return { path: server.path, asked, close: server.close };
  }

  it('gives QEMU the file as its descriptor 3, with migration events from its start', () => {
    expect(INCOMING_FD).toBe(3);
    expect(INCOMING_FROM_FD_ARGV).toEqual(['-S', '-global', 'migration.x-events=on', '-incoming', 'fd:3']);
  });

  it("waits for the migration's end event, not a poll, then reads the run state once", async () => {
    const qemu = await qemuRestoring(['inmigrate', 'paused'], ['active', 'completed']);
    const qmp = await QmpClient.connect(qemu.path);

    expect(await incomingMigrationEnd(qmp, 5_000)).toBe('paused');
    expect(qemu.asked).toEqual(['query-status', 'query-status']);
    qmp.close();
    await qemu.close();
  });

  it('sees a migration that ended before it asked, and a failed one', async () => {
    const before = await qemuRestoring(['paused'], []);
    const early = await QmpClient.connect(before.path);
    expect(await incomingMigrationEnd(early, 5_000)).toBe('paused');
    expect(before.asked).toEqual(['query-status']);
    early.close();
    await before.close();

    const failing = await qemuRestoring(['inmigrate', 'inmigrate'], ['failed']);
    const failed = await QmpClient.connect(failing.path);
    expect(await incomingMigrationEnd(failed, 5_000)).toBe('inmigrate');
    failed.close();
    await failing.close();
  });

  it('fails when QEMU goes or the migration does not end in time', async () => {
    const gone = await qemuRestoring(['inmigrate'], 'close');
    await expect(incomingMigrationEnd(await QmpClient.connect(gone.path), 5_000)).rejects.toThrow('closed');
    await gone.close();

    const silent = await qemuRestoring(['inmigrate'], ['active']);
    const waiting = await QmpClient.connect(silent.path);
    await expect(incomingMigrationEnd(waiting, 50)).rejects.toThrow('within 50 ms');
    waiting.close();
    await silent.close();
  });
});

describe('migration streams', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  function dir(): string {
    const d = mkdtempSync(join(tmpdir(), 'fcd-mig-'));
    dirs.push(d);
    return d;
  }

  it('writes what QEMU sends to the memory file, whose path reaches no shell', async () => {
    const d = dir();
    const memPath = join(d, "mem $(touch pwned) 'x'; rm -rf nothing");
    const sink = await listenForMigration(join(d, 'out.sock'), memPath);
    const qemu = createConnection(sink.uri.slice('unix:'.length));
    qemu.end(Buffer.from('QEVM stream bytes'));

    await sink.written;
    sink.close();

    expect(readFileSync(memPath, 'utf8')).toBe('QEVM stream bytes');
    expect(existsSync(join(d, 'pwned'))).toBe(false);
    expect(sink.uri).toBe(`unix:${join(d, 'out.sock')}`);
  });

  it('refuses a memory file it cannot create, before QEMU sends anything', async () => {
    const d = dir();

    await expect(listenForMigration(join(d, 'out.sock'), join(d, 'missing', 'mem'))).rejects.toThrow(
      'Memory file not written: No such file or directory (os error 2)',
    );
  });

  it('feeds the memory file to an incoming QEMU listener', async () => {
    const d = dir();
    const memPath = join(d, 'mem');
    writeFileSync(memPath, 'saved migration stream');
    const socketPath = join(d, 'in.sock');
    const received: Buffer[] = [];
    const done = new Promise<void>((resolve) => {
      const server = createServer((socket) => {
        socket.on('data', (chunk: Buffer) => received.push(chunk));
        socket.on('end', () => {
          server.close();
          resolve();
        });
      });
      server.listen(socketPath);
    });

    const transferError = await streamMigration(socketPath, memPath, 5_000);
    await done;

    expect(transferError).toBeUndefined();

    expect(Buffer.concat(received).toString('utf8')).toBe('saved migration stream');
  });
});
