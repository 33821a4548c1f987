import { describe, expect, it } from 'vitest';
import { createFakeAgent } from '../../adapters/fake/fake-agent-context.js';
import { applyVm } from './apply-vm.js';
import { deleteVm } from './delete-vm.js';
import { describeVm } from './describe-vm.js';
import { stopVm } from './stop-vm.js';
import { appErrorOf, testSpec, testVmId, vmmFileKinds } from '../../adapters/fake/fake-fixtures.js';

describe('stopVm', () => {
  it('kills the VMM and removes TAP, socket and FIFO but keeps the rootfs copy and directory', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, testSpec);

    const result = await stopVm(agent.context, testVmId);

    expect(result.removed.map((resource) => resource.kind)).toEqual(['process', 'tap', 'socket', 'fifo', 'fifo']);
    expect(agent.vmm.liveProcesses).toEqual([]);
    expect([...agent.network.links.keys()]).toEqual(['fcbr0']);
    expect(await agent.files.exists(`/srv/fc/vms/${testVmId}/rootfs.ext4`)).toBe(true);
    const vm = await describeVm(agent.context, testVmId);
    expect(vm.vmmState).toBe('absent');
    expect(vm.resources.map((resource) => resource.kind)).toEqual(['rootfs', ...vmmFileKinds, 'directory']);
  });

  it('reports what could not be removed as VM_CLEANUP_INCOMPLETE with leftovers', async () => {
    const agent = createFakeAgent();
    const applied = await applyVm(agent.context, testVmId, testSpec);
    agent.network.undeletable.add(applied.vm.tapName ?? '');

    const error = await appErrorOf(stopVm(agent.context, testVmId));

    expect(error.code).toBe('VM_CLEANUP_INCOMPLETE');
    expect(error.details?.['leftovers']).toEqual([{ kind: 'tap', ref: applied.vm.tapName, vmId: testVmId }]);
    expect((await agent.records.get(testVmId))?.tap?.name).toBe(applied.vm.tapName);
  });

  it('reports a process that survives the kill as a leftover', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, testSpec);
    for (const process of agent.vmm.liveProcesses) process.isKillable = false;

    const error = await appErrorOf(stopVm(agent.context, testVmId));

    expect(error.code).toBe('VM_CLEANUP_INCOMPLETE');
    expect((error.details?.['leftovers'] as { kind: string }[]).map((resource) => resource.kind)).toEqual(['process']);
  });

  it('still cleans up when the VMM has already died', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, testSpec);
    for (const process of agent.vmm.liveProcesses) process.isAlive = false;

    const result = await stopVm(agent.context, testVmId);

    expect(result.removed.map((resource) => resource.kind)).toEqual(['process', 'tap', 'socket', 'fifo', 'fifo']);
  });

  it('answers VM_NOT_FOUND for a VM the Agent has no record of', async () => {
    const agent = createFakeAgent();

    expect((await appErrorOf(stopVm(agent.context, testVmId))).code).toBe('VM_NOT_FOUND');
  });

  it('lets a stopped VM be applied again with a new VMM and the same rootfs copy', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, testSpec);
    await stopVm(agent.context, testVmId);

    const result = await applyVm(agent.context, testVmId, testSpec);

    expect(result.vm.vmmState).toBe('running');
    expect(result.steps.find((step) => step.name === 'rootfs')?.hasRun).toBe(false);
    expect(agent.files.copyCount).toBe(1);
    expect(agent.vmm.liveProcesses).toHaveLength(1);
  });
});

describe('deleteVm', () => {
  it('removes everything including the rootfs copy, the logs, the directory and the record', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, testSpec);

    const result = await deleteVm(agent.context, testVmId);

    expect(result.removed.map((resource) => resource.kind)).toEqual([
      'process',
      'tap',
      'socket',
      'fifo',
      'fifo',
      'rootfs',
      ...vmmFileKinds,
      'directory',
    ]);
    expect(agent.files.pathsUnder(`/srv/fc/vms/${testVmId}`)).toEqual([]);
    expect(await agent.records.get(testVmId)).toBeUndefined();
  });

  it('deletes a stopped VM', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, testSpec);
    await stopVm(agent.context, testVmId);

    const result = await deleteVm(agent.context, testVmId);

    expect(result.removed.map((resource) => resource.kind)).toEqual(['rootfs', ...vmmFileKinds, 'directory']);
  });

  it('keeps the record and directory when something could not be removed', async () => {
    const agent = createFakeAgent();
    const applied = await applyVm(agent.context, testVmId, testSpec);
    agent.files.unremovable.add(applied.vm.rootfsPath ?? '');

    const error = await appErrorOf(deleteVm(agent.context, testVmId));

    expect(error.code).toBe('VM_CLEANUP_INCOMPLETE');
    expect((error.details?.['leftovers'] as { kind: string }[]).map((resource) => resource.kind)).toEqual(['rootfs']);
    const record = await agent.records.get(testVmId);
    expect(record?.rootfs?.path).toBe(applied.vm.rootfsPath);
    expect(record?.process).toBeNull();
  });

  it('answers VM_NOT_FOUND for an unknown VM', async () => {
    const agent = createFakeAgent();

    expect((await appErrorOf(deleteVm(agent.context, testVmId))).code).toBe('VM_NOT_FOUND');
  });

  it('removes no recorded path that lies outside the run directory, and reports it', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, testSpec);
    await stopVm(agent.context, testVmId);
    agent.files.addFile('/etc/shadow', 'secret');
    const record = agent.records.records.get(testVmId);
    if (record?.rootfs == null) throw new Error('expected a rootfs in the record');
    agent.records.records.set(testVmId, {
      ...record,
      rootfs: { ...record.rootfs, path: '/srv/fc/vms/../../../etc/shadow' },
      logPaths: [...record.logPaths, '/etc/shadow'],
    });

    const error = await appErrorOf(deleteVm(agent.context, testVmId));

    expect(error.code).toBe('VM_CLEANUP_INCOMPLETE');
    expect((error.details?.['leftovers'] as { kind: string }[]).map((resource) => resource.kind)).toEqual(['rootfs', 'log']);
    expect(await agent.files.exists('/etc/shadow')).toBe(true);
    expect(await agent.records.get(testVmId)).toBeDefined();
  });

  it('refuses with VM_RECORD_UNREADABLE and removes nothing when the record is unreadable', async () => {
    const agent = createFakeAgent();
    const applied = await applyVm(agent.context, testVmId, testSpec);
    agent.records.markUnreadable(testVmId, `/srv/fc/vms/${testVmId}`, 'torn');

    const error = await appErrorOf(deleteVm(agent.context, testVmId));

    expect(error.code).toBe('VM_RECORD_UNREADABLE');
    expect(await agent.files.exists(applied.vm.rootfsPath ?? '')).toBe(true);
    expect(agent.vmm.liveProcesses).toHaveLength(1);
  });
});
