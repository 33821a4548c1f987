import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  basicConfig,
  boot,
  cleanupAll,
  fakeFile,
  fakeKernel,
  fault,
  spawnDouble,
  startDouble,
  tempDir,
  until,
} from './helpers.js';

afterEach(cleanupAll);

const TOP_KEYS = [
  'utc_timestamp_ms',
  'api_server',
  'balloon',
  'block',
  'deprecated_api',
  'get_api_requests',
  'i8042',
  'latencies_us',
  'logger',
  'mmds',
  'net',
  'patch_api_requests',
  'put_api_requests',
  'seccomp',
  'vcpu',
  'vmm',
  'uart',
  'signals',
  'vsock',
  'entropy',
  'interrupts',
  'pmem',
  'memory_hotplug',
];

function metricLines(path: string): Array<Record<string, unknown>> {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('boot, metrics and exit (behaviour.md#state-machine, behaviour.md#metrics)', () => {
  it('InstanceStart: bad kernel is recoverable; metrics line at boot; FlushMetrics; reboot flush and exit 0', async () => {
    const dir = tempDir();
    const metrics = join(dir, 'metrics.json');
    const fc = await startDouble(['--metrics-path', metrics], { dir });
    const { api } = fc;
    await basicConfig(api, dir);
    await api.put('/network-interfaces/eth0', { iface_id: 'eth0', host_dev_name: 'tap0' });
    const bad = fakeFile(dir, 'bzImage', 'MZ not an elf');
    await api.put('/boot-source', { kernel_image_path: bad });
    expect(fault(await api.put('/actions', { action_type: 'InstanceStart' }))).toContain(
      'Start microvm error: System configuration error: Cannot load kernel due to invalid memory configuration or invalid kernel image: ',
    );
    expect((await api.get('/')).json().state).toBe('Not started');
    expect(metricLines(metrics)).toHaveLength(0);
    await api.put('/boot-source', { kernel_image_path: fakeKernel(dir) });
    expect((await api.put('/actions', { action_type: 'InstanceStart' })).status).toBe(204);
    expect((await api.get('/')).json()).toEqual({
      id: 'anonymous-instance',
      state: 'Running',
      vmm_version: '1.16.1',
      app_name: 'Firecracker',
    });
    const first = metricLines(metrics);
    expect(first).toHaveLength(1);
    expect(Object.keys(first[0] ?? {}).filter((k) => !k.startsWith('block_') && !k.startsWith('net_'))).toEqual(TOP_KEYS);
    expect(first[0]).toHaveProperty('block_rootfs');
    expect(first[0]).toHaveProperty('net_eth0');
    expect(Math.abs(Date.now() - (first[0]?.['utc_timestamp_ms'] as number))).toBeLessThan(1000);
    expect((await api.put('/actions', { action_type: 'FlushMetrics' })).status).toBe(204);
    expect(metricLines(metrics)).toHaveLength(2);
    expect((await api.put('/actions', { action_type: 'SendCtrlAltDel' })).status).toBe(204);
    expect(await fc.waitExit()).toEqual({ code: 0, signal: null });
    expect(metricLines(metrics)).toHaveLength(3);
    expect(fc.stdout()).toContain('Vmm is stopping.');
    expect(fc.stdout().trim().split('\n').pop()).toMatch(/Firecracker exiting successfully\. exit_code=0$/);
    expect(existsSync(fc.sock)).toBe(true);
  });

  it('test_pause_resume', async () => {
    const { api, dir } = await startDouble();
    expect(fault(await api.patch('/vm', { state: 'Paused' }))).toContain('before starting');
    await boot(api, dir);
    for (const [target, state] of [
      ['Paused', 'Paused'],
      ['Paused', 'Paused'],
      ['Resumed', 'Running'],
      ['Resumed', 'Running'],
    ] as const) {
      expect((await api.patch('/vm', { state: target })).status).toBe(204);
      expect((await api.get('/')).json().state).toBe(state);
    }
  });

  it('no root device: the guest panics and, with panic=1 reboot=k, the process exits 0', async () => {
    const fc = await startDouble();
    await fc.api.put('/boot-source', { kernel_image_path: fakeKernel(fc.dir) });
    expect((await fc.api.put('/actions', { action_type: 'InstanceStart' })).status).toBe(204);
    expect((await fc.waitExit(5000)).code).toBe(0);
  });
});

describe('config file (behaviour.md#config-file)', () => {
  function writeConfig(dir: string, extra: Record<string, unknown> = {}): string {
    const cfg = {
      'boot-source': { kernel_image_path: fakeKernel(dir), boot_args: 'console=ttyS0 reboot=k panic=1', initrd_path: null },
      drives: [
        {
          drive_id: 'rootfs',
          partuuid: null,
          is_root_device: true,
          cache_type: 'Unsafe',
          is_read_only: false,
          path_on_host: fakeFile(dir, 'root.ext4'),
          rate_limiter: null,
          io_engine: 'Sync',
          socket: null,
        },
      ],
      'machine-config': { vcpu_count: 2, mem_size_mib: 256, smt: false, track_dirty_pages: false, huge_pages: 'None' },
      ...extra,
    };
    const path = join(dir, 'config.json');
    writeFileSync(path, JSON.stringify(cfg));
    return path;
  }

  it('boots immediately; runtime API only; /vm/config reflects the file', async () => {
    const dir = tempDir();
    const cfgPath = writeConfig(dir, { unknown_top_level: 1 });
    const fc = await startDouble(['--config-file', cfgPath], { dir });
    await until(async () => (await fc.api.get('/')).json().state === 'Running', 3000, 'Running');
    const cfg = (await fc.api.get('/vm/config')).json();
    const file = JSON.parse(readFileSync(cfgPath, 'utf8'));
    expect(cfg['boot-source']).toEqual(file['boot-source']);
    expect(cfg.drives).toEqual(file.drives);
    expect(cfg['machine-config']).toEqual(file['machine-config']);
    expect(fault(await fc.api.put('/machine-config', { vcpu_count: 1, mem_size_mib: 128 }))).toContain('after starting');
  });

  it('--no-api boots without a socket; a bad config exits 1', async () => {
    const dir = tempDir();
    const cfgPath = writeConfig(dir);
    const ok = spawnDouble(['--no-api', '--config-file', cfgPath], { dir });
    await until(
      () => ok.stdout().includes('Successfully started microvm that was configured from one single json'),
      3000,
      'boot log',
    );
    expect(existsSync(join(dir, 'api.sock'))).toBe(false);
    const badDir = tempDir();
    writeFileSync(join(badDir, 'bad.json'), JSON.stringify({ 'boot-source': { kernel_image_path: '/nope' }, drives: [] }));
    const bad = spawnDouble(['--no-api', '--config-file', join(badDir, 'bad.json')], { dir: badDir });
    expect((await bad.waitExit()).code).toBe(1);
    expect(bad.stdout()).toContain(
      'Configuration for VMM from one single json failed: Boot source error: The kernel file cannot be opened',
    );
  });

  it('--metadata preloads MMDS; over the limit exits 1', async () => {
    const dir = tempDir();
    const meta = fakeFile(dir, 'meta.json', JSON.stringify({ latest: { meta: 'data' } }));
    const fc = await startDouble(['--metadata', meta], { dir });
    expect((await fc.api.get('/mmds')).json()).toEqual({ latest: { meta: 'data' } });
    const big = spawnDouble(['--metadata', meta, '--mmds-size-limit', '5']);
    expect((await big.waitExit()).code).toBe(1);
    expect(big.stdout()).toContain("Populating MMDS from file failed: The MMDS patch request doesn't fit.");
  });
});

describe('snapshots (behaviour.md#endpoint-snapshot, behaviour.md#snapshot-files)', () => {
  it('create while running fails; create+load round trip in a fresh process with network_overrides', async () => {
    const dir = tempDir();
    const a = await startDouble([], { dir });
    await basicConfig(a.api, dir);
    await a.api.put('/network-interfaces/eth0', { iface_id: 'eth0', host_dev_name: 'tap0', guest_mac: '06:00:ac:10:00:02' });
    await a.api.put('/balloon', { amount_mib: 16, deflate_on_oom: true });
    await a.api.put('/vsock', { guest_cid: 3, uds_path: join(dir, 'v.sock') });
    await a.api.put('/network-interfaces/eth0', { iface_id: 'eth0', host_dev_name: 'tap0', guest_mac: '06:00:ac:10:00:02' });
    await a.api.put('/mmds/config', { network_interfaces: ['eth0'], version: 'V2' });
    await a.api.put('/entropy', {});
    expect((await a.api.put('/actions', { action_type: 'InstanceStart' })).status).toBe(204);
    const state = join(dir, 'vm.state');
    const mem = join(dir, 'vm.mem');
    expect(fault(await a.api.put('/snapshot/create', { snapshot_path: state, mem_file_path: mem }))).toBe(
      'Create snapshot error: Cannot save the microVM state: Operation not allowed: save/restore unavailable while running',
    );
    await a.api.patch('/vm', { state: 'Paused' });
    expect(
      (await a.api.put('/snapshot/create', { snapshot_path: state, mem_file_path: mem, snapshot_type: 'Full' })).status,
    ).toBe(204);
    expect((await a.api.get('/')).json().state).toBe('Paused');
    expect(statSync(mem).size).toBe(256 * 1024 * 1024);
    expect(readFileSync(state).readBigUInt64LE(0)).toBe(0x0710_1984_8664_0000n);
    const original = (await a.api.get('/vm/config')).json();
    a.child.kill('SIGKILL');
    await a.waitExit();

    const bDir = tempDir();
    const b = await startDouble([], { dir: bDir });
    await b.api.put('/logger', { level: 'Info' });
    const r = await b.api.put('/snapshot/load', {
      snapshot_path: state,
      mem_backend: { backend_type: 'File', backend_path: mem },
      network_overrides: [{ iface_id: 'eth0', host_dev_name: 'tap7' }],
      vsock_override: { uds_path: join(bDir, 'v2.sock') },
    });
    expect(r.status).toBe(204);
    expect((await b.api.get('/')).json().state).toBe('Paused');
    const restored = (await b.api.get('/vm/config')).json();
    expect(restored['network-interfaces'][0].host_dev_name).toBe('tap7');
    expect(restored.vsock).toEqual({ guest_cid: 3, uds_path: join(bDir, 'v2.sock') });
    expect(restored.balloon).toEqual(original.balloon);
    expect(restored['machine-config']).toEqual(original['machine-config']);
    expect(restored['boot-source'].boot_args).toBe('console=ttyS0 reboot=k panic=1 root=/dev/vda rw pci=off');
    expect(restored['mmds-config']).toEqual({
      version: 'V2',
      network_interfaces: ['eth0'],
      ipv4_address: '169.254.169.254',
      imds_compat: false,
    });
    expect(restored.entropy).toBeNull();
    expect(fault(await b.api.put('/actions', { action_type: 'InstanceStart' }))).toContain('after starting');
    expect(fault(await b.api.put('/boot-source', { kernel_image_path: '/x' }))).toContain('after starting');
    expect((await b.api.patch('/vm', { state: 'Resumed' })).status).toBe(204);
    expect((await b.api.get('/')).json().state).toBe('Running');
  });

  it('a Diff holds only the pages dirtied since the last snapshot, as a sparse file; a Full all pages written', async () => {
    const dir = tempDir();
    const fc = await startDouble([], { dir });
    await basicConfig(fc.api, dir);
    await fc.api.patch('/machine-config', { track_dirty_pages: true });
    await fc.api.put('/actions', { action_type: 'InstanceStart' });
    const take = async (name: string, snapshotType: 'Full' | 'Diff'): Promise<string> => {
      const mem = join(dir, `${name}.mem`);
      const r = await fc.api.put('/snapshot/create', {
        snapshot_path: join(dir, `${name}.state`),
        mem_file_path: mem,
        snapshot_type: snapshotType,
      });
      expect(r.status).toBe(204);
      return mem;
    };
    await fc.api.patch('/vm', { state: 'Paused' });
    const full = await take('full', 'Full');
    await fc.api.patch('/vm', { state: 'Resumed' });
    await fc.api.patch('/vm', { state: 'Paused' });
    const diff = await take('diff', 'Diff');
    const idle = await take('idle', 'Diff');
    for (const mem of [full, diff, idle]) expect(statSync(mem).size).toBe(256 * 1024 * 1024);
    expect(readFileSync(full).subarray(0, 30).toString()).toBe('simulated guest memory, run 1\n');
    expect(readFileSync(diff).subarray(0, 30).toString()).toBe('simulated guest memory, run 2\n');
    // Nothing was written since the diff: the next one is all holes.
    expect(statSync(idle).blocks).toBe(0);
    expect(statSync(diff).blocks).toBeGreaterThan(0);
    expect(statSync(diff).blocks * 512).toBeLessThan(1024 * 1024);
  });

  it('boot-specific calls (even failing) block snapshot load', async () => {
    const { api, dir } = await startDouble();
    await api.put('/boot-source', { kernel_image_path: join(dir, 'missing') });
    expect(
      fault(await api.put('/snapshot/load', { snapshot_path: 'x', mem_backend: { backend_type: 'File', backend_path: 'y' } })),
    ).toBe('Load snapshot error: Loading a microVM snapshot not allowed after configuring boot-specific resources.');
    expect((await api.get('/')).json().state).toBe('Not started');
  });

  it('test_negative_snapshot_load_api: parse errors are not fatal', async () => {
    const { api } = await startDouble();
    const cases: Array<[unknown, string]> = [
      [
        { snapshot_path: 'x', mem_file_path: 'm', mem_backend: { backend_type: 'File', backend_path: 'y' } },
        'too many fields: either `mem_backend` or `mem_file_path` exclusively is required.',
      ],
      [{ snapshot_path: 'x', mem_backend: { backend_path: 'y' } }, 'missing field `backend_type`'],
      [{ snapshot_path: 'x', mem_backend: { backend_type: 'File' } }, 'missing field `backend_path`'],
      [{ mem_backend: { backend_type: 'File', backend_path: 'y' } }, 'missing field `snapshot_path`'],
      [
        { snapshot_path: 'x', mem_backend: { backend_type: 'foo', backend_path: 'y' } },
        'unknown variant `foo`, expected `File` or `Uffd`',
      ],
      [{ snapshot_path: 'x' }, 'missing field: either `mem_backend` or `mem_file_path` is required.'],
    ];
    for (const [body, msg] of cases) expect(fault(await api.put('/snapshot/load', body))).toContain(msg);
    expect((await api.get('/')).status).toBe(200);
  });

  it('a failed restore answers 400 (with deprecation) and exits 1', async () => {
    const fc = await startDouble();
    const r = await fc.api.put('/snapshot/load', {
      snapshot_path: join(fc.dir, 'nope'),
      mem_file_path: join(fc.dir, 'nope.mem'),
    });
    expect(r.status).toBe(400);
    expect(r.header('Deprecation')).toBe('true');
    expect(fault(r)).toBe(
      'Load snapshot error: Failed to restore from snapshot: Failed to get snapshot state from file: Failed to open snapshot file: No such file or directory (os error 2)',
    );
    expect((await fc.waitExit()).code).toBe(1);
  });

  it('an empty state file gives "File too short to contain CRC" and exits 1', async () => {
    const fc = await startDouble();
    const empty = fakeFile(fc.dir, 'empty.state', '');
    const mem = fakeFile(fc.dir, 'empty.mem', '');
    const r = await fc.api.put('/snapshot/load', {
      snapshot_path: empty,
      mem_backend: { backend_type: 'File', backend_path: mem },
    });
    expect(fault(r)).toContain('IO Error: File too short to contain CRC');
    expect((await fc.waitExit()).code).toBe(1);
  });

  it('a corrupted state file fails the CRC check', async () => {
    const dir = tempDir();
    const a = await startDouble([], { dir });
    await boot(a.api, dir);
    await a.api.patch('/vm', { state: 'Paused' });
    const state = join(dir, 's');
    await a.api.put('/snapshot/create', { snapshot_path: state, mem_file_path: join(dir, 'm') });
    const buf = readFileSync(state);
    buf[20] = (buf[20] ?? 0) ^ 0xff;
    writeFileSync(state, buf);
    const b = await startDouble();
    const r = await b.api.put('/snapshot/load', {
      snapshot_path: state,
      mem_backend: { backend_type: 'File', backend_path: join(dir, 'm') },
    });
    expect(fault(r)).toContain('CRC64 validation failed');
    expect((await b.waitExit()).code).toBe(1);
  });
});

describe('serial console (behaviour.md#endpoint-balloon)', () => {
  const rootDrive = (dir: string) => ({
    drive_id: 'rootfs',
    path_on_host: fakeFile(dir, 'rootfs.ext4'),
    is_root_device: true,
    is_read_only: false,
  });

  it('with console=ttyS0 the guest boot log goes to stdout and ends at a login prompt', async () => {
    const fc = await startDouble();
    await fc.api.put('/boot-source', { kernel_image_path: fakeKernel(fc.dir), boot_args: 'console=ttyS0 reboot=k panic=1' });
    await fc.api.put('/drives/rootfs', rootDrive(fc.dir));
    expect((await fc.api.put('/actions', { action_type: 'InstanceStart' })).status).toBe(204);
    const out = await until(() => (fc.stdout().includes('login: ') ? fc.stdout() : undefined), 5000, 'login prompt');
    expect(out).toContain('Linux version');
    expect(out).toContain('Command line: console=ttyS0 reboot=k panic=1');
  });

  it('PUT /serial sends the console to serial_out_path instead of stdout', async () => {
    const fc = await startDouble();
    const serialPath = join(fc.dir, 'serial.log');
    await fc.api.put('/boot-source', { kernel_image_path: fakeKernel(fc.dir), boot_args: 'console=ttyS0' });
    await fc.api.put('/drives/rootfs', rootDrive(fc.dir));
    expect((await fc.api.put('/serial', { serial_out_path: serialPath })).status).toBe(204);
    expect((await fc.api.put('/actions', { action_type: 'InstanceStart' })).status).toBe(204);
    expect(readFileSync(serialPath, 'utf8')).toContain('login: ');
    expect(fc.stdout()).not.toContain('Linux version');
  });

  it('without console=ttyS0 the serial port stays silent', async () => {
    const fc = await startDouble();
    await fc.api.put('/boot-source', { kernel_image_path: fakeKernel(fc.dir), boot_args: 'reboot=k panic=1' });
    await fc.api.put('/drives/rootfs', rootDrive(fc.dir));
    expect((await fc.api.put('/actions', { action_type: 'InstanceStart' })).status).toBe(204);
    expect((await fc.api.get('/')).json().state).toBe('Running');
    expect(fc.stdout()).not.toContain('Linux version');
  });

  it('reads its stdin as the serial input: the simulated getty echoes, logs in and answers (behaviour.md#serial-input)', async () => {
    const fc = await startDouble([], { stdinPipe: true });
    await fc.api.put('/boot-source', { kernel_image_path: fakeKernel(fc.dir), boot_args: 'console=ttyS0' });
    await fc.api.put('/drives/rootfs', rootDrive(fc.dir));
    expect((await fc.api.put('/actions', { action_type: 'InstanceStart' })).status).toBe(204);
    await until(() => fc.stdout().includes('login: ') || undefined, 5000, 'login prompt');
    fc.child.stdin?.write('root\r');
    fc.child.stdin?.write('echo hello from the serial port\r');
    const out = await until(() => (fc.stdout().includes('serial port\r\nhello') ? fc.stdout() : undefined), 5000, 'echo answer');
    expect(out).toContain('root@anonymous-instance:~# echo hello from the serial port\r\nhello from the serial port\r\nroot@');
  });
});
