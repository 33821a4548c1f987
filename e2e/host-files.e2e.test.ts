import { execFileSync } from 'node:child_process';
import { readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingRequirements, openSse, writeEmptyExt4, writeFakeKernel } from '@hearth/testkit';
import { startStack, type Stack } from './support/stack.js';

interface Vm {
  id: string;
  hostId: string;
  state: string;
  observedState: string | null;
}
interface LedgerItem {
  kind: string;
  ref: string;
  vmId: string;
  isRecordUnreadable: boolean;
}

const skipReason = missingRequirements({ root: true, database: true, commands: ['ip', 'mkfs.ext4', 'mkfifo'] });

describe.skipIf(skipReason)(`VM records and image files on the host${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let stack: Stack;
  let kernelImageId: string;
  let rootfsImageId: string;

  beforeAll(async () => {
    stack = await startStack();
    writeFakeKernel(path.join(stack.imageRoot, 'vmlinux'));
    writeEmptyExt4(path.join(stack.imageRoot, 'base.ext4'));
    const kernel = await stack.api<{ id: string }>('POST', '/v1/images', {
      kind: 'kernel',
      name: 'vmlinux',
      hostPath: path.join(stack.imageRoot, 'vmlinux'),
    });
    const rootfs = await stack.api<{ id: string }>('POST', '/v1/images', {
      kind: 'rootfs',
      name: 'base',
      hostPath: path.join(stack.imageRoot, 'base.ext4'),
    });
    kernelImageId = kernel.body.id;
    rootfsImageId = rootfs.body.id;
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('fails a VM at once with the reason (no 30 s hang, no 500) when its rootfs image was replaced by a FIFO', async () => {
    const fifoImage = path.join(stack.imageRoot, 'swapped.ext4');
    writeEmptyExt4(fifoImage);
    const image = await stack.api<{ id: string }>('POST', '/v1/images', { kind: 'rootfs', name: 'swapped', hostPath: fifoImage });
    expect(image.status).toBe(201);
    await rm(fifoImage);
    execFileSync('mkfifo', [fifoImage]);

    const startedAt = Date.now();
    const created = await stack.api<{ code: string }>('POST', '/v1/vms', {
      name: 'fifo',
      vcpuCount: 1,
      memoryMib: 128,
      kernelImageId,
      rootfsImageId: image.body.id,
    });

    expect(Date.now() - startedAt).toBeLessThan(10_000);
    expect(created.status).toBe(400);
    expect(created.body.code).toBe('IMAGE_NOT_REGULAR_FILE');
    const vms = await stack.api<{ items: Array<Vm & { name: string; failureReason: { code: string } | null }> }>(
      'GET',
      '/v1/vms?limit=100',
    );
    expect(vms.body.items.find((vm) => vm.name === 'fifo')).toMatchObject({
      state: 'failed',
      failureReason: { code: 'IMAGE_NOT_REGULAR_FILE' },
    });
  }, 60_000);

  it('keeps the VM directory and rootfs across an Agent restart, reports them, and leaves the VM alone until repaired', async () => {
    const created = await stack.api<Vm>('POST', '/v1/vms', {
      name: 'torn',
      vcpuCount: 1,
      memoryMib: 128,
      kernelImageId,
      rootfsImageId,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const vm = created.body;
    expect(vm.state).toBe('running');
    const directory = path.join(stack.runDir, 'vms', vm.id);
    // The record's two slots (ADR 0120): both damaged, the record cannot be read.
    const recordPath = path.join(directory, 'record.json');
    const alternatePath = path.join(directory, 'record.json.alt');
    const rootfsPath = path.join(directory, 'rootfs.ext4');
    const original = await readFile(recordPath, 'utf8');
    const rootfsBefore = await stat(rootfsPath);
    // The guest writes to its disk: that is the data a fresh copy would lose.
    await writeFile(rootfsPath, 'guest data', { flag: 'r+' });

    const stream = await openSse(`${stack.managerUrl}/v1/events/stream?vmId=${vm.id}`, {
      authorization: `Bearer ${stack.adminToken}`,
    });
    try {
      await truncate(recordPath, Math.floor(original.length / 2));
      await truncate(alternatePath, Math.floor(original.length / 2));
      await stack.restartAgent();

      // The VM becomes unknown (through the quarantine, or first because the host missed heartbeats
      // while the Agent restarted) and the observation says why.
      let isUnknown = false;
      let isObservedUnreadable = false;
      while (!isUnknown || !isObservedUnreadable) {
        const message = await stream.next((m) => m.data !== undefined, 30_000);
        const event = JSON.parse(message.data!) as { vmId: string; type: string; toState: string | null; message: string };
        if (event.vmId !== vm.id) continue;
        if (event.toState === 'unknown') isUnknown = true;
        if (event.type === 'vm.observed_state_changed' && event.message.endsWith('→ unreadable')) isObservedUnreadable = true;
      }
    } finally {
      stream.close();
    }
    const quarantined = await stack.api<Vm>('GET', `/v1/vms/${vm.id}`);
    expect(quarantined.body).toMatchObject({ state: 'unknown', observedState: 'unreadable' });
    expect((await stat(rootfsPath)).size).toBe(rootfsBefore.size);
    expect((await readFile(rootfsPath)).subarray(0, 10).toString()).toBe('guest data');
    const ledger = await stack.api<{ items: LedgerItem[] }>('GET', `/v1/hosts/${vm.hostId}/resources`);
    expect(ledger.body.items).toContainEqual(
      expect.objectContaining({ kind: 'directory', ref: directory, vmId: vm.id, isRecordUnreadable: true }),
    );
    const refused = await stack.agentFetch(`/agent/v1/vms/${vm.id}`, { method: 'DELETE' });
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { code: string }).code).toBe('VM_RECORD_UNREADABLE');
    expect((await stat(rootfsPath)).isFile()).toBe(true);

    // An operator repairs the record: the Agent reads it again and the Manager takes the VM back
    // (this harness stops the VMM with the Agent, so the VM is restarted, on the same disk).
    const events = await openSse(`${stack.managerUrl}/v1/events/stream?vmId=${vm.id}`, {
      authorization: `Bearer ${stack.adminToken}`,
    });
    try {
      await writeFile(recordPath, original);
      await stack.restartAgent();
      await events.next((m) => m.data?.includes('"toState":"running"') === true, 60_000);
    } finally {
      events.close();
    }
    expect((await stack.api<Vm>('GET', `/v1/vms/${vm.id}`)).body.state).toBe('running');
    expect((await readFile(rootfsPath)).subarray(0, 10).toString()).toBe('guest data');
    expect((await stack.api('DELETE', `/v1/vms/${vm.id}`)).status).toBeLessThan(300);
  }, 120_000);
});
