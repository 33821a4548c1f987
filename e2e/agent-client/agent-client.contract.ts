import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AgentVm, SnapshotCopyRequest, SnapshotResult, VmSpec } from '@hearth/contracts';
import { isAppError, type AppError } from '@hearth/errors';
import { parsePrometheusText } from '@hearth/testkit';
import type { AgentClient, AgentTarget } from '../../apps/manager/src/application/ports/agent-client.js';
import { parseVmId, type SnapshotId, type VmId } from '../../apps/manager/src/domain/ids.js';

/** One AgentClient and an Agent it talks to. */
export interface AgentClientHarness {
  readonly client: AgentClient;
  readonly target: AgentTarget;
  /** A spec whose kernel and rootfs exist on the Agent's host. */
  readonly spec: VmSpec;
  /** The Agent process is replaced by a new one over the same host (its records kept); answers where it listens. */
  restartAgent(): Promise<AgentTarget>;
  /** Another Agent, on a host of its own, that holds nothing yet (a snapshot's files are copied to it). */
  startOtherAgent(): Promise<AgentTarget>;
  /** The VM's record on the Agent's host becomes unreadable (as a torn record found at start); its files stay. */
  tearRecord(vmId: VmId): Promise<void>;
  cleanup(): Promise<void>;
}

function vmId(value: string): VmId {
  const id = parseVmId(value);
  if (id === undefined) throw new Error(`not a VM id: ${value}`);
  return id;
}

/** ADR 0002, 0109: `fc` + the last 13 characters of the ULID's random part, lower-cased. */
const firstVm = vmId('vm_01JABCDEFGHJKMNPQRSTVWXYZ0');
const firstVmTap = 'fcmnpqrstvwxyz0';
const secondVm = vmId('vm_01JABCDEFG0123456789ABCDEF');
const secondVmTap = 'fc3456789abcdef';
const unknownVm = vmId('vm_01JABCDEFGZZZZZZZZZZZZZZZZ');

async function appErrorOf(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (error) {
    if (isAppError(error)) return error;
    throw error;
  }
  throw new Error('expected an AppError');
}

function refsOf(vm: AgentVm, kind: string): string[] {
  return vm.resources.filter((resource) => resource.kind === kind).map((resource) => resource.ref);
}

/**
 * One behaviour suite for every AgentClient, so FakeAgentClient cannot drift from HttpAgentClient
 * talking to the real Agent HTTP app.
 */
export function describeAgentClientContract(name: string, createHarness: () => Promise<AgentClientHarness>): void {
  describe(`AgentClient contract: ${name}`, () => {
    let harness: AgentClientHarness;

    beforeEach(async () => {
      harness = await createHarness();
    });

    afterEach(async () => {
      await harness?.cleanup();
    });

    async function inventoryVm(id: VmId): Promise<AgentVm | undefined> {
      return (await harness.client.inventory(harness.target)).vms.find((vm) => vm.vmId === id);
    }

    it('applyVm answers a running VM whose TAP is named as ADR 0002 says (15 bytes, fc + 13 of the ULID)', async () => {
      const result = await harness.client.applyVm(harness.target, firstVm, harness.spec);

      expect(result.vm).toMatchObject({ vmId: firstVm, vmmState: 'running', tapName: firstVmTap });
      expect(result.vm.pid).toEqual(expect.any(Number));
      expect(refsOf(result.vm, 'tap')).toEqual([firstVmTap]);
      expect(refsOf(result.vm, 'socket')).toEqual([result.vm.socketPath]);
      expect(refsOf(result.vm, 'rootfs')).toEqual([result.vm.rootfsPath]);
      expect(refsOf(result.vm, 'process')).toEqual([String(result.vm.pid)]);
    });

    it('gives two VMs two different TAPs, each from its own id', async () => {
      const first = await harness.client.applyVm(harness.target, firstVm, harness.spec);
      const second = await harness.client.applyVm(harness.target, secondVm, harness.spec);

      expect([first.vm.tapName, second.vm.tapName]).toEqual([firstVmTap, secondVmTap]);
    });

    it('applyVm runs every step in order, metrics enabled or not', async () => {
      const result = await harness.client.applyVm(harness.target, firstVm, { ...harness.spec, isMetricsEnabled: true });

      expect(result.steps.map((step) => step.name)).toEqual(['tap', 'rootfs', 'spawn', 'start']);
      expect(result.steps.every((step) => step.hasRun)).toBe(true);
    });

    it('applyVm leaves the metrics step out when metrics are disabled', async () => {
      const result = await harness.client.applyVm(harness.target, firstVm, { ...harness.spec, isMetricsEnabled: false });

      expect(result.steps.map((step) => step.name)).not.toContain('metrics');
    });

    it('applyVm again on a running VM runs no step and keeps the same TAP', async () => {
      const first = await harness.client.applyVm(harness.target, firstVm, harness.spec);

      const again = await harness.client.applyVm(harness.target, firstVm, harness.spec);

      expect(again.steps.filter((step) => step.hasRun)).toEqual([]);
      expect(again.vm).toMatchObject({ vmmState: 'running', tapName: first.vm.tapName, pid: first.vm.pid });
    });

    it('inventory lists an applied VM as running with the same TAP, socket and rootfs', async () => {
      const applied = await harness.client.applyVm(harness.target, firstVm, harness.spec);

      const listed = await inventoryVm(firstVm);

      expect(listed).toMatchObject({
        vmmState: 'running',
        tapName: applied.vm.tapName,
        socketPath: applied.vm.socketPath,
        rootfsPath: applied.vm.rootfsPath,
      });
    });

    it('inventory of an Agent with no VM lists none', async () => {
      expect((await harness.client.inventory(harness.target)).vms).toEqual([]);
    });

    it('inventoryIfChanged answers unchanged to the tag of the inventory the Agent still holds, and in full once it changed', async () => {
      await harness.client.applyVm(harness.target, firstVm, harness.spec);
      const first = await harness.client.inventoryIfChanged(harness.target, undefined, { resources: 'none' });
      if (first.kind !== 'changed') throw new Error('a read without a tag answers the inventory');
      expect(first.tag).toEqual(expect.any(String));
      expect(first.inventory).toEqual(await harness.client.inventory(harness.target, { resources: 'none' }));

      const again = await harness.client.inventoryIfChanged(harness.target, first.tag, { resources: 'none' });
      await harness.client.pauseVm(harness.target, firstVm);
      const afterPause = await harness.client.inventoryIfChanged(harness.target, first.tag, { resources: 'none' });

      expect(again).toEqual({ kind: 'unchanged' });
      expect(afterPause.kind).toBe('changed');
      if (afterPause.kind !== 'changed') return;
      expect(afterPause.tag).not.toBe(first.tag);
      expect(afterPause.inventory.vms.find((vm) => vm.vmId === firstVm)?.vmmState).toBe('paused');
      expect(await harness.client.inventoryIfChanged(harness.target, afterPause.tag, { resources: 'none' })).toEqual({
        kind: 'unchanged',
      });
    });

    it('inventoryIfChanged answers the whole inventory to a restarted Agent, though nothing it holds changed', async () => {
      await harness.client.applyVm(harness.target, firstVm, harness.spec);
      const before = await harness.client.inventoryIfChanged(harness.target, undefined, { resources: 'none' });
      if (before.kind !== 'changed') throw new Error('a read without a tag answers the inventory');

      const target = await harness.restartAgent();
      const after = await harness.client.inventoryIfChanged(target, before.tag, { resources: 'none' });

      expect(after.kind).toBe('changed');
      if (after.kind !== 'changed') return;
      expect(after.tag).not.toBe(before.tag);
      expect(after.inventory.vms).toEqual(before.inventory.vms);
    });

    it('describeVm answers the entry the inventory lists for a running, a paused and a stopped VM', async () => {
      const rateLimits = { drive: { ops: { size: 100, refillTimeMs: 1000 } } };
      await harness.client.applyVm(harness.target, firstVm, { ...harness.spec, rateLimits });
      await harness.client.applyVm(harness.target, secondVm, harness.spec);
      const running = await harness.client.describeVm(harness.target, firstVm);
      const listedRunning = await inventoryVm(firstVm);
      await harness.client.pauseVm(harness.target, firstVm);
      const paused = await harness.client.describeVm(harness.target, firstVm);
      const listedPaused = await inventoryVm(firstVm);
      await harness.client.stopVm(harness.target, firstVm);

      const stopped = await harness.client.describeVm(harness.target, firstVm);

      expect([running, paused, stopped]).toEqual([listedRunning, listedPaused, await inventoryVm(firstVm)]);
      expect([running, paused, stopped].map((vm) => [vm.vmmState, vm.holdsRuntimeResources, vm.rateLimits])).toEqual([
        ['running', true, rateLimits],
        ['paused', true, rateLimits],
        ['absent', false, rateLimits],
      ]);
    });

    it('describeVm answers a VM whose record is unreadable as the inventory lists it: unreadable, holding no runtime resources', async () => {
      await harness.client.applyVm(harness.target, firstVm, harness.spec);
      await harness.tearRecord(firstVm);

      const described = await harness.client.describeVm(harness.target, firstVm);

      expect(described).toEqual(await inventoryVm(firstVm));
      expect(described).toMatchObject({ vmId: firstVm, vmmState: 'unreadable', holdsRuntimeResources: false });
      expect(described.resources.map((resource) => resource.kind)).toEqual(['directory']);
    });

    it('pauseVm and resumeVm move a running VM to paused and back, and repeating either is fine', async () => {
      await harness.client.applyVm(harness.target, firstVm, harness.spec);

      await harness.client.pauseVm(harness.target, firstVm);
      await harness.client.pauseVm(harness.target, firstVm);
      const paused = (await inventoryVm(firstVm))?.vmmState;
      await harness.client.resumeVm(harness.target, firstVm);
      await harness.client.resumeVm(harness.target, firstVm);

      expect([paused, (await inventoryVm(firstVm))?.vmmState]).toEqual(['paused', 'running']);
    });

    it('stopVm removes the process, TAP and socket but keeps the rootfs and the record', async () => {
      const applied = await harness.client.applyVm(harness.target, firstVm, harness.spec);

      const stopped = await harness.client.stopVm(harness.target, firstVm);

      expect(stopped.removed.map((resource) => resource.kind)).toEqual(expect.arrayContaining(['process', 'tap', 'socket']));
      expect(stopped.removed.map((resource) => resource.kind)).not.toContain('rootfs');
      expect(stopped.removed.find((resource) => resource.kind === 'tap')?.ref).toBe(applied.vm.tapName);
      expect(await inventoryVm(firstVm)).toMatchObject({ vmmState: 'absent', tapName: null, socketPath: null });
    });

    it('snapshotVm keeps a running VM running, lists the snapshot as a resource, and deleteSnapshot removes it once', async () => {
      await harness.client.applyVm(harness.target, firstVm, harness.spec);
      const snapshotId = 'snap_01JABCDEFGHJKMNPQRSTVWXYZ0' as Parameters<AgentClient['deleteSnapshot']>[2];

      const taken = await harness.client.snapshotVm(harness.target, firstVm, snapshotId, { afterwards: 'previous_state' });

      expect(taken).toMatchObject({ snapshotId, vmState: 'running', vmmVersion: '1.16.1' });
      expect(taken.files.memorySizeBytes).toBe(harness.spec.memoryMib * 1024 * 1024);
      const vm = await inventoryVm(firstVm);
      expect(vm?.vmmState).toBe('running');
      expect(refsOf(vm!, 'snapshot')).toEqual([snapshotId]);
      expect((await harness.client.deleteSnapshot(harness.target, firstVm, snapshotId)).removed).toEqual([
        { kind: 'snapshot', ref: snapshotId, vmId: firstVm },
      ]);
      expect((await harness.client.deleteSnapshot(harness.target, firstVm, snapshotId)).removed).toEqual([]);
      expect(refsOf((await inventoryVm(firstVm))!, 'snapshot')).toEqual([]);
    });

    /** A full snapshot of a running VM, and what its copy to another Agent must match. */
    async function snapshotToCopy(): Promise<{ snapshotId: SnapshotId; request: SnapshotCopyRequest }> {
      await harness.client.applyVm(harness.target, firstVm, harness.spec);
      const snapshotId = 'snap_01JABCDEFGHJKMNPQRSTVWXYZ0' as SnapshotId;
      const taken: SnapshotResult = await harness.client.snapshotVm(harness.target, firstVm, snapshotId, {
        afterwards: 'previous_state',
      });
      if (taken.digests === undefined) throw new Error('the snapshot was taken without digests');
      const { stateSizeBytes, memorySizeBytes, rootfsSizeBytes } = taken.files;
      return {
        snapshotId,
        request: { vmId: firstVm, digests: taken.digests, sizes: { stateSizeBytes, memorySizeBytes, rootfsSizeBytes } },
      };
    }

    it.each(['data_regions', 'whole'] as const)(
      'copySnapshot brings a full snapshot to another Agent, its files sent %s: the copy is ready there, and removed once',
      async (encoding) => {
        const { snapshotId, request } = await snapshotToCopy();
        const other = await harness.startOtherAgent();

        await harness.client.copySnapshot(harness.target, other, snapshotId, request, encoding);

        expect((await harness.client.inventory(other)).snapshotCopies).toEqual([
          expect.objectContaining({ snapshotId, vmId: firstVm, state: 'ready' }),
        ]);
        // Asked again, the copy it holds is kept: nothing is sent twice.
        await harness.client.copySnapshot(harness.target, other, snapshotId, request, encoding);
        expect((await harness.client.deleteSnapshotCopy(other, snapshotId)).removed).toEqual([
          { kind: 'snapshot', ref: snapshotId, vmId: firstVm },
        ]);
        expect((await harness.client.deleteSnapshotCopy(other, snapshotId)).removed).toEqual([]);
        expect((await harness.client.inventory(other)).snapshotCopies).toEqual([]);
      },
    );

    it('copySnapshot with digests the files do not have fails with SNAPSHOT_DIGEST_MISMATCH, and no copy is ready', async () => {
      const { snapshotId, request } = await snapshotToCopy();
      const other = await harness.startOtherAgent();

      const error = await appErrorOf(
        harness.client.copySnapshot(
          harness.target,
          other,
          snapshotId,
          { ...request, digests: { ...request.digests, memorySha256: 'f'.repeat(64) } },
          'data_regions',
        ),
      );

      expect(error.code).toBe('SNAPSHOT_DIGEST_MISMATCH');
      const copies = (await harness.client.inventory(other)).snapshotCopies ?? [];
      expect(copies.filter((copy) => copy.state === 'ready')).toEqual([]);
    });

    it('snapshotVm of a stopped VM fails with VMM_NOT_RUNNING', async () => {
      await harness.client.applyVm(harness.target, firstVm, harness.spec);
      await harness.client.stopVm(harness.target, firstVm);
      const snapshotId = 'snap_01JABCDEFGHJKMNPQRSTVWXYZ0' as Parameters<AgentClient['deleteSnapshot']>[2];

      const error = await appErrorOf(
        harness.client.snapshotVm(harness.target, firstVm, snapshotId, { afterwards: 'previous_state' }),
      );
      expect(error.code).toBe('VMM_NOT_RUNNING');
    });

    it('pauseVm of a stopped VM fails with VMM_NOT_RUNNING', async () => {
      await harness.client.applyVm(harness.target, firstVm, harness.spec);
      await harness.client.stopVm(harness.target, firstVm);

      expect((await appErrorOf(harness.client.pauseVm(harness.target, firstVm))).code).toBe('VMM_NOT_RUNNING');
    });

    it('setVmEgress on a stopped VM keeps the policy for its next start: nothing is applied now', async () => {
      await harness.client.applyVm(harness.target, firstVm, harness.spec);
      await harness.client.stopVm(harness.target, firstVm);

      const result = await harness.client.setVmEgress(harness.target, firstVm, {
        mode: 'allow_list',
        rules: [{ cidr: '203.0.113.0/24', protocol: 'tcp', ports: [443] }],
      });

      expect(result).toEqual({ isApplied: false });
    });

    it('setVmRateLimits changes a running VM at once, and the same limits again change nothing', async () => {
      const rateLimits = {
        networkTx: { bandwidth: { size: 1_000_000, refillTimeMs: 100 } },
        drive: { ops: { size: 100, refillTimeMs: 1000 } },
      };
      await harness.client.applyVm(harness.target, firstVm, harness.spec);

      const changed = await harness.client.setVmRateLimits(harness.target, firstVm, rateLimits);
      const again = await harness.client.setVmRateLimits(harness.target, firstVm, rateLimits);

      expect([changed, again]).toEqual([{ isApplied: true }, { isApplied: false }]);
    });

    it('setVmRateLimits on a stopped VM keeps them for its next start: nothing is applied now', async () => {
      await harness.client.applyVm(harness.target, firstVm, harness.spec);
      await harness.client.stopVm(harness.target, firstVm);

      const result = await harness.client.setVmRateLimits(harness.target, firstVm, {
        drive: { ops: { size: 1, refillTimeMs: 1 } },
      });

      expect(result).toEqual({ isApplied: false });
    });

    it('applyVm takes a spec that carries an egress policy', async () => {
      const result = await harness.client.applyVm(harness.target, firstVm, { ...harness.spec, egress: { mode: 'deny_all' } });

      expect(result.vm.vmmState).toBe('running');
    });

    it('deleteVm removes everything, rootfs included, and the VM leaves the inventory', async () => {
      await harness.client.applyVm(harness.target, firstVm, harness.spec);

      const deleted = await harness.client.deleteVm(harness.target, firstVm);

      expect(deleted.removed.map((resource) => resource.kind)).toEqual(expect.arrayContaining(['tap', 'rootfs']));
      expect(await inventoryVm(firstVm)).toBeUndefined();
    });

    it("metrics answers the Agent's per-VM Firecracker counters in the Prometheus text format", async () => {
      await harness.client.applyVm(harness.target, firstVm, harness.spec);

      const { body } = await harness.client.metrics(harness.target);
      const chunks: Uint8Array[] = [];
      for await (const chunk of body) chunks.push(chunk);
      const families = parsePrometheusText(Buffer.concat(chunks).toString('utf8'));

      expect(families.get('hearth_vm_firecracker_api_requests_total')?.type).toBe('counter');
    });

    it('describeVm, stopVm, deleteVm, pauseVm, setVmEgress and setVmRateLimits of a VM the Agent does not hold fail with VM_NOT_FOUND', async () => {
      const codes = await Promise.all([
        appErrorOf(harness.client.describeVm(harness.target, unknownVm)),
        appErrorOf(harness.client.stopVm(harness.target, unknownVm)),
        appErrorOf(harness.client.deleteVm(harness.target, unknownVm)),
        appErrorOf(harness.client.pauseVm(harness.target, unknownVm)),
        appErrorOf(harness.client.setVmEgress(harness.target, unknownVm, { mode: 'deny_all' })),
        appErrorOf(harness.client.setVmRateLimits(harness.target, unknownVm, {})),
      ]);

      expect(codes.map((error) => error.code)).toEqual([
        'VM_NOT_FOUND',
        'VM_NOT_FOUND',
        'VM_NOT_FOUND',
        'VM_NOT_FOUND',
        'VM_NOT_FOUND',
        'VM_NOT_FOUND',
      ]);
    });
  });
}
