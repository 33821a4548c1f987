import { describe, expect, it } from 'vitest';
import { createFakeAgent, type FakeAgent } from '../../adapters/fake/fake-agent-context.js';
import { appErrorOf, testSpec, testVmId } from '../../adapters/fake/fake-fixtures.js';
import { snapshotsOf } from '../../domain/vm-record.js';
import { adoptVms } from './adopt-vms.js';
import { applyVm } from './apply-vm.js';
import { deleteVm } from './delete-vm.js';
import { describeVm } from './describe-vm.js';
import { listInventory } from './list-inventory.js';
import { deleteSnapshot, snapshotVm } from './snapshot-vm.js';
import { stopVm } from './stop-vm.js';

const snapshotId = 'snap_01JABCDEFGHJKMNPQRSTVWXYZ0';
const vmDirectory = `/srv/fc/vms/${testVmId}`;
const files = {
  statePath: `${vmDirectory}/${snapshotId}.vmstate`,
  memoryPath: `${vmDirectory}/${snapshotId}.memory`,
  rootfsPath: `${vmDirectory}/${snapshotId}.rootfs.ext4`,
};

async function runningVm(): Promise<FakeAgent> {
  const agent = createFakeAgent();
  await applyVm(agent.context, testVmId, testSpec);
  return agent;
}

/** The Firecracker calls of the VM's process after the apply, as `METHOD path`. */
function callsAfterStart(agent: FakeAgent): string[] {
  const calls = [...agent.vmm.processes.values()].at(-1)?.calls ?? [];
  const start = calls.findIndex((call) => call.path === '/actions');
  return calls.slice(start + 1).map((call) => `${call.method} ${call.path}`);
}

describe('snapshotVm', () => {
  it('pauses a running VM, writes state and memory, copies the disk while paused, then resumes it', async () => {
    const agent = await runningVm();
    const result = await snapshotVm(agent.context, testVmId, snapshotId, { afterwards: 'previous_state' });

    expect(callsAfterStart(agent)).toEqual(['PATCH /vm', 'PUT /snapshot/create', 'PATCH /vm']);
    expect(result).toMatchObject({
      snapshotId,
      vmState: 'running',
      vmmVersion: '1.16.1',
      files: { ...files, memorySizeBytes: 128 * 1024 * 1024, rootfsSizeBytes: 64 * 1024 * 1024 },
    });
    expect(result.pauseMs).toBeGreaterThanOrEqual(0);
    expect(agent.vmm.liveProcesses[0]?.state).toBe('Running');
    for (const path of Object.values(files)) expect(await agent.files.exists(path), path).toBe(true);
    expect(snapshotsOf((await agent.records.get(testVmId))!)).toEqual([
      {
        id: snapshotId,
        state: 'ready',
        ...files,
        resumeAfter: true,
        pauseMs: result.pauseMs,
        vmmVersion: '1.16.1',
        isRelocatable: true,
        digests: result.digests,
      },
    ]);
    // Each file's SHA-256, read back from the files as they are.
    expect(result.digests?.stateSha256).toBe(await agent.files.sha256Of(vmDirectory, files.statePath));
    expect(result.digests?.memorySha256).toBe(await agent.files.sha256Of(vmDirectory, files.memoryPath));
    expect(result.digests?.rootfsSha256).toBe(await agent.files.sha256Of(vmDirectory, files.rootfsPath));
    expect((await describeVm(agent.context, testVmId)).snapshots).toEqual([{ id: snapshotId, state: 'ready' }]);
    expect((await describeVm(agent.context, testVmId)).resources).toContainEqual({
      kind: 'snapshot',
      ref: snapshotId,
      vmId: testVmId,
    });
  });

  it('takes a diff on top of the snapshot its VMM took last: Firecracker writes a Diff, the parent is recorded', async () => {
    const agent = await runningVm();
    await snapshotVm(agent.context, testVmId, snapshotId, { afterwards: 'previous_state' });
    const diffId = 'snap_01JABCDEFGHJKMNPQRSTVWXYZ1';
    await snapshotVm(agent.context, testVmId, diffId, { afterwards: 'previous_state', type: 'diff', parentId: snapshotId });

    const creates = (agent.vmm.liveProcesses[0]?.calls ?? []).filter((call) => call.path === '/snapshot/create');
    expect(creates.map((call) => (call.body as { type: string }).type)).toEqual(['Full', 'Diff']);
    const record = (await agent.records.get(testVmId))!;
    expect(snapshotsOf(record).find((s) => s.id === diffId)).toMatchObject({
      state: 'ready',
      type: 'diff',
      parentId: snapshotId,
    });
    expect(record.process?.memoryBaseSnapshotId).toBe(diffId);
  });

  it('refuses a diff of a VMM that took no snapshot, or on top of an older one, with SNAPSHOT_DIFF_BASE_MISMATCH, pausing nothing', async () => {
    const agent = await runningVm();
    const diffId = 'snap_01JABCDEFGHJKMNPQRSTVWXYZ1';
    const first = await appErrorOf(
      snapshotVm(agent.context, testVmId, diffId, { afterwards: 'previous_state', type: 'diff', parentId: snapshotId }),
    );
    expect(first.code).toBe('SNAPSHOT_DIFF_BASE_MISMATCH');
    expect(callsAfterStart(agent)).toEqual([]);

    await snapshotVm(agent.context, testVmId, snapshotId, { afterwards: 'previous_state' });
    await snapshotVm(agent.context, testVmId, diffId, { afterwards: 'previous_state', type: 'diff', parentId: snapshotId });
    const stale = await appErrorOf(
      snapshotVm(agent.context, testVmId, 'snap_01JABCDEFGHJKMNPQRSTVWXYZ2', {
        afterwards: 'previous_state',
        type: 'diff',
        parentId: snapshotId,
      }),
    );
    expect(stale.code).toBe('SNAPSHOT_DIFF_BASE_MISMATCH');
    expect(stale.details).toMatchObject({ parentId: snapshotId, baseSnapshotId: diffId });
  });

  it('takes the next snapshot full after one that failed: the dirty log may have been reset', async () => {
    const agent = await runningVm();
    await snapshotVm(agent.context, testVmId, snapshotId, { afterwards: 'previous_state' });
    agent.firecracker.faults.set('PUT /snapshot/create', 'Create snapshot error: Cannot save the microVM state: disk full');
    await appErrorOf(snapshotVm(agent.context, testVmId, 'snap_01JABCDEFGHJKMNPQRSTVWXYZ1', { afterwards: 'previous_state' }));
    agent.firecracker.faults.delete('PUT /snapshot/create');
    const refused = await appErrorOf(
      snapshotVm(agent.context, testVmId, 'snap_01JABCDEFGHJKMNPQRSTVWXYZ2', {
        afterwards: 'previous_state',
        type: 'diff',
        parentId: snapshotId,
      }),
    );
    expect(refused.code).toBe('SNAPSHOT_DIFF_BASE_MISMATCH');
  });

  it('records the snapshot as creating before Firecracker writes a file', async () => {
    const agent = await runningVm();
    const recordedAtCreate: unknown[] = [];
    agent.firecracker.onRequest = (method, path) => {
      if (path === '/snapshot/create') recordedAtCreate.push(agent.records.history.at(-1)?.snapshots);
    };
    await snapshotVm(agent.context, testVmId, snapshotId, { afterwards: 'previous_state' });
    expect(recordedAtCreate).toEqual([[{ id: snapshotId, state: 'creating', ...files, resumeAfter: true, isRelocatable: true }]]);
  });

  it('flushes the three files of the snapshot to the disk before it records it ready', async () => {
    const agent = await runningVm();
    const flushedWhenReady: string[][] = [];
    const save = agent.records.save.bind(agent.records);
    agent.records.save = async (record) => {
      if (snapshotsOf(record).some((s) => s.id === snapshotId && s.state === 'ready'))
        flushedWhenReady.push([...agent.files.flushed]);
      return save(record);
    };

    await snapshotVm(agent.context, testVmId, snapshotId, { afterwards: 'previous_state' });

    expect(flushedWhenReady[0]?.sort()).toEqual([files.statePath, files.memoryPath, files.rootfsPath].sort());
  });

  it('removes the snapshot, recorded as failed nowhere, when one of its files cannot be flushed', async () => {
    const agent = await runningVm();
    agent.files.flushFile = async () => false;

    const error = await appErrorOf(snapshotVm(agent.context, testVmId, snapshotId, { afterwards: 'previous_state' }));

    expect(error.code).toBe('HOST_COMMAND_FAILED');
    expect(await agent.files.exists(files.memoryPath)).toBe(false);
    expect(snapshotsOf((await agent.records.get(testVmId))!)).toEqual([]);
  });

  it("reports a snapshot asked for as creating while it waits for the VM's lock, and only its outcome after", async () => {
    const agent = await runningVm();
    let releaseLock: () => void = () => undefined;
    const held = agent.context.locks.run(testVmId, () => new Promise<void>((resolve) => (releaseLock = resolve)));
    const taking = snapshotVm(agent.context, testVmId, snapshotId, { afterwards: 'previous_state' });
    const waiting = (await listInventory(agent.context, 'node-a')).vms.find((vm) => vm.vmId === testVmId);
    expect(waiting?.snapshots).toEqual([{ id: snapshotId, state: 'creating' }]);
    expect(await agent.files.exists(files.memoryPath)).toBe(false);
    releaseLock();
    await held;
    await taking;
    expect((await describeVm(agent.context, testVmId)).snapshots).toEqual([{ id: snapshotId, state: 'ready' }]);
    expect(agent.context.snapshotsAsked.of(testVmId)).toEqual([]);
  });

  it('forgets a snapshot asked for once its request fails', async () => {
    const agent = await runningVm();
    await stopVm(agent.context, testVmId);
    expect((await appErrorOf(snapshotVm(agent.context, testVmId, snapshotId, { afterwards: 'previous_state' }))).code).toBe(
      'VMM_NOT_RUNNING',
    );
    expect(agent.context.snapshotsAsked.of(testVmId)).toEqual([]);
    expect((await describeVm(agent.context, testVmId)).snapshots).toEqual([]);
  });

  it('leaves a paused VM paused and does not count a pause', async () => {
    const agent = await runningVm();
    await agent.context.firecracker.client(`${vmDirectory}/fc.sock`).pauseVm();
    const result = await snapshotVm(agent.context, testVmId, snapshotId, { afterwards: 'previous_state' });
    expect(result).toMatchObject({ vmState: 'paused', pauseMs: 0 });
    expect(agent.vmm.liveProcesses[0]?.state).toBe('Paused');
  });

  it('stops the VM afterwards when asked, keeping the snapshot and the disk', async () => {
    const agent = await runningVm();
    const result = await snapshotVm(agent.context, testVmId, snapshotId, { afterwards: 'stopped' });
    expect(result.vmState).toBe('stopped');
    expect(agent.vmm.liveProcesses).toEqual([]);
    const record = (await agent.records.get(testVmId))!;
    expect(record.lifecycle).toBe('stopped');
    expect(snapshotsOf(record).map((s) => s.state)).toEqual(['ready']);
    for (const path of Object.values(files)) expect(await agent.files.exists(path), path).toBe(true);
  });

  it('resumes the VM and removes what it wrote when Firecracker refuses the snapshot', async () => {
    const agent = await runningVm();
    agent.firecracker.faults.set(
      'PUT /snapshot/create',
      'Create snapshot error: Cannot save the microVM state: No space left on device',
    );
    const error = await appErrorOf(snapshotVm(agent.context, testVmId, snapshotId, { afterwards: 'previous_state' }));
    expect(error).toMatchObject({ code: 'FIRECRACKER_REJECTED', message: expect.stringContaining('No space left') as unknown });
    expect(agent.vmm.liveProcesses[0]?.state).toBe('Running');
    expect(snapshotsOf((await agent.records.get(testVmId))!)).toEqual([]);
    for (const path of Object.values(files)) expect(await agent.files.exists(path), path).toBe(false);
  });

  it('answers a snapshot that is ready again as it was taken, without pausing the VM', async () => {
    const agent = await runningVm();
    const first = await snapshotVm(agent.context, testVmId, snapshotId, { afterwards: 'previous_state' });
    const again = await snapshotVm(agent.context, testVmId, snapshotId, { afterwards: 'previous_state' });
    expect(again).toMatchObject({ snapshotId, pauseMs: first.pauseMs, vmState: 'running', vmmVersion: '1.16.1', files });
    expect(callsAfterStart(agent).filter((call) => call === 'PUT /snapshot/create')).toHaveLength(1);
  });

  it('answers a ready snapshot of a VM stopped since, as stopped', async () => {
    const agent = await runningVm();
    await snapshotVm(agent.context, testVmId, snapshotId, { afterwards: 'stopped' });
    const again = await snapshotVm(agent.context, testVmId, snapshotId, { afterwards: 'previous_state' });
    expect(again).toMatchObject({ snapshotId, vmState: 'stopped', vmmVersion: '1.16.1', files });
  });

  it('refuses a VM whose VMM is not running with VMM_NOT_RUNNING', async () => {
    const agent = await runningVm();
    await stopVm(agent.context, testVmId);
    expect((await appErrorOf(snapshotVm(agent.context, testVmId, snapshotId, { afterwards: 'previous_state' }))).code).toBe(
      'VMM_NOT_RUNNING',
    );
  });
});

describe('adoptVms after a crash during a snapshot', () => {
  it('removes the files of a snapshot still recorded as creating, and forgets it', async () => {
    const agent = await runningVm();
    // What an Agent killed between Firecracker's memory write and the disk copy leaves behind.
    const creating = { id: snapshotId, state: 'creating' as const, ...files };
    await agent.records.save({ ...(await agent.records.get(testVmId))!, snapshots: [creating] });
    agent.files.addFile(files.statePath, '', 0);
    agent.files.addFile(files.memoryPath, '', 1024);

    await adoptVms(agent.context);

    expect(snapshotsOf((await agent.records.get(testVmId))!)).toEqual([]);
    for (const path of Object.values(files)) expect(await agent.files.exists(path), path).toBe(false);
  });

  it.each([
    [true, 'Running'],
    [false, 'Paused'],
  ])('with resumeAfter %s, leaves the guest the snapshot paused %s', async (resumeAfter, expected) => {
    const agent = await runningVm();
    // What an Agent killed between its pause and its resume leaves behind: a paused guest.
    const record = (await agent.records.get(testVmId))!;
    await agent.context.firecracker.client(record.socketPath!).pauseVm();
    const creating = { id: snapshotId, state: 'creating' as const, ...files, resumeAfter };
    await agent.records.save({ ...record, snapshots: [creating] });

    await adoptVms(agent.context);

    expect(agent.vmm.liveProcesses[0]?.state).toBe(expected);
    expect(snapshotsOf((await agent.records.get(testVmId))!)).toEqual([]);
  });
});

describe('deleteSnapshot and deleteVm', () => {
  it('deleteSnapshot removes the three files and forgets the snapshot; the VM runs on', async () => {
    const agent = await runningVm();
    await snapshotVm(agent.context, testVmId, snapshotId, { afterwards: 'previous_state' });
    expect(await deleteSnapshot(agent.context, testVmId, snapshotId)).toEqual({
      removed: [{ kind: 'snapshot', ref: snapshotId, vmId: testVmId }],
    });
    for (const path of Object.values(files)) expect(await agent.files.exists(path), path).toBe(false);
    expect(snapshotsOf((await agent.records.get(testVmId))!)).toEqual([]);
    expect(await deleteSnapshot(agent.context, testVmId, snapshotId)).toEqual({ removed: [] });
    expect(agent.vmm.liveProcesses[0]?.state).toBe('Running');
  });

  it("deleting the VM removes its snapshots' files with it", async () => {
    const agent = await runningVm();
    await snapshotVm(agent.context, testVmId, snapshotId, { afterwards: 'previous_state' });
    const result = await deleteVm(agent.context, testVmId);
    expect(result.removed).toContainEqual({ kind: 'snapshot', ref: snapshotId, vmId: testVmId });
    for (const path of Object.values(files)) expect(await agent.files.exists(path), path).toBe(false);
  });
});
