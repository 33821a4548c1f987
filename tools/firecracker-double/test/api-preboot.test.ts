import { afterEach, describe, expect, it } from 'vitest';
import { basicConfig, boot, cleanupAll, fakeFile, fakeKernel, fault, startDouble } from './helpers.js';

afterEach(cleanupAll);

const DESER = 'An error occurred when deserializing the json body of a request: ';

describe('request parsing errors (behaviour.md#request-errors)', () => {
  it('serde-style messages with positions', async () => {
    const { api } = await startDouble();
    expect(fault(await api.put('/machine-config', { mem_size_mib: 256 }))).toBe(
      `${DESER}missing field \`vcpu_count\` at line 1 column 20.`,
    );
    expect(fault(await api.put('/actions', { action_type: 'InstanceStart', foo: 1 }))).toBe(
      `${DESER}unknown field \`foo\`, expected \`action_type\` at line 1 column 36.`,
    );
    expect(fault(await api.put('/actions', { action_type: 'Nope' }))).toBe(
      `${DESER}unknown variant \`Nope\`, expected one of \`FlushMetrics\`, \`InstanceStart\`, \`SendCtrlAltDel\` at line 1 column 21.`,
    );
    expect(fault(await api.put('/machine-config', { vcpu_count: '-2', mem_size_mib: 1 }))).toContain(
      'invalid type: string "-2", expected u8',
    );
    expect(fault(await api.put('/machine-config', { vcpu_count: 2, mem_size_mib: 18446744073709551616n.toString() }))).toContain(
      'invalid type',
    );
    expect(fault(await api.call('PUT', '/machine-config', '{"vcpu_count": 2, "mem_size_mib": 18446744073709551616}'))).toContain(
      'invalid type: floating point',
    );
    expect(fault(await api.put('/machine-config', { vcpu_count: 256, mem_size_mib: 1 }))).toContain(
      'invalid value: integer `256`, expected u8',
    );
    expect(fault(await api.call('PUT', '/entropy', '{'))).toBe(`${DESER}EOF while parsing an object at line 1 column 1.`);
    expect(fault(await api.put('/mmds/config', { network_interfaces: [], version: 'foo' }))).toContain(
      'unknown variant `foo`, expected `V1` or `V2`',
    );
  });

  it('generic parse-layer errors', async () => {
    const { api } = await startDouble();
    expect(fault(await api.call('GET', '/', '{}'))).toBe('GET request cannot have a body.');
    expect(fault(await api.call('PUT', '/boot-source'))).toBe('Empty PUT request.');
    expect(fault(await api.call('PATCH', '/machine-config'))).toBe('Empty PATCH request.');
    expect(fault(await api.patch('/machine-config', {}))).toBe('Empty PATCH request.');
    expect(fault(await api.patch('/boot-source', {}))).toBe('Invalid request method and/or path: PATCH boot-source.');
    expect(fault(await api.patch('/logger', {}))).toBe('Invalid request method and/or path: PATCH logger.');
    expect(fault(await api.get('/vm'))).toBe('Invalid request method and/or path: GET vm.');
    expect(fault(await api.put('/mmds/foo', {}))).toBe('Unrecognized PUT request path `foo`.');
    expect(fault(await api.get('/balloon/foo'))).toBe('Unrecognized GET request path `foo`.');
    expect(fault(await api.put('/snapshot', {}))).toBe('Missing snapshot operation type.');
    expect(fault(await api.put('/drives/a-b', { drive_id: 'a-b' }))).toBe(
      'API Resource IDs can only contain alphanumeric characters and underscores.',
    );
    expect(fault(await api.put('/drives/', { drive_id: 'x' }))).toBe('The ID cannot be empty.');
    expect(fault(await api.put('/drives/a', { drive_id: 'b', is_root_device: false, path_on_host: '/x' }))).toBe(
      'The id from the path does not match the id from the body!',
    );
    expect(fault(await api.put('/network-interfaces/a', { iface_id: 'b', host_dev_name: 't' }))).toBe(
      'The id from the path [a] does not match the id from the body [b]!',
    );
    expect((await api.get('/machine-config/extra')).status).toBe(200);
  });
});

describe('pre-boot configuration (behaviour.md#state-machine, behaviour.md#endpoints)', () => {
  it('test_api_put_update_pre_boot', async () => {
    const { api, dir } = await startDouble();
    await basicConfig(api, dir);
    expect(fault(await api.put('/boot-source', { kernel_image_path: `${dir}/nope` }))).toBe(
      'Boot source error: The kernel file cannot be opened: No such file or directory (os error 2)',
    );
    expect(
      fault(await api.put('/drives/scratch', { drive_id: 'scratch', path_on_host: `${dir}/nope`, is_root_device: false })),
    ).toBe(
      `Drive config error: Unable to create the virtio block device: Virtio backend error: Error manipulating the backing file: No such file or directory (os error 2) ${dir}/nope`,
    );
    const other = fakeFile(dir, 'other.ext4');
    expect(fault(await api.put('/drives/other', { drive_id: 'other', path_on_host: other, is_root_device: true }))).toBe(
      'Drive config error: A root block device already exists!',
    );
    expect((await api.put('/drives/rootfs', { drive_id: 'rootfs', path_on_host: other, is_root_device: true })).status).toBe(204);
    const mc = { vcpu_count: 4, smt: true, mem_size_mib: 256, track_dirty_pages: true, cpu_template: 'C3' };
    const r = await api.put('/machine-config', mc);
    expect(r.status).toBe(204);
    expect(r.header('Deprecation')).toBe('true');
    expect((await api.get('/machine-config')).json()).toEqual({ ...mc, huge_pages: 'None' });
    // PUT keeps the previous static template when omitted, and resets smt/dirty pages.
    await api.put('/machine-config', { vcpu_count: 2, mem_size_mib: 256 });
    expect((await api.get('/machine-config')).json()).toEqual({
      vcpu_count: 2,
      mem_size_mib: 256,
      smt: false,
      cpu_template: 'C3',
      track_dirty_pages: false,
      huge_pages: 'None',
    });
  });

  it('machine-config validation', async () => {
    const { api } = await startDouble();
    expect(fault(await api.put('/machine-config', { vcpu_count: 0, mem_size_mib: 128 }))).toContain(
      'The number of vCPUs must be greater than 0, less than 32 and must be 1 or an even number if SMT is enabled.',
    );
    expect(fault(await api.put('/machine-config', { vcpu_count: 3, smt: true, mem_size_mib: 128 }))).toContain('number of vCPUs');
    expect(fault(await api.put('/machine-config', { vcpu_count: 1, mem_size_mib: 0 }))).toBe(
      'Machine config error: The memory size (MiB) is either 0, or not a multiple of the configured page size.',
    );
    expect(fault(await api.put('/machine-config', { vcpu_count: 1, mem_size_mib: 129, huge_pages: '2M' }))).toContain(
      'memory size',
    );
    expect((await api.patch('/machine-config', { track_dirty_pages: true })).status).toBe(204);
    expect((await api.get('/machine-config')).json()).toMatchObject({ track_dirty_pages: true, vcpu_count: 1 });
    await api.put('/balloon', { amount_mib: 100, deflate_on_oom: false });
    expect(fault(await api.patch('/machine-config', { mem_size_mib: 64 }))).toBe(
      'Machine config error: The memory size (MiB) is smaller than the previously set balloon device target size.',
    );
  });

  it('test_net_api_put_update_pre_boot', async () => {
    const { api } = await startDouble();
    const put = (id: string, tap: string, mac: string) =>
      api.put(`/network-interfaces/${id}`, { iface_id: id, host_dev_name: tap, guest_mac: mac });
    expect((await put('eth0', 'tap0', '06:00:AC:10:00:02')).status).toBe(204);
    expect((await put('eth1', 'tap1', '06:00:AC:10:00:03')).status).toBe(204);
    expect(fault(await put('eth1', 'tap1', '06:00:AC:10:00:02'))).toBe(
      'Network config error: The MAC address is already in use: 06:00:ac:10:00:02',
    );
    expect(fault(await put('eth1', 'tap0', '06:00:AC:10:00:04'))).toContain(
      'Network config error: Could not create the network device: Open tap device failed:',
    );
    expect((await put('eth1', 'tap2', '06:00:AC:10:00:04')).status).toBe(204);
    expect(fault(await put('eth2', 'tap3', '06:00:AC:10:00'))).toContain('The provided MAC address is invalid.');
    expect(fault(await api.put('/network-interfaces/eth3', { iface_id: 'eth3', host_dev_name: 'tap9', mtu: 10 }))).toBe(
      'Network config error: MTU 10 is out of range [68, 65535]',
    );
    const cfg = (await api.get('/vm/config')).json();
    expect(cfg['network-interfaces']).toEqual([
      {
        iface_id: 'eth0',
        host_dev_name: 'tap0',
        guest_mac: '06:00:ac:10:00:02',
        mtu: null,
        rx_rate_limiter: null,
        tx_rate_limiter: null,
      },
      {
        iface_id: 'eth1',
        host_dev_name: 'tap2',
        guest_mac: '06:00:ac:10:00:04',
        mtu: null,
        rx_rate_limiter: null,
        tx_rate_limiter: null,
      },
    ]);
  });

  it('a missing TAP is rejected when the sysfs check is on', async () => {
    const { api } = await startDouble([], { env: { FC_DOUBLE_SKIP_TAP_CHECK: '0' } });
    expect(fault(await api.put('/network-interfaces/eth0', { iface_id: 'eth0', host_dev_name: 'nosuchtap0' }))).toContain(
      'Could not create the network device: Open tap device failed:',
    );
  });

  it('test_api_mmds_config', async () => {
    const { api } = await startDouble();
    expect(fault(await api.put('/mmds/config', { network_interfaces: [] }))).toBe(
      'MMMDS config error: The list of network interface IDs that allow forwarding MMDS requests is empty.',
    );
    expect(fault(await api.put('/mmds/config', { network_interfaces: ['foo'] }))).toContain(
      'does not correspond to any existing network interface.',
    );
    await api.put('/network-interfaces/eth0', { iface_id: 'eth0', host_dev_name: 'tap0' });
    const r = await api.put('/mmds/config', { network_interfaces: ['eth0'], ipv4_address: '169.254.170.2' });
    expect(r.status).toBe(204);
    expect(r.header('Deprecation')).toBe('true');
    expect((await api.get('/vm/config')).json()['mmds-config']).toEqual({
      version: 'V1',
      network_interfaces: ['eth0'],
      ipv4_address: '169.254.170.2',
      imds_compat: false,
    });
    const v2 = await api.put('/mmds/config', { network_interfaces: ['eth0'], version: 'V2' });
    expect(v2.header('Deprecation')).toBeUndefined();
    expect(fault(await api.put('/mmds/config', { network_interfaces: ['eth0'], ipv4_address: '169.254.0.5' }))).toContain(
      'The MMDS IPv4 address is not link local.',
    );
  });

  it('mmds data store: PUT/PATCH/GET and the 413 limit', async () => {
    const { api } = await startDouble(['--mmds-size-limit', '100']);
    expect((await api.get('/mmds')).json()).toEqual({});
    expect(fault(await api.patch('/mmds', { a: 1 }))).toBe('MMDS error: The MMDS data store is not initialized.');
    expect((await api.put('/mmds', { a: { b: 1 }, c: 2 })).status).toBe(204);
    expect((await api.patch('/mmds', { a: { d: 3 }, c: null })).status).toBe(204);
    expect((await api.get('/mmds')).json()).toEqual({ a: { b: 1, d: 3 } });
    const big = await api.put('/mmds', { x: 'y'.repeat(200) });
    expect(big.status).toBe(413);
    expect(fault(big)).toBe("MMDS limit exceeded error: The MMDS patch request doesn't fit.");
    expect((await api.get('/mmds')).json()).toEqual({ a: { b: 1, d: 3 } });
  });

  it('test_api_balloon / entropy / vsock / hotplug memory pre-boot', async () => {
    const { api, dir } = await startDouble();
    expect(fault(await api.get('/balloon'))).toBe('Balloon config error: No balloon device found.');
    expect(fault(await api.patch('/balloon', { amount_mib: 1 }))).toBe(
      'The requested operation is not supported before starting the microVM.',
    );
    expect((await api.put('/balloon', { amount_mib: 10, deflate_on_oom: true })).status).toBe(204);
    expect((await api.put('/balloon', { amount_mib: 20, deflate_on_oom: false, stats_polling_interval_s: 1 })).status).toBe(204);
    expect((await api.get('/balloon')).raw.toString()).toContain(
      '{"amount_mib":20,"deflate_on_oom":false,"stats_polling_interval_s":1,"free_page_hinting":false,"free_page_reporting":false}',
    );
    expect(fault(await api.put('/balloon', { amount_mib: 1000, deflate_on_oom: true }))).toBe(
      'Balloon config error: Amount of pages requested is too large.',
    );
    expect((await api.put('/entropy', {})).status).toBe(204);
    expect((await api.put('/entropy', { rate_limiter: { bandwidth: { size: 1000, refill_time: 100 } } })).status).toBe(204);
    const v = await api.put('/vsock', { vsock_id: 'v', guest_cid: 3, uds_path: `${dir}/v.sock` });
    expect(v.status).toBe(204);
    expect(v.header('Deprecation')).toBe('true');
    expect((await api.put('/vsock', { guest_cid: 4, uds_path: `${dir}/v.sock` })).status).toBe(204);
    expect((await api.put('/hotplug/memory', { total_size_mib: 1024, slot_size_mib: 128, block_size_mib: 2 })).status).toBe(204);
    expect((await api.put('/hotplug/memory', { total_size_mib: 1024 })).status).toBe(204);
    expect(fault(await api.put('/hotplug/memory', { total_size_mib: 1024, slot_size_mib: 100 }))).toContain(
      'Memory hotplug config error:',
    );
    expect(fault(await api.get('/hotplug/memory'))).toBe('The requested operation is not supported before starting the microVM.');
    const cfg = (await api.get('/vm/config')).json();
    expect(cfg.vsock).toEqual({ guest_cid: 4, uds_path: `${dir}/v.sock` });
    expect(cfg.entropy).toEqual({
      rate_limiter: { bandwidth: { size: 1000, one_time_burst: null, refill_time: 100 }, ops: null },
    });
    expect(cfg['memory-hotplug']).toEqual({ total_size_mib: 1024, slot_size_mib: 128, block_size_mib: 2 });
  });

  it('an existing vsock UDS path is rejected', async () => {
    const { api, dir } = await startDouble();
    const path = fakeFile(dir, 'taken.sock', '');
    expect(fault(await api.put('/vsock', { guest_cid: 3, uds_path: path }))).toBe(
      'Vsock config error: Cannot create backend for vsock device: Error binding to the host-side Unix socket: Address in use (os error 98)',
    );
  });

  it('test_pmem_api and rate limiters', async () => {
    const { api, dir } = await startDouble();
    const f = fakeFile(dir, 'pmem.img');
    expect(fault(await api.put('/pmem/p0', { id: 'p0' }))).toContain('missing field `path_on_host`');
    await basicConfig(api, dir);
    expect(fault(await api.put('/pmem/p0', { id: 'p0', path_on_host: f, root_device: true }))).toBe(
      'Pmem config error: Attempt to add pmem as a root device while the root device defined as a block device',
    );
    expect(
      (
        await api.put('/pmem/p0', {
          id: 'p0',
          path_on_host: f,
          rate_limiter: { ops: { size: 10, refill_time: 10, one_time_burst: 5 } },
        })
      ).status,
    ).toBe(204);
    expect((await api.get('/vm/config')).json().pmem).toEqual([
      {
        id: 'p0',
        path_on_host: f,
        root_device: false,
        read_only: false,
        rate_limiter: { bandwidth: null, ops: { size: 10, one_time_burst: 5, refill_time: 10 } },
      },
    ]);
    expect((await api.put('/pmem/p0', { id: 'p0', path_on_host: f })).status).toBe(204);
    expect((await api.get('/vm/config')).json().pmem[0].rate_limiter).toBeNull();
    expect(fault(await api.patch('/pmem/p0', { id: 'p0' }))).toBe(
      'The requested operation is not supported before starting the microVM.',
    );
  });

  it('a second root pmem is rejected', async () => {
    const { api, dir } = await startDouble();
    const f = fakeFile(dir, 'pmem.img');
    expect((await api.put('/pmem/p0', { id: 'p0', path_on_host: f, root_device: true })).status).toBe(204);
    expect(fault(await api.put('/pmem/p1', { id: 'p1', path_on_host: f, root_device: true }))).toBe(
      'Pmem config error: A root pmem device already exist',
    );
    expect(fault(await api.put('/drives/r', { drive_id: 'r', path_on_host: f, is_root_device: true }))).toBe(
      'Drive config error: Attempt to add block as a root device while the root device defined as a pmem device',
    );
  });

  it('test_api_patch_pre_boot and pre-boot state errors', async () => {
    const { api } = await startDouble();
    const pre = 'The requested operation is not supported before starting the microVM.';
    expect(fault(await api.patch('/drives/x', { drive_id: 'x' }))).toBe(pre);
    expect(fault(await api.patch('/network-interfaces/x', { iface_id: 'x' }))).toBe(pre);
    expect(fault(await api.patch('/vm', { state: 'Paused' }))).toBe(pre);
    expect(fault(await api.put('/actions', { action_type: 'FlushMetrics' }))).toBe(pre);
    expect(fault(await api.put('/actions', { action_type: 'SendCtrlAltDel' }))).toBe(pre);
    expect(fault(await api.put('/snapshot/create', { snapshot_path: 'a', mem_file_path: 'b' }))).toBe(pre);
    expect(fault(await api.get('/balloon/statistics'))).toBe(pre);
    expect(fault(await api.del('/drives/x'))).toBe(pre);
    expect(fault(await api.put('/actions', { action_type: 'InstanceStart' }))).toBe(
      'Start microvm error: Cannot start microvm without kernel configuration.',
    );
  });

  it('drive rate limiters and /vm/config drive objects', async () => {
    const { api, dir } = await startDouble();
    const f = fakeFile(dir, 'd.img');
    const limiters = [
      { bandwidth: { size: 1000000, refill_time: 100, one_time_burst: 0 } },
      { ops: { size: 100, refill_time: 100 } },
      { bandwidth: { size: 1, refill_time: 1 }, ops: { size: 1, refill_time: 1 } },
      {},
    ];
    for (const rl of limiters) {
      expect(
        (await api.put('/drives/d', { drive_id: 'd', path_on_host: f, is_root_device: false, rate_limiter: rl })).status,
      ).toBe(204);
    }
    expect((await api.put('/drives/v', { drive_id: 'v', socket: `${dir}/vhost.sock`, is_root_device: false })).status).toBe(204);
    expect(fault(await api.put('/drives/w', { drive_id: 'w', is_root_device: false }))).toBe(
      'Drive config error: Unable to create the virtio block device: Invalid block config.',
    );
    expect((await api.get('/vm/config')).json().drives).toEqual([
      {
        drive_id: 'd',
        partuuid: null,
        is_root_device: false,
        cache_type: 'Unsafe',
        is_read_only: false,
        path_on_host: f,
        rate_limiter: null,
        io_engine: 'Sync',
        socket: null,
      },
      {
        drive_id: 'v',
        partuuid: null,
        is_root_device: false,
        cache_type: 'Unsafe',
        is_read_only: null,
        path_on_host: null,
        rate_limiter: null,
        io_engine: null,
        socket: `${dir}/vhost.sock`,
      },
    ]);
  });

  it('logger and metrics PUTs', async () => {
    const { api, dir } = await startDouble();
    expect((await api.put('/logger', { log_path: `${dir}/l.log`, level: 'debug', show_level: true })).status).toBe(204);
    expect((await api.put('/logger', { level: 'Warning' })).status).toBe(204);
    expect(fault(await api.put('/logger', { log_path: `${dir}/no/such/dir/l.log` }))).toBe(
      'Logger error: Failed to open target file: No such file or directory (os error 2)',
    );
    expect((await api.put('/metrics', { metrics_path: `${dir}/m.json`, extra: 1 })).status).toBe(204);
    expect(fault(await api.put('/metrics', { metrics_path: `${dir}/m2.json` }))).toBe(
      'Metrics error: Cannot initialize the metrics system due to bad user input: Reinitialization of metrics not allowed.',
    );
  });
});

describe('post-boot rules (behaviour.md#state-machine)', () => {
  it('test_api_put_update_post_boot and runtime updates', async () => {
    const { api, dir } = await startDouble();
    const f = fakeFile(dir, 'scratch.img');
    await api.put('/balloon', { amount_mib: 0, deflate_on_oom: true, stats_polling_interval_s: 1 });
    await api.put('/hotplug/memory', { total_size_mib: 1024 });
    await api.put('/network-interfaces/eth0', { iface_id: 'eth0', host_dev_name: 'tap0' });
    await api.put('/drives/scratch', { drive_id: 'scratch', path_on_host: f, is_root_device: false });
    await boot(api, dir);
    const post = 'The requested operation is not supported after starting the microVM.';
    expect(fault(await api.put('/boot-source', { kernel_image_path: fakeKernel(dir, 'k2') }))).toBe(post);
    expect(fault(await api.put('/machine-config', { vcpu_count: 1, mem_size_mib: 128 }))).toBe(post);
    expect(fault(await api.patch('/machine-config', { vcpu_count: 1 }))).toBe(post);
    expect(fault(await api.put('/mmds/config', { network_interfaces: ['eth0'] }))).toBe(post);
    expect(fault(await api.put('/vsock', { guest_cid: 3, uds_path: `${dir}/v` }))).toBe(post);
    expect(fault(await api.put('/entropy', {}))).toBe(post);
    expect(fault(await api.put('/hotplug/memory', { total_size_mib: 1024 }))).toBe(post);
    expect(fault(await api.put('/actions', { action_type: 'InstanceStart' }))).toBe(post);
    expect(fault(await api.put('/logger', {}))).toBe(post);
    expect(fault(await api.patch('/logger', {}))).toBe('Invalid request method and/or path: PATCH logger.');
    // Hotplug needs --enable-pci.
    expect(fault(await api.put('/drives/hot', { drive_id: 'hot', path_on_host: f, is_root_device: false }))).toBe(
      'PCI is not enabled',
    );
    // Drive PATCH (test_drive_patch)
    expect(fault(await api.patch('/drives/scratch', { drive_id: 'scratch' }))).toContain(
      'Running method expected different backend.',
    );
    expect(fault(await api.patch('/drives/scratch', { drive_id: 'scratch', is_read_only: true }))).toContain(
      'unknown field `is_read_only`',
    );
    expect(fault(await api.patch('/drives/scratch', { drive_id: 'scratch', path_on_host: 'foo.bar' }))).toContain(
      'Error manipulating the backing file: No such file or directory (os error 2) foo.bar',
    );
    const g = fakeFile(dir, 'new.img');
    expect(
      (
        await api.patch('/drives/scratch', {
          drive_id: 'scratch',
          path_on_host: g,
          rate_limiter: { ops: { size: 5, refill_time: 5 } },
        })
      ).status,
    ).toBe(204);
    expect(
      (await api.patch('/drives/scratch', { drive_id: 'scratch', rate_limiter: { bandwidth: { size: 5, refill_time: 5 } } }))
        .status,
    ).toBe(204);
    const d = (await api.get('/vm/config')).json().drives.find((x: { drive_id: string }) => x.drive_id === 'scratch');
    expect(d).toMatchObject({
      path_on_host: g,
      rate_limiter: {
        bandwidth: { size: 5, one_time_burst: null, refill_time: 5 },
        ops: { size: 5, one_time_burst: null, refill_time: 5 },
      },
    });
    // Net PATCH merges limiters.
    expect(
      (await api.patch('/network-interfaces/eth0', { iface_id: 'eth0', tx_rate_limiter: { ops: { size: 1, refill_time: 1 } } }))
        .status,
    ).toBe(204);
    expect(fault(await api.patch('/network-interfaces/nope', { iface_id: 'nope' }))).toContain(
      'Network config error: Unable to update the net device:',
    );
    // Pmem PATCH without limiter is a no-op even for unknown ids.
    expect((await api.patch('/pmem/nope', { id: 'nope' })).status).toBe(204);
    expect(fault(await api.patch('/pmem/nope', { id: 'nope', rate_limiter: {} }))).toContain('not found');
    // Balloon (test_api_balloon post-boot)
    expect((await api.patch('/balloon', { amount_mib: 4 })).status).toBe(204);
    expect(fault(await api.patch('/balloon', { amount_mib: 300 }))).toContain('Requested memory should be less than 256MiB');
    expect((await api.patch('/balloon/statistics', { stats_polling_interval_s: 5 })).status).toBe(204);
    expect(fault(await api.patch('/balloon/statistics', { stats_polling_interval_s: 0 }))).toContain(
      'Statistics cannot be enabled/disabled after activation.',
    );
    expect((await api.get('/balloon')).json().amount_mib).toBe(4);
    expect((await api.get('/balloon/statistics')).json()).toMatchObject({ target_mib: 4, actual_mib: 4, target_pages: 1024 });
    expect(fault(await api.patch('/balloon', { amount_mib: 33554432 }))).toContain('Balloon update error');
    expect(fault(await api.patch('/balloon/hinting/start', {}))).toContain('Attempting to use hinting when not enabled');
    // Memory hotplug (test_api_memory_hotplug)
    expect((await api.get('/hotplug/memory')).json()).toMatchObject({ total_size_mib: 1024, requested_size_mib: 0 });
    expect((await api.patch('/hotplug/memory', { requested_size_mib: 512 })).status).toBe(204);
    expect((await api.get('/hotplug/memory')).json()).toMatchObject({ requested_size_mib: 512 });
    // MMDS post-boot without /mmds/config.
    expect(fault(await api.get('/mmds'))).toBe('MMDS error: The MMDS data store is not initialized.');
  });

  it('hotplug and unplug with --enable-pci', async () => {
    const { api, dir } = await startDouble(['--enable-pci']);
    await boot(api, dir);
    const f = fakeFile(dir, 'hot.img');
    expect((await api.put('/drives/hot', { drive_id: 'hot', path_on_host: f, is_root_device: false })).status).toBe(204);
    expect(fault(await api.put('/drives/hot', { drive_id: 'hot', path_on_host: f, is_root_device: false }))).toBe(
      'Device ID in use',
    );
    expect(fault(await api.del('/drives/rootfs'))).toBe('Cannot unplug root device');
    expect(fault(await api.del('/drives/nope'))).toBe('Device not found');
    expect((await api.del('/drives/hot')).status).toBe(204);
  });
});
