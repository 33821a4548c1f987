import { describe, expect, it } from 'vitest';
import { unconfiguredBootArgsMaxLength, type VmSpec } from '@hearth/contracts';
import { createFakeAgent, fakeKernelPath, fakeRootfsPath } from '../../adapters/fake/fake-agent-context.js';
import { appErrorOf, vmmFileKinds } from '../../adapters/fake/fake-fixtures.js';
import { parseVmId } from '../../domain/vm-id.js';
import type { VmRecord } from '../../domain/vm-record.js';
import { applyVm } from './apply-vm.js';
import { deleteVm } from './delete-vm.js';

const vmId = parseVmId('vm_01JABCDEFGHJKMNPQRSTVWXYZ0');
const addressedGuest = {
  ipAddress: '172.30.0.7',
  prefixLength: 16,
  gateway: '172.30.0.1',
  dnsServers: ['172.30.0.1'],
  hostname: 'web-1',
};
const spec: VmSpec = {
  vcpuCount: 2,
  memoryMib: 256,
  kernelPath: fakeKernelPath,
  rootfsSourcePath: fakeRootfsPath,
  bootArgs: 'console=ttyS0 reboot=k panic=1 pci=off',
  guestMac: '06:00:ac:10:00:02',
  isMetricsEnabled: true,
};

describe('applyVm', () => {
  it('runs every step in order and leaves a running VM', async () => {
    const agent = createFakeAgent();
    const result = await applyVm(agent.context, vmId, spec);

    expect(result.steps.map((step) => step.name)).toEqual(['tap', 'rootfs', 'spawn', 'start']);
    expect(result.steps.every((step) => step.hasRun)).toBe(true);
    expect(result.vm.vmmState).toBe('running');
    expect(result.vm.tapName).toBe('fcmnpqrstvwxyz0');
    expect(result.vm.rootfsPath).toBe(`/srv/fc/vms/${vmId}/rootfs.ext4`);
  });

  it('starts Firecracker configured with the private rootfs copy, the TAP and the spec, and asks it nothing else', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, vmId, spec);

    // Only the wait until it answers: the configuration went with the start.
    expect(agent.firecracker.requestCount).toBe(agent.firecracker.describeCount);
    expect(agent.firecracker.describeCount).toBe(1);

    const [process] = agent.vmm.liveProcesses;
    expect(process?.instanceId).toBe('vm-01JABCDEFGHJKMNPQRSTVWXYZ0');
    expect(process?.calls.map((call) => [call.path, call.body])).toEqual([
      ['/logger', { logPath: `/srv/fc/vms/${vmId}/firecracker.log`, level: 'Info' }],
      ['/metrics', { metricsPath: `/srv/fc/vms/${vmId}/metrics.fifo` }],
      ['/machine-config', { vcpuCount: 2, memoryMib: 256 }],
      ['/boot-source', { kernelImagePath: expect.stringMatching(/^\/proc\/agent\/fd\/\d+$/) as string, bootArgs: spec.bootArgs }],
      ['/drives/rootfs', { driveId: 'rootfs', pathOnHost: 'rootfs.ext4', isRootDevice: true, isReadOnly: false }],
      ['/network-interfaces/eth0', { ifaceId: 'eth0', hostDevName: 'fcmnpqrstvwxyz0', guestMac: spec.guestMac }],
      ['/actions', { action_type: 'InstanceStart' }],
    ]);
  });

  it('records the TAP, the rootfs copy and the files it is started with before the VMM that opens them starts, and the complete copy with its process', async () => {
    const agent = createFakeAgent();
    let atSpawn: VmRecord | undefined;
    let filesAtSpawn: string[] = [];
    const spawn = agent.vmm.spawn.bind(agent.vmm);
    agent.vmm.spawn = async (request) => {
      atSpawn = agent.records.records.get(vmId);
      filesAtSpawn = agent.files.pathsUnder(`/srv/fc/vms/${vmId}`);
      return spawn(request);
    };
    const saved: VmRecord[] = [];
    const save = agent.records.save.bind(agent.records);
    agent.records.save = async (record) => {
      saved.push(record);
      return save(record);
    };

    await applyVm(agent.context, vmId, { ...spec, guest: addressedGuest });

    expect(atSpawn?.tap?.name).toBe('fcmnpqrstvwxyz0');
    // The copy is recorded (a crash leaves it named), complete only with the process that holds it.
    expect(atSpawn?.rootfs).toEqual({
      path: `/srv/fc/vms/${vmId}/rootfs.ext4`,
      sourcePath: spec.rootfsSourcePath,
      sizeBytes: null,
    });
    const withProcess = saved.filter((record) => record.process !== null);
    expect(withProcess.length).toBeGreaterThan(0);
    expect(withProcess.map((record) => record.rootfs?.sizeBytes)).toEqual(withProcess.map(() => 64 * 1024 * 1024));
    // Four writes became three: the first, the process with the complete copy, running.
    expect(saved.map((record) => [record.lifecycle, record.process !== null, record.rootfs?.sizeBytes ?? null])).toEqual([
      ['applying', false, null],
      ['applying', true, 64 * 1024 * 1024],
      ['running', true, 64 * 1024 * 1024],
    ]);
    expect(filesAtSpawn).toEqual(expect.arrayContaining([`/srv/fc/vms/${vmId}/rootfs.ext4`, `/srv/fc/vms/${vmId}/metrics.fifo`]));
    expect(atSpawn?.logPaths).toEqual(
      expect.arrayContaining([`/srv/fc/vms/${vmId}/vmm-config.json`, `/srv/fc/vms/${vmId}/mmds.json`]),
    );
    expect(filesAtSpawn).not.toContain(`/srv/fc/vms/${vmId}/vmm-config.json`);
    expect(agent.files.files.has(`/srv/fc/vms/${vmId}/vmm-config.json`)).toBe(true);
    expect(agent.files.files.has(`/srv/fc/vms/${vmId}/mmds.json`)).toBe(true);
    const record = await agent.records.get(vmId);
    expect(record?.process?.pid).toBe(agent.vmm.liveProcesses[0]?.pid);
    expect(record?.socketPath).toBe(`/srv/fc/vms/${vmId}/fc.sock`);
  });

  it('starts the VMM of a guest with an address only behind its guard', async () => {
    const agent = createFakeAgent({ guard: { table: 'hearth' } });
    let guardedAtSpawn: readonly unknown[] | undefined;
    const spawn = agent.vmm.spawn.bind(agent.vmm);
    agent.vmm.spawn = async (request) => {
      guardedAtSpawn = (await agent.firewall.readTable('hearth')).guardElements;
      return spawn(request);
    };

    await applyVm(agent.context, vmId, { ...spec, guest: addressedGuest });

    expect(guardedAtSpawn).toHaveLength(1);
  });

  it('records the rootfs copy as incomplete before copying, with the new record itself', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, vmId, spec);

    const firstWithRootfs = agent.records.history.find((record) => record.rootfs !== null);
    expect(firstWithRootfs).toBe(agent.records.history[0]);
    expect(firstWithRootfs?.rootfs).toEqual({
      path: `/srv/fc/vms/${vmId}/rootfs.ext4`,
      sourcePath: fakeRootfsPath,
      sizeBytes: null,
    });
    // Not written again before the copy: the next record that names the copy has its size.
    const rootfsStates = agent.records.history.map((record) => record.rootfs?.sizeBytes);
    expect(rootfsStates.filter((size) => size === null)).toHaveLength(rootfsStates.indexOf(64 * 1024 * 1024));
  });

  it("names a new VM's TAP, console FIFO and metrics FIFO with its record's first write, before making them", async () => {
    const agent = createFakeAgent();
    let recordAtTap: VmRecord | undefined;
    const createTap = agent.network.createTap.bind(agent.network);
    agent.network.createTap = async (name, bridge, mark) => {
      recordAtTap = agent.records.records.get(vmId);
      return createTap(name, bridge, mark);
    };

    await applyVm(agent.context, vmId, spec);

    const [first, ...later] = agent.records.history;
    expect(first?.tap).toEqual({ name: 'fcmnpqrstvwxyz0', bridge: 'fcbr0' });
    expect(first?.consoleFifoPath).toBe(`/srv/fc/vms/${vmId}/console.fifo`);
    expect(first?.fifoPath).toBe(`/srv/fc/vms/${vmId}/metrics.fifo`);
    expect(recordAtTap?.tap).toEqual(first?.tap);
    // No step writes them again: the writes after the first record the copy, the process and the state.
    expect(later.map((record) => [record.tap, record.consoleFifoPath, record.fifoPath])).toEqual(
      later.map(() => [first?.tap, first?.consoleFifoPath, first?.fifoPath]),
    );
  });

  it('records the incomplete copy again when a failed VM with no copy recorded is applied again', async () => {
    const agent = createFakeAgent();
    agent.vmm.nextSpawnCrashOutput = 'boom';
    await expect(applyVm(agent.context, vmId, spec)).rejects.toThrow();
    // As a crash between its copy and its record would leave it: no copy recorded.
    await agent.context.records.save({ ...agent.records.records.get(vmId)!, rootfs: null });
    const saved = agent.records.history.length;

    await applyVm(agent.context, vmId, spec);

    const rootfsStates = agent.records.history
      .slice(saved)
      .map((record) => (record.rootfs === null ? 'none' : record.rootfs.sizeBytes));
    expect(rootfsStates[0]).toBeNull();
    expect(rootfsStates.at(-1)).toBe(64 * 1024 * 1024);
  });

  it('answers the same without side effects when the running VM is applied again', async () => {
    const agent = createFakeAgent();
    const first = await applyVm(agent.context, vmId, spec);
    const requestsBefore = agent.firecracker.requestCount;
    const commandsBefore = agent.network.commandCount;
    const savesBefore = agent.records.history.length;

    const second = await applyVm(agent.context, vmId, spec);

    expect(second.vm).toEqual(first.vm);
    expect(second.steps.every((step) => !step.hasRun)).toBe(true);
    expect(agent.vmm.processes.size).toBe(1);
    expect(agent.files.copyCount).toBe(1);
    expect(agent.network.commandCount).toBe(commandsBefore);
    expect(agent.records.history.length).toBe(savesBefore);
    expect(agent.firecracker.requestCount - requestsBefore).toBeLessThanOrEqual(1);
  });

  it('rejects a different spec for a running VM with VM_INVALID_TRANSITION', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, vmId, spec);

    const error = await appErrorOf(applyVm(agent.context, vmId, { ...spec, memoryMib: 512 }));

    expect(error.code).toBe('VM_INVALID_TRANSITION');
  });

  it('keeps Firecracker fault_message in a FIRECRACKER_REJECTED error', async () => {
    const agent = createFakeAgent();
    agent.firecracker.faults.set(
      'PUT /boot-source',
      'Boot source error: The kernel file cannot be opened: No such file or directory (os error 2)',
    );

    const error = await appErrorOf(applyVm(agent.context, vmId, spec));

    expect(error.code).toBe('FIRECRACKER_REJECTED');
    expect(error.message).toBe('Boot source error: The kernel file cannot be opened: No such file or directory (os error 2)');
    expect(error.details?.['faultMessage']).toBe(error.message);
  });

  it('leaves a record of everything created when a step fails, and delete then removes it all', async () => {
    const agent = createFakeAgent();
    agent.firecracker.faults.set('PUT /network-interfaces/eth0', 'Network config error: Could not create the network device');
    await appErrorOf(applyVm(agent.context, vmId, spec));

    const record = await agent.records.get(vmId);
    expect(record?.lifecycle).toBe('failed');
    expect(record?.tap).not.toBeNull();
    expect(record?.process).not.toBeNull();
    expect(record?.fifoPath).not.toBeNull();

    const cleanup = await deleteVm(agent.context, vmId);

    expect(cleanup.removed.map((resource) => resource.kind)).toEqual([
      'process',
      'tap',
      'socket',
      'fifo',
      'fifo',
      'rootfs',
      ...vmmFileKinds,
      'directory',
    ]);
    expect(agent.vmm.liveProcesses).toEqual([]);
    expect([...agent.network.links.keys()]).toEqual(['fcbr0']);
    expect(agent.files.pathsUnder(`/srv/fc/vms/${vmId}`)).toEqual([]);
    expect(await agent.records.get(vmId)).toBeUndefined();
  });

  it('completes a failed VM when applied again, reusing its TAP and rootfs copy, with a VMM started anew', async () => {
    const agent = createFakeAgent();
    agent.firecracker.faults.set('PUT /drives/rootfs', 'Drive config error: A root block device already exists!');
    await appErrorOf(applyVm(agent.context, vmId, spec));
    agent.firecracker.faults.clear();

    const result = await applyVm(agent.context, vmId, spec);

    expect(result.vm.vmmState).toBe('running');
    expect(result.steps.filter((step) => !step.hasRun).map((step) => step.name)).toEqual(['tap', 'rootfs']);
    // The first one ended when it could not build its VM.
    expect(agent.vmm.processes.size).toBe(2);
    expect(agent.vmm.liveProcesses).toHaveLength(1);
  });

  it('takes up a VMM an interrupted apply left running as it is: nothing is configured or started again', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, vmId, spec);
    // As an Agent killed after the VM started, before its record said so, leaves it.
    await agent.records.save({ ...(await agent.records.get(vmId))!, lifecycle: 'applying' });
    const callsBefore = agent.vmm.liveProcesses[0]?.calls.length;

    const result = await applyVm(agent.context, vmId, spec);

    expect(result.vm.vmmState).toBe('running');
    expect(result.steps.every((step) => !step.hasRun)).toBe(true);
    expect(agent.vmm.processes.size).toBe(1);
    expect(agent.vmm.liveProcesses[0]?.calls.length).toBe(callsBefore);
  });

  it('fails with VM_START_FAILED on a live VMM that was never started, which cannot boot by itself', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, vmId, spec);
    await agent.records.save({ ...(await agent.records.get(vmId))!, lifecycle: 'applying' });
    agent.vmm.liveProcesses[0]!.state = 'Not started';

    const error = await appErrorOf(applyVm(agent.context, vmId, spec));

    expect(error.code).toBe('VM_START_FAILED');
    expect((await agent.records.get(vmId))?.lifecycle).toBe('failed');
  });

  it('records the metrics the VMM took with its process: metrics cost a create no record write', async () => {
    const withMetrics = createFakeAgent();
    await applyVm(withMetrics.context, vmId, spec);
    const withoutMetrics = createFakeAgent();
    await applyVm(withoutMetrics.context, vmId, { ...spec, isMetricsEnabled: false });

    const saves = withMetrics.records.history.filter((record) => record.vmId === vmId);
    expect(saves.length).toBe(withoutMetrics.records.history.filter((record) => record.vmId === vmId).length);
    const firstWithProcess = saves.find((record) => record.process !== null);
    expect(firstWithProcess?.process?.isMetricsConfigured).toBe(true);
  });

  it('saves the metrics the VMM took with the failed state when a later step fails', async () => {
    const agent = createFakeAgent();
    agent.firecracker.faults.set('PUT /drives/rootfs', 'Drive config error: A root block device already exists!');
    await appErrorOf(applyVm(agent.context, vmId, spec));

    const record = await agent.records.get(vmId);
    expect(record?.lifecycle).toBe('failed');
    expect(record?.process?.isMetricsConfigured).toBe(true);
  });

  it('makes again a recorded TAP that a crash left unmarked and unattached, and uses it', async () => {
    const agent = createFakeAgent();
    agent.firecracker.faults.set('PUT /drives/rootfs', 'Drive config error: A root block device already exists!');
    await appErrorOf(applyVm(agent.context, vmId, spec));
    agent.firecracker.faults.clear();
    const tapName = (await agent.records.get(vmId))!.tap!.name;
    // What a kill between creating the TAP and marking it leaves: the record names it, nothing marks it.
    agent.network.links.set(tapName, { kind: 'tap', isUp: false, master: null, addresses: [], alias: null });

    const result = await applyVm(agent.context, vmId, spec);

    expect(result.vm.tapName).toBe(tapName);
    expect(result.steps.find((step) => step.name === 'tap')?.hasRun).toBe(true);
    expect(agent.network.links.get(tapName)).toMatchObject({ master: 'fcbr0', isUp: true });
    expect(agent.network.links.get(tapName)?.alias).toMatch(new RegExp(`${vmId}$`));
  });

  it('leaves a recorded TAP name to whoever marked that link since, and takes another name', async () => {
    const agent = createFakeAgent();
    agent.firecracker.faults.set('PUT /drives/rootfs', 'Drive config error: A root block device already exists!');
    await appErrorOf(applyVm(agent.context, vmId, spec));
    agent.firecracker.faults.clear();
    const tapName = (await agent.records.get(vmId))!.tap!.name;
    agent.network.links.set(tapName, { kind: 'other', isUp: true, master: null, addresses: [], alias: 'another tool' });

    const result = await applyVm(agent.context, vmId, spec);

    expect(result.vm.tapName).not.toBe(tapName);
    expect(agent.network.links.get(tapName)).toMatchObject({ kind: 'other', alias: 'another tool' });
  });

  it('never removes a recorded TAP name whose link another tool has marked since', async () => {
    const agent = createFakeAgent();
    agent.firecracker.faults.set('PUT /drives/rootfs', 'Drive config error: A root block device already exists!');
    await appErrorOf(applyVm(agent.context, vmId, spec));
    const tapName = (await agent.records.get(vmId))!.tap!.name;
    agent.network.links.set(tapName, { kind: 'other', isUp: true, master: null, addresses: [], alias: 'another tool' });

    await deleteVm(agent.context, vmId);

    expect(agent.network.links.get(tapName)).toMatchObject({ kind: 'other', alias: 'another tool' });
    expect(await agent.records.get(vmId)).toBeUndefined();
  });

  it('refuses image paths outside the image root before creating anything', async () => {
    const agent = createFakeAgent();
    agent.files.addFile('/etc/shadow', 'secret');

    const error = await appErrorOf(applyVm(agent.context, vmId, { ...spec, kernelPath: '/srv/images/../../etc/shadow' }));

    expect(error.code).toBe('IMAGE_PATH_FORBIDDEN');
    expect(agent.records.history).toEqual([]);
  });

  it('refuses a symlink in the image root that points outside it', async () => {
    const agent = createFakeAgent();
    agent.files.addFile('/etc/shadow', 'secret');
    agent.files.symlinks.set('/srv/images/escape', '/etc/shadow');

    const error = await appErrorOf(applyVm(agent.context, vmId, { ...spec, rootfsSourcePath: '/srv/images/escape' }));

    expect(error.code).toBe('IMAGE_NOT_REGULAR_FILE');
    expect(agent.files.copyCount).toBe(0);
  });

  it('gives Firecracker the kernel the Agent holds open, not its name, and releases it once started', async () => {
    const agent = createFakeAgent();

    await applyVm(agent.context, vmId, spec);

    const [process] = agent.vmm.liveProcesses;
    const bootSource = process?.calls.find((call) => call.path === '/boot-source')?.body as { kernelImagePath: string };
    expect(bootSource.kernelImagePath).toMatch(/^\/proc\/agent\/fd\/\d+$/);
    expect(agent.files.held.size).toBe(0);
  });

  it('refuses a FIFO registered as an image with IMAGE_NOT_REGULAR_FILE before creating anything', async () => {
    const agent = createFakeAgent();
    agent.files.files.set('/srv/images/pipe', { kind: 'fifo', content: '', sizeBytes: 0 });

    const error = await appErrorOf(applyVm(agent.context, vmId, { ...spec, rootfsSourcePath: '/srv/images/pipe' }));

    expect(error.code).toBe('IMAGE_NOT_REGULAR_FILE');
    expect(agent.records.history).toEqual([]);
  });

  it('answers IMAGE_FILE_NOT_FOUND for a missing image', async () => {
    const agent = createFakeAgent();

    const error = await appErrorOf(applyVm(agent.context, vmId, { ...spec, kernelPath: '/srv/images/missing' }));

    expect(error.code).toBe('IMAGE_FILE_NOT_FOUND');
  });

  it('rejects a run directory whose socket path would exceed 107 bytes with HOST_LIMIT_EXCEEDED', async () => {
    const agent = createFakeAgent({ runDir: `/srv/${'x'.repeat(80)}` });

    const error = await appErrorOf(applyVm(agent.context, vmId, spec));

    expect(error.code).toBe('HOST_LIMIT_EXCEEDED');
    expect(agent.records.history).toEqual([]);
  });

  it('fails with VMM_SPAWN_FAILED, its stderr kept for the log only, when Firecracker exits before answering', async () => {
    const agent = createFakeAgent();
    agent.vmm.nextSpawnCrashOutput = 'Error: Kvm(Error opening /dev/kvm)\n';

    const error = await appErrorOf(applyVm(agent.context, vmId, spec));

    expect(error.code).toBe('VMM_SPAWN_FAILED');
    expect(error.message).not.toContain('/dev/kvm');
    expect(error.diagnostics?.['output']).toContain('Error opening /dev/kvm');
  });

  it('skips the metrics step when metrics are disabled', async () => {
    const agent = createFakeAgent();

    const result = await applyVm(agent.context, vmId, { ...spec, isMetricsEnabled: false });

    expect(result.steps.map((step) => step.name)).not.toContain('metrics');
    expect((await agent.records.get(vmId))?.fifoPath).toBeNull();
  });

  describe('with its guest configured', () => {
    const guest = {
      ipAddress: '172.30.0.7',
      prefixLength: 16,
      gateway: '172.30.0.1',
      dnsServers: ['172.30.0.1', '9.9.9.9'],
      hostname: 'web-1',
      userData: '#!/bin/sh\necho hello\n',
    };

    it("appends the kernel's ip= argument to the boot arguments", async () => {
      const agent = createFakeAgent();
      await applyVm(agent.context, vmId, { ...spec, guest });

      const bootSource = agent.vmm.liveProcesses[0]?.calls.find((call) => call.path === '/boot-source');
      expect((bootSource?.body as { bootArgs: string }).bootArgs).toBe(
        `${spec.bootArgs} ip=172.30.0.7::172.30.0.1:255.255.0.0:web-1:eth0:off:172.30.0.1:9.9.9.9`,
      );
    });

    it('starts its VMM with MMDS version 2 on its one interface, after the interface, with its network, hostname and user data', async () => {
      const agent = createFakeAgent();
      const result = await applyVm(agent.context, vmId, { ...spec, guest });

      expect(result.steps.map((step) => step.name)).not.toContain('mmds');
      const [process] = agent.vmm.liveProcesses;
      // In Firecracker's order for a configuration given at the start: the data, then MMDS on the interface.
      expect(process?.calls.map((call) => call.path).slice(-4)).toEqual([
        '/network-interfaces/eth0',
        '/mmds',
        '/mmds/config',
        '/actions',
      ]);
      expect(process?.calls.find((call) => call.path === '/mmds/config')?.body).toEqual({
        version: 'V2',
        network_interfaces: ['eth0'],
      });
      expect(process?.mmds).toEqual({
        latest: {
          'meta-data': {
            'instance-id': vmId,
            hostname: 'web-1',
            'local-hostname': 'web-1',
            'local-ipv4': '172.30.0.7',
            mac: spec.guestMac,
            network: {
              interfaces: {
                macs: {
                  [spec.guestMac]: {
                    'device-name': 'eth0',
                    'local-ipv4s': '172.30.0.7',
                    'ipv4-prefix-length': 16,
                    gateway: '172.30.0.1',
                    'dns-servers': ['172.30.0.1', '9.9.9.9'],
                  },
                },
              },
            },
            hearth: { 'entropy-seed': expect.stringMatching(/^[0-9a-f]{64}$/) as unknown },
          },
          'user-data': guest.userData,
        },
      });
    });

    it('refuses boot arguments that no longer fit the kernel command line with the ip= argument, before creating anything', async () => {
      const agent = createFakeAgent();
      const bootArgs = 'x'.repeat(unconfiguredBootArgsMaxLength - 10);

      const error = await appErrorOf(applyVm(agent.context, vmId, { ...spec, bootArgs, guest }));

      expect(error.code).toBe('VALIDATION_FAILED');
      expect(agent.vmm.liveProcesses).toEqual([]);
      expect(await agent.records.get(vmId)).toBeUndefined();
    });

    it('has no mmds step and leaves the boot arguments as they are for a VM without guest configuration', async () => {
      const agent = createFakeAgent();
      const result = await applyVm(agent.context, vmId, spec);

      expect(result.steps.map((step) => step.name)).not.toContain('mmds');
      expect(agent.vmm.liveProcesses[0]?.mmds).toBeUndefined();
    });
  });

  it('picks another TAP name when the first candidate is taken by a foreign link', async () => {
    const agent = createFakeAgent();
    agent.network.addForeignLink('fcmnpqrstvwxyz0');

    const result = await applyVm(agent.context, vmId, spec);

    expect(result.vm.tapName).not.toBe('fcmnpqrstvwxyz0');
    expect(result.vm.tapName).toHaveLength(15);
    expect(agent.network.links.get('fcmnpqrstvwxyz0')?.kind).toBe('other');
  });
});
