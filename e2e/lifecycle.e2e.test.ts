import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingRequirements } from '@hearth/testkit';
import { writeEmptyExt4, writeFakeKernel } from '@hearth/testkit';
import { openSse, type SseClient } from '@hearth/testkit';
import { Hearth, isHearthError, type CreateVmRequest, type HearthError } from '@hearth/sdk';
import { startStack, type Stack } from './support/stack.js';

interface Vm {
  id: string;
  state: string;
  version: number;
}
interface WaitResult {
  vm: Vm;
  outcome: string;
  isReached: boolean;
}
interface EventBody {
  id: number;
  type: string;
  vmId: string | null;
  fromState: string | null;
  toState: string | null;
}

const skipReason = missingRequirements({ root: true, database: true, commands: ['ip', 'mkfs.ext4'] });

describe.skipIf(skipReason)(`VM lifecycle over real processes${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let stack: Stack;
  let kernelImageId: string;
  let rootfsImageId: string;
  let stream: SseClient | undefined;

  const body = (name: string): CreateVmRequest => ({ name, vcpuCount: 1, memoryMib: 128, kernelImageId, rootfsImageId });

  async function firecrackerState(vmId: string): Promise<string> {
    const response = await stack.agentFetch(`/agent/v1/vms/${vmId}/proxy/`);
    return ((await response.json()) as { state: string }).state;
  }

  async function vmCount(): Promise<number> {
    return (await stack.api<{ items: Vm[] }>('GET', '/v1/vms?limit=500')).body.items.length;
  }

  beforeAll(async () => {
    stack = await startStack();
    writeFakeKernel(path.join(stack.imageRoot, 'kernels/vmlinux'));
    writeEmptyExt4(path.join(stack.imageRoot, 'rootfs/base.ext4'));
    const kernel = await stack.api<{ id: string }>('POST', '/v1/images', {
      kind: 'kernel',
      name: 'vmlinux',
      hostPath: path.join(stack.imageRoot, 'kernels/vmlinux'),
    });
    const rootfs = await stack.api<{ id: string }>('POST', '/v1/images', {
      kind: 'rootfs',
      name: 'base',
      hostPath: path.join(stack.imageRoot, 'rootfs/base.ext4'),
    });
    kernelImageId = kernel.body.id;
    rootfsImageId = rootfs.body.id;
  }, 60_000);

  afterAll(async () => {
    stream?.close();
    await stack?.stop();
  });

  it('creates a VM asynchronously, streams its state changes, waits for it, pauses and resumes it', async () => {
    stream = await openSse(`${stack.managerUrl}/v1/events/stream`, { authorization: `Bearer ${stack.adminToken}` });
    expect(stream.status).toBe(200);

    const accepted = await stack.api<Vm>('POST', '/v1/vms?wait=false', body('life-1'));
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    expect(accepted.body.state).toBe('pending');
    expect(accepted.headers.get('location')).toBe(`/v1/vms/${accepted.body.id}`);
    const id = accepted.body.id;

    const waited = await stack.api<WaitResult>('GET', `/v1/vms/${id}/wait?state=running&timeout_s=60`);
    expect(waited.status).toBe(200);
    expect(waited.body).toMatchObject({ outcome: 'reached', isReached: true, vm: { id, state: 'running' } });
    expect(await firecrackerState(id)).toBe('Running');

    // Every state change of the create came through the live stream, in order, with its id.
    const seen: string[] = [];
    while (!seen.includes('running')) {
      const message = await stream.next((m) => m.data !== undefined, 10_000);
      const event = JSON.parse(message.data!) as EventBody;
      expect(message.id).toBe(String(event.id));
      if (event.vmId === id && event.toState !== null) seen.push(event.toState);
    }
    expect(seen).toEqual(['pending', 'scheduled', 'starting', 'running']);

    const paused = await stack.api<Vm>('POST', `/v1/vms/${id}/pause`, undefined, { 'if-match': `"${waited.body.vm.version}"` });
    expect(paused.status, JSON.stringify(paused.body)).toBe(200);
    expect(paused.body.state).toBe('paused');
    expect(paused.headers.get('etag')).toBe(`"${paused.body.version}"`);
    expect(await firecrackerState(id)).toBe('Paused');

    const resumed = await stack.api<Vm>('POST', `/v1/vms/${id}/resume`);
    expect(resumed.status, JSON.stringify(resumed.body)).toBe(200);
    expect(resumed.body.state).toBe('running');
    expect(await firecrackerState(id)).toBe('Running');

    const pausing = await stream.next((m) => m.data?.includes('"toState":"paused"') === true, 10_000);
    expect(JSON.parse(pausing.data!)).toMatchObject({ vmId: id, fromState: 'pausing', toState: 'paused' });

    const events = await stack.api<{ items: EventBody[] }>('GET', `/v1/vms/${id}/events`);
    // The lifecycle's own changes: what the Agent answered of the VMM (a `vm.observed_state_changed`,
    // recorded with `running` or by a pass that reads the host) is not one of them.
    const stateChanges = events.body.items.filter((e) => e.type !== 'vm.observed_state_changed');
    expect(stateChanges.map((e) => e.toState)).toEqual([
      'pending',
      'scheduled',
      'starting',
      'running',
      'pausing',
      'paused',
      'running',
    ]);
  });

  it('answers a retried create with the same Idempotency-Key with the first VM', async () => {
    const before = await vmCount();
    const headers = { 'idempotency-key': 'e2e-create-life-2' };
    const first = await stack.api<Vm>('POST', '/v1/vms', body('life-2'), headers);
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    const retry = await stack.api<Vm>('POST', '/v1/vms', body('life-2'), headers);
    expect(retry.status).toBe(201);
    expect(retry.body).toEqual(first.body);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    const reused = await stack.api<{ code: string }>('POST', '/v1/vms', body('life-3'), headers);
    expect(reused.status).toBe(409);
    expect(reused.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await vmCount()).toBe(before + 1);
  });

  it('refuses a mutation with a stale If-Match with 412 and leaves the VM running', async () => {
    const hearth = new Hearth({ baseUrl: stack.managerUrl, token: stack.adminToken });
    const created = await hearth.vms.create(body('life-4'));
    const stale = await hearth.vms.stop(created.id, { ifVersion: 1 }).catch((error: unknown) => error);
    expect(isHearthError(stale, 'PRECONDITION_FAILED')).toBe(true);
    expect((stale as HearthError).status).toBe(412);
    const current = await hearth.vms.get(created.id);
    expect(current.state).toBe('running');
    expect((await hearth.vms.delete(created.id, { ifVersion: current.version })).id).toBe(created.id);
  });
});
