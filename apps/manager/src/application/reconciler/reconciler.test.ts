import { everyProject } from '../../domain/access.js';
import { describe, expect, it } from 'vitest';
import { AppError } from '@hearth/errors';
import { agentAuthorization, hostCapacity, hostFacts, createWorld, type World } from '../../testing/world.js';
import type { Host } from '../../domain/host.js';
import type { HostId, VmId } from '../../domain/ids.js';
import type { Vm } from '../../domain/vm.js';
import { defaultRetryPolicy, type RetryPolicy } from '../../domain/restart-policy.js';
import type { VmRepository } from '../ports/vm-repository.js';
import { continueCreate } from '../use-cases/continue-create.js';
import { acceptVm, createVm } from '../use-cases/create-vm.js';
import { heartbeat } from '../use-cases/heartbeat.js';
import { deleteVm } from '../use-cases/delete-vm.js';
import { startVm } from '../use-cases/start-vm.js';
import { stopVm } from '../use-cases/stop-vm.js';
import { pauseVm } from '../use-cases/pause-vm.js';
import { resumeVm } from '../use-cases/resume-vm.js';
import { acceptRestore } from '../use-cases/restore-vm.js';
import { createSnapshot } from '../use-cases/snapshots.js';
import { inventoryReadsInFlight, Reconciler } from './reconciler.js';

const heartbeatIntervalMs = 1000;
const graceMs = 2000;

async function setUp(
  options: {
    restartPolicy?: 'never' | 'on-failure' | 'always';
    retry?: Partial<RetryPolicy>;
    inventoryMaxAgeMs?: number;
    sliceMs?: number;
  } = {},
): Promise<{
  world: World;
  host: Host;
  vm: Vm;
  reconciler: Reconciler;
}> {
  const world = createWorld({ heartbeatIntervalMs });
  const host = await world.addHost();
  const { kernel, rootfs } = await world.addImages();
  const vm = await createVm(world.deps, {
    project: 'default',
    name: 'web',
    vcpuCount: 1,
    memoryMib: 256,
    kernelImageId: kernel.id,
    rootfsImageId: rootfs.id,
    restartPolicy: options.restartPolicy,
  });
  const reconciler = new Reconciler(world.deps, {
    heartbeatIntervalMs,
    graceMs,
    concurrency: 2,
    inventoryMaxAgeMs: options.inventoryMaxAgeMs ?? 0,
    retry: { ...defaultRetryPolicy, ...options.retry },
    ...(options.sliceMs === undefined ? {} : { sliceMs: options.sliceMs }),
  });
  reconciler.activate();
  return { world, host, vm, reconciler };
}

async function stateOf(world: World, id: VmId): Promise<string | undefined> {
  return (await world.deps.vms.findById(id))?.state;
}

describe('Reconciler', () => {
  it('leaves a running VM whose VMM runs alone', async () => {
    const { reconciler, vm, world } = await setUp();
    expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'none' });
    expect(world.agents.calls.filter((call) => call.operation === 'apply')).toHaveLength(1);
  });

  it('restarts a VM whose VMM died, recording why, under the default on-failure policy', async () => {
    const { reconciler, vm, world, host } = await setUp();
    world.agents.killVmm(host.addr, vm.id);
    expect(await reconciler.reconcileVm(vm.id)).toMatchObject({ kind: 'vmm_gone', restart: { kind: 'restart', delayMs: 0 } });
    expect(await stateOf(world, vm.id)).toBe('running');
    expect(world.agents.isRunning(host.addr, vm.id)).toBe(true);
    const events = (await world.deps.events.list({ vmId: vm.id }, { limit: 100 })).items;
    expect(events.map((e) => `${e.fromState ?? ''}>${e.toState ?? ''}`)).toContain('running>failed');
    expect(events.find((e) => e.toState === 'failed')?.message).toMatch(/exited.*restarting/);
    expect(await world.deps.reconcileStates.get(vm.id)).toMatchObject({
      attempt: 0,
      nextAttemptAt: null,
      crashWindow: { restarts: 1 },
    });
  });

  it('leaves a VM whose VMM died failed, with the reason, under the never policy', async () => {
    const { reconciler, vm, world, host } = await setUp({ restartPolicy: 'never' });
    world.agents.killVmm(host.addr, vm.id);
    await reconciler.reconcileVm(vm.id);
    const failed = await world.deps.vms.findById(vm.id);
    expect(failed).toMatchObject({ state: 'failed', failureReason: { code: 'VMM_NOT_RUNNING' } });
    expect(world.agents.isRunning(host.addr, vm.id)).toBe(false);
    expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'none' });
  });

  it('retries a failed restart later, with backoff kept in the row', async () => {
    const { reconciler, vm, world, host } = await setUp();
    world.agents.killVmm(host.addr, vm.id);
    world.agents.failNext('apply', new Error('disk full'));
    await reconciler.reconcileVm(vm.id);
    expect(await stateOf(world, vm.id)).toBe('failed');
    const retry = await world.deps.reconcileStates.get(vm.id);
    expect(retry?.attempt).toBe(1);
    expect(retry?.nextAttemptAt?.getTime()).toBeGreaterThan(world.clock.now().getTime());
    expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'wait', why: 'backoff' });
    world.clock.advance(60_000);
    await heartbeat(world.deps, host.id, { capacity: hostCapacity(), facts: hostFacts() }, agentAuthorization(host.agentId));
    expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'retry_start' });
    expect(await stateOf(world, vm.id)).toBe('running');
  });

  it('leaves a VM failed with the reason, not retried, when its restart fails in a way no retry can fix', async () => {
    const { reconciler, vm, world, host } = await setUp({ restartPolicy: 'always' });
    world.agents.killVmm(host.addr, vm.id);
    world.agents.failNext(
      'apply',
      new AppError('IMAGE_NOT_REGULAR_FILE', 'rootfsSourcePath /srv/images/rootfs.ext4 is a fifo, not a regular file'),
    );

    await reconciler.reconcileVm(vm.id);

    expect(await world.deps.vms.findById(vm.id)).toMatchObject({
      state: 'failed',
      failureReason: { code: 'IMAGE_NOT_REGULAR_FILE' },
    });
    expect((await world.deps.reconcileStates.get(vm.id))?.nextAttemptAt).toBeNull();
    world.clock.advance(3_600_000);
    await heartbeat(world.deps, host.id, { capacity: hostCapacity(), facts: hostFacts() }, agentAuthorization(host.agentId));
    expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'none' });
    expect(world.agents.calls.filter((call) => call.operation === 'apply')).toHaveLength(2);
  });

  describe('crash-loop guard', () => {
    const crashLoop = { crashLoopMaxRestarts: 3, crashLoopWindowMs: 600_000, initialBackoffMs: 1_000 };

    /** Kills the VMM, reconciles, and waits out (on the fixed clock) a restart that was put off. */
    async function killAndReconcile(world: World, host: Host, vm: Vm, reconciler: Reconciler): Promise<void> {
      world.agents.killVmm(host.addr, vm.id);
      const action = await reconciler.reconcileVm(vm.id);
      if (action?.kind === 'vmm_gone' && action.restart.kind === 'restart' && action.restart.delayMs > 0) {
        expect(await stateOf(world, vm.id)).toBe('failed');
        expect(world.agents.isRunning(host.addr, vm.id)).toBe(false);
        expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'wait', why: 'backoff' });
        world.clock.advance(action.restart.delayMs);
        await heartbeat(world.deps, host.id, { capacity: hostCapacity(), facts: hostFacts() }, agentAuthorization(host.agentId));
        expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'retry_start' });
      }
    }

    it('puts off each further restart within the window, doubling the delay', async () => {
      const { reconciler, vm, world, host } = await setUp({ retry: crashLoop });
      const delays: number[] = [];
      for (let i = 0; i < 3; i += 1) {
        world.agents.killVmm(host.addr, vm.id);
        const action = await reconciler.reconcileVm(vm.id);
        if (action?.kind === 'vmm_gone' && action.restart.kind === 'restart') delays.push(action.restart.delayMs);
        world.clock.advance(delays.at(-1) ?? 0);
        await heartbeat(world.deps, host.id, { capacity: hostCapacity(), facts: hostFacts() }, agentAuthorization(host.agentId));
        await reconciler.reconcileVm(vm.id);
        expect(await stateOf(world, vm.id)).toBe('running');
      }
      expect(delays).toEqual([0, 1_000, 2_000]);
    });

    it('leaves a VM whose VMM keeps dying failed with VM_CRASH_LOOP, holding nothing, and says so in an event', async () => {
      const { reconciler, vm, world, host } = await setUp({ restartPolicy: 'always', retry: crashLoop });
      for (let i = 0; i < 3; i += 1) {
        await killAndReconcile(world, host, vm, reconciler);
        expect(await stateOf(world, vm.id)).toBe('running');
      }
      world.agents.killVmm(host.addr, vm.id);
      expect(await reconciler.reconcileVm(vm.id)).toEqual({
        kind: 'vmm_gone',
        restart: { kind: 'crash_loop', restarts: 3, windowMs: 600_000 },
      });
      expect(await world.deps.vms.findById(vm.id)).toMatchObject({ state: 'failed', failureReason: { code: 'VM_CRASH_LOOP' } });
      expect(world.agents.isRunning(host.addr, vm.id)).toBe(false);
      expect(await world.deps.reconcileStates.get(vm.id)).toMatchObject({ nextAttemptAt: null });
      const events = (await world.deps.events.list({ vmId: vm.id }, { limit: 100 })).items;
      expect(events.at(-1)).toMatchObject({
        type: 'vm.state_changed',
        toState: 'failed',
        message: expect.stringMatching(/VM_CRASH_LOOP/),
      });
      world.clock.advance(60_000);
      await heartbeat(world.deps, host.id, { capacity: hostCapacity(), facts: hostFacts() }, agentAuthorization(host.agentId));
      expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'none' });
      expect(await stateOf(world, vm.id)).toBe('failed');
    });

    it('gives a VM a fresh budget when a user starts it again', async () => {
      const { reconciler, vm, world, host } = await setUp({ retry: { ...crashLoop, crashLoopMaxRestarts: 1 } });
      await killAndReconcile(world, host, vm, reconciler);
      world.agents.killVmm(host.addr, vm.id);
      expect(await reconciler.reconcileVm(vm.id)).toMatchObject({ restart: { kind: 'crash_loop' } });
      expect((await startVm(world.deps, vm.id)).state).toBe('running');
      expect((await world.deps.reconcileStates.get(vm.id))?.crashWindow).toEqual({ restarts: 0, startedAt: null });
      world.agents.killVmm(host.addr, vm.id);
      expect(await reconciler.reconcileVm(vm.id)).toMatchObject({ restart: { kind: 'restart', delayMs: 0 } });
      expect(await stateOf(world, vm.id)).toBe('running');
    });
  });

  describe('a reboot from inside the guest', () => {
    /** The guest reboots after running a while: Firecracker exits with code 0. */
    async function rebootAfter(world: World, host: Host, vm: Vm, uptimeMs: number): Promise<void> {
      world.clock.advance(uptimeMs);
      await heartbeat(world.deps, host.id, { capacity: hostCapacity(), facts: hostFacts() }, agentAuthorization(host.agentId));
      world.agents.killVmm(host.addr, vm.id, { code: 0, signal: null });
    }

    it('starts the VM again without failing it or counting a crash, reboot after reboot', async () => {
      const { reconciler, vm, world, host } = await setUp({ retry: { crashLoopMaxRestarts: 5, crashLoopWindowMs: 600_000 } });
      for (let i = 0; i < 7; i += 1) {
        await rebootAfter(world, host, vm, 60_000);
        expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'guest_reboot' });
        expect(await stateOf(world, vm.id)).toBe('running');
        expect(world.agents.isRunning(host.addr, vm.id)).toBe(true);
      }
      const events = (await world.deps.events.list({ vmId: vm.id }, { limit: 100 })).items;
      expect(events.filter((e) => e.toState === 'failed')).toEqual([]);
      expect(events.filter((e) => e.fromState === 'running' && e.toState === 'starting')).toHaveLength(7);
      expect(events.find((e) => e.toState === 'starting' && e.fromState === 'running')?.message).toMatch(/guest rebooted/);
      expect(await world.deps.reconcileStates.get(vm.id)).toMatchObject({ attempt: 0, crashWindow: { restarts: 0 } });
    });

    it('under the never policy too: a reboot is not a failure', async () => {
      const { reconciler, vm, world, host } = await setUp({ restartPolicy: 'never' });
      await rebootAfter(world, host, vm, 60_000);
      expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'guest_reboot' });
      expect(await stateOf(world, vm.id)).toBe('running');
    });

    it('counts an exit 0 right after the start as a crash (a kernel panic at boot resets the guest too)', async () => {
      const { reconciler, vm, world, host } = await setUp();
      await rebootAfter(world, host, vm, 1_000);
      expect(await reconciler.reconcileVm(vm.id)).toMatchObject({ kind: 'vmm_gone', restart: { kind: 'restart' } });
      expect((await world.deps.reconcileStates.get(vm.id))?.crashWindow.restarts).toBe(1);
    });

    it('counts a VMM that exited with an error as a crash', async () => {
      const { reconciler, vm, world, host } = await setUp();
      world.clock.advance(60_000);
      await heartbeat(world.deps, host.id, { capacity: hostCapacity(), facts: hostFacts() }, agentAuthorization(host.agentId));
      world.agents.killVmm(host.addr, vm.id, { code: 1, signal: null });
      expect(await reconciler.reconcileVm(vm.id)).toMatchObject({ kind: 'vmm_gone' });
      expect((await world.deps.reconcileStates.get(vm.id))?.crashWindow.restarts).toBe(1);
    });
  });

  describe('network drift of a running VM', () => {
    it("puts back rules removed behind its Agent's back, with the VM's own policy", async () => {
      const { reconciler, vm, world, host } = await setUp();
      await world.deps.vms.setEgress(vm.id, { egress: { mode: 'deny_all' }, at: world.clock.now() });
      await world.agents.setVmEgress(host, vm.id, { mode: 'deny_all' });
      world.agents.removeEgressRules(host.addr, vm.id);
      world.clock.advance(graceMs);

      expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'repair_drift', egress: true, rateLimits: false });
      const inventory = await world.agents.inventory(host);
      expect(inventory.vms.find((agentVm) => agentVm.vmId === vm.id)?.egress).toEqual({
        policy: { mode: 'deny_all' },
        isInPlace: true,
      });
      expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'none' });
    });

    it('sends a policy or rate limits its host missed, and is queued for them by a resync', async () => {
      const { reconciler, vm, world, host } = await setUp();
      const rateLimits = { drive: { ops: { size: 100, refillTimeMs: 1000 } } };
      await world.deps.vms.setEgress(vm.id, { egress: { mode: 'deny_all' }, at: world.clock.now() });
      await world.deps.vms.setRateLimits(vm.id, { rateLimits, at: world.clock.now() });

      // Within the grace the request that changed them is sending them: nothing is sent.
      expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'wait', why: 'grace' });
      expect(world.agents.calls.filter((call) => call.operation === 'egress')).toEqual([]);
      world.clock.advance(graceMs);
      expect((await reconciler.resync()).vmsQueued).toBe(1);
      expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'repair_drift', egress: true, rateLimits: true });
      expect(world.agents.egressPolicyOf(host.addr, vm.id)).toEqual({ mode: 'deny_all' });
      expect(world.agents.rateLimitsOf(host.addr, vm.id)).toEqual(rateLimits);
      expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'none' });
    });

    it('leaves a stopped VM alone: its policy is applied at its next start', async () => {
      const { reconciler, vm, world, host } = await setUp();
      await world.deps.vms.setEgress(vm.id, { egress: { mode: 'deny_all' }, at: world.clock.now() });
      await world.agents.stopVm(host, vm.id);
      const stopped = await world.deps.vms.findById(vm.id);
      await world.deps.vms.transition(vm.id, { from: stopped!.state, to: 'stopping', at: world.clock.now() });
      await world.deps.vms.transition(vm.id, { from: 'stopping', to: 'stopped', at: world.clock.now() });

      expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'none' });
      expect(world.agents.calls.filter((call) => call.operation === 'egress')).toEqual([]);
    });
  });

  it('continues a create left pending by a crash once its grace window has passed', async () => {
    const { reconciler, world } = await setUp();
    const { kernel, rootfs } = {
      kernel: (await world.deps.images.list({ projects: everyProject, kind: 'kernel' }, { limit: 1 })).items[0]!,
      rootfs: (await world.deps.images.list({ projects: everyProject, kind: 'rootfs' }, { limit: 1 })).items[0]!,
    };
    const pending = await acceptVm(world.deps, {
      project: 'default',
      name: 'half',
      vcpuCount: 1,
      memoryMib: 128,
      kernelImageId: kernel.id,
      rootfsImageId: rootfs.id,
    });
    expect(await reconciler.reconcileVm(pending.id)).toEqual({ kind: 'wait', why: 'grace' });
    world.clock.advance(graceMs);
    expect(await reconciler.reconcileVm(pending.id)).toEqual({ kind: 'continue_create', isLastAttempt: false });
    expect(await stateOf(world, pending.id)).toBe('running');
  });

  describe('an accepted create whose Agent cannot be reached', () => {
    const agentDown = (): AppError =>
      new AppError('AGENT_UNAVAILABLE', 'The Agent at https://10.0.0.1:9090 cannot be reached (PUT /vms)');

    /** A VM accepted and continued in the background while its Agent is down: it is left `starting`. */
    async function interruptedCreate(world: World): Promise<Vm> {
      const { id: kernelImageId } = (await world.deps.images.list({ projects: everyProject, kind: 'kernel' }, { limit: 1 }))
        .items[0]!;
      const { id: rootfsImageId } = (await world.deps.images.list({ projects: everyProject, kind: 'rootfs' }, { limit: 1 }))
        .items[0]!;
      const pending = await acceptVm(world.deps, {
        project: 'default',
        name: 'late',
        vcpuCount: 1,
        memoryMib: 128,
        kernelImageId,
        rootfsImageId,
      });
      world.agents.failNext('apply', agentDown());
      await expect(continueCreate(world.deps, pending.id, { outage: { onAgentUnavailable: 'retry' } })).rejects.toMatchObject({
        code: 'AGENT_UNAVAILABLE',
      });
      expect(await stateOf(world, pending.id)).toBe('starting');
      return pending;
    }

    async function afterBackoff(world: World, host: Host): Promise<void> {
      world.clock.advance(60_000);
      await heartbeat(world.deps, host.id, { capacity: hostCapacity(), facts: hostFacts() }, agentAuthorization(host.agentId));
    }

    it('is applied again with backoff while the Agent is down, and runs once it is back', async () => {
      const { reconciler, world, host } = await setUp();
      const vm = await interruptedCreate(world);
      world.clock.advance(graceMs);
      world.agents.failNext('apply', agentDown());
      expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'continue_create', isLastAttempt: false });
      expect(await stateOf(world, vm.id)).toBe('starting');
      expect(await world.deps.reconcileStates.get(vm.id)).toMatchObject({ attempt: 1 });
      expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'wait', why: 'backoff' });
      await afterBackoff(world, host);
      expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'continue_create', isLastAttempt: false });
      expect(await world.deps.vms.findById(vm.id)).toMatchObject({ state: 'running', failureReason: null });
      expect(world.agents.isRunning(host.addr, vm.id)).toBe(true);
      expect(await world.deps.reconcileStates.get(vm.id)).toMatchObject({ attempt: 0, nextAttemptAt: null });
    });

    it('is not restarted when the request failed it while the reconciler could not reach the Agent', async () => {
      const { world, host } = await setUp();
      const vm = await interruptedCreate(world);
      world.clock.advance(graceMs);
      // The Agent is unreachable for the reconciler's attempt; meanwhile the request records its own failure.
      const agents: typeof world.deps.agents = Object.create(world.agents) as typeof world.deps.agents;
      agents.applyVm = async () => {
        const failure = { code: 'VMM_SPAWN_FAILED', message: 'the VMM exited' };
        await world.deps.vms.transition(vm.id, { from: 'starting', to: 'failed', at: world.clock.now(), failureReason: failure });
        throw agentDown();
      };
      const reconciler = new Reconciler(
        { ...world.deps, agents },
        {
          heartbeatIntervalMs,
          graceMs,
          concurrency: 1,
          inventoryMaxAgeMs: 0,
          retry: defaultRetryPolicy,
        },
      );
      reconciler.activate();
      expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'continue_create', isLastAttempt: false });
      expect(await world.deps.reconcileStates.get(vm.id)).toMatchObject({ attempt: 0, nextAttemptAt: null });
      await afterBackoff(world, host);
      expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'none' });
      expect(await world.deps.vms.findById(vm.id)).toMatchObject({
        state: 'failed',
        failureReason: { code: 'VMM_SPAWN_FAILED' },
      });
    });

    it('is failed with the reason after the bounded attempts, and not tried again', async () => {
      const { reconciler, world, host } = await setUp({ retry: { maxRestartAttempts: 3 } });
      const vm = await interruptedCreate(world);
      world.clock.advance(graceMs);
      const lastAttempts: boolean[] = [];
      for (let attempt = 1; attempt <= 3; attempt += 1) {
        world.agents.failNext('apply', agentDown());
        const action = await reconciler.reconcileVm(vm.id);
        if (action?.kind === 'continue_create') lastAttempts.push(action.isLastAttempt);
        await afterBackoff(world, host);
      }
      expect(lastAttempts).toEqual([false, false, true]);
      const failed = await world.deps.vms.findById(vm.id);
      expect(failed).toMatchObject({ state: 'failed', failureReason: { code: 'AGENT_UNAVAILABLE' } });
      expect(failed?.failureReason?.message).toMatch(/gave up after 3 retries/);
      expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'none' });
      expect(await stateOf(world, vm.id)).toBe('failed');
    });
  });

  it('does not take a VM started after its host was asked for its inventory for one whose VMM is gone', async () => {
    const { reconciler, world } = await setUp({ inventoryMaxAgeMs: 60_000 });
    const { id: kernelImageId } = (await world.deps.images.list({ projects: everyProject, kind: 'kernel' }, { limit: 1 }))
      .items[0]!;
    const { id: rootfsImageId } = (await world.deps.images.list({ projects: everyProject, kind: 'rootfs' }, { limit: 1 }))
      .items[0]!;
    const pending = await acceptVm(world.deps, {
      project: 'default',
      name: 'fresh',
      vcpuCount: 1,
      memoryMib: 128,
      kernelImageId,
      rootfsImageId,
    });
    // The inventory read now (kept for a while) does not hold the VM yet.
    expect(await reconciler.reconcileVm(pending.id)).toEqual({ kind: 'wait', why: 'grace' });
    world.clock.advance(1);
    await continueCreate(world.deps, pending.id);
    world.clock.advance(1);
    expect(await reconciler.reconcileVm(pending.id)).toEqual({ kind: 'none' });
    expect(await world.deps.vms.findById(pending.id)).toMatchObject({ state: 'running', observedState: 'running' });
    expect(world.agents.calls.filter((call) => call.operation === 'apply' && call.vmId === pending.id)).toHaveLength(1);
  });

  it('finishes a delete left in deleting', async () => {
    const { reconciler, vm, world, host } = await setUp();
    await world.deps.vms.transition(vm.id, { from: 'running', to: 'deleting', at: world.clock.now() });
    world.clock.advance(graceMs);
    await reconciler.reconcileVm(vm.id);
    expect(await world.deps.vms.findById(vm.id)).toBeUndefined();
    expect(world.agents.vmIdsOn(host.addr)).toEqual([]);
  });

  it('finishes a delete whose Agent did not answer the request in time', async () => {
    const { reconciler, vm, world, host } = await setUp();
    world.agents.failNext(
      'delete',
      new AppError('AGENT_UNAVAILABLE', 'did not answer in time', { details: { reason: 'timeout' } }),
    );
    expect(await deleteVm(world.deps, vm.id)).toMatchObject({ outcome: 'accepted', vm: { state: 'deleting' } });
    world.clock.advance(graceMs);
    expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'finish_delete' });
    expect(await world.deps.vms.findById(vm.id)).toBeUndefined();
    expect(world.agents.vmIdsOn(host.addr)).toEqual([]);
  });

  it('finishes a stop whose Agent did not answer the request in time', async () => {
    const { reconciler, vm, world, host } = await setUp();
    world.agents.failNext(
      'stop',
      new AppError('AGENT_UNAVAILABLE', 'did not answer in time', { details: { reason: 'timeout' } }),
    );
    expect(await stopVm(world.deps, vm.id)).toMatchObject({ state: 'stopping' });
    world.clock.advance(graceMs);
    expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'finish_stop' });
    expect(await world.deps.vms.findById(vm.id)).toMatchObject({ state: 'stopped', failureReason: null });
    expect(world.agents.isRunning(host.addr, vm.id)).toBe(false);
  });

  it('finishes a pause whose Agent did not answer the request in time, without pausing its VMM twice', async () => {
    const { reconciler, vm, world, host } = await setUp();
    world.agents.failNext(
      'pause',
      new AppError('AGENT_UNAVAILABLE', 'did not answer in time', { details: { reason: 'timeout' } }),
    );
    expect(await pauseVm(world.deps, vm.id)).toMatchObject({ state: 'pausing' });
    // The host carried the pause out after all: the VMM is paused.
    await world.agents.pauseVm(host, vm.id);
    const pausesBefore = world.agents.calls.filter((call) => call.operation === 'pause').length;
    world.clock.advance(graceMs);
    expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'finish_pause' });
    expect(await world.deps.vms.findById(vm.id)).toMatchObject({ state: 'paused', failureReason: null });
    expect(world.agents.calls.filter((call) => call.operation === 'pause')).toHaveLength(pausesBefore);
  });

  it('records running a paused VM whose resume the Agent carried out without its answer arriving', async () => {
    const { reconciler, vm, world, host } = await setUp();
    await pauseVm(world.deps, vm.id);
    world.clock.advance(graceMs);
    const timeout = new AppError('AGENT_UNAVAILABLE', 'did not answer in time', { details: { reason: 'timeout' } });
    world.agents.failNext('resume', timeout);
    await expect(resumeVm(world.deps, vm.id)).rejects.toBe(timeout);
    expect(await world.deps.vms.findById(vm.id)).toMatchObject({ state: 'paused' });
    // The host carried the resume out after all: the VMM runs.
    await world.agents.resumeVm(host, vm.id);
    const pausesBefore = world.agents.calls.filter((call) => call.operation === 'pause').length;
    expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'record_resumed' });
    expect(await world.deps.vms.findById(vm.id)).toMatchObject({ state: 'running', failureReason: null });
    expect(world.agents.calls.filter((call) => call.operation === 'pause')).toHaveLength(pausesBefore);
    expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'none' });
  });

  it('finishes a pause a crash left pausing before it reached the host: the VMM is paused, then the VM recorded paused', async () => {
    const { reconciler, vm, world, host } = await setUp();
    await world.deps.vms.transition(vm.id, { from: 'running', to: 'pausing', at: world.clock.now() });
    world.clock.advance(graceMs);
    expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'finish_pause' });
    expect(await world.deps.vms.findById(vm.id)).toMatchObject({ state: 'paused' });
    expect(world.agents.calls.filter((call) => call.operation === 'pause').at(-1)).toMatchObject({
      vmId: vm.id,
      addr: host.addr,
    });
    // Nothing is left to do: the next pass finds the VM as its host holds it.
    expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'none' });
  });

  it('finishes a stop left in stopping, removing the VM’s network with its VMM', async () => {
    const { reconciler, vm, world } = await setUp();
    await world.deps.vms.transition(vm.id, { from: 'running', to: 'stopping', at: world.clock.now() });
    world.clock.advance(graceMs);

    expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'finish_stop' });
    expect(await world.deps.vms.findById(vm.id)).toMatchObject({ state: 'stopped' });
    const stop = world.agents.calls.filter((call) => call.operation === 'stop').at(-1);
    expect(stop).toMatchObject({ vmId: vm.id });
    expect(stop?.isNetworkKept).toBeUndefined();
  });

  it('finishes a restore in place a crash left stopping: the stop, then the restore of the snapshot', async () => {
    const { reconciler, vm, world, host } = await setUp();
    const snapshot = await createSnapshot(world.deps, vm.id, { afterwards: 'previous_state' }, everyProject);
    await acceptRestore(world.deps, vm.id, { snapshotId: snapshot.id, afterwards: 'running' });
    world.clock.advance(graceMs);

    expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'finish_stop' });
    const restored = await world.deps.vms.findById(vm.id);
    expect(restored).toMatchObject({ state: 'running', pendingRestore: null });
    const stops = world.agents.calls.filter((call) => call.operation === 'stop');
    expect(stops.at(-1)).toMatchObject({ vmId: vm.id, isNetworkKept: true });
    const applies = world.agents.calls.filter((call) => call.operation === 'apply');
    expect(applies.at(-1)?.spec?.restoreFrom).toEqual({ vmId: vm.id, snapshotId: snapshot.id });
    expect(world.agents.isRunning(host.addr, vm.id)).toBe(true);
  });

  it('applies a restore in place again when a VM whose restore was pending is seen again after its host was silent', async () => {
    const { reconciler, vm, world, host } = await setUp();
    const snapshot = await createSnapshot(world.deps, vm.id, { afterwards: 'previous_state' }, everyProject);
    const stopping = await acceptRestore(world.deps, vm.id, { snapshotId: snapshot.id, afterwards: 'running' });
    // The host went silent before the stop reached it: its VMM still runs the guest as it was.
    await world.deps.vms.transition(vm.id, { from: stopping.state, to: 'unknown', at: world.clock.now() });
    world.clock.advance(graceMs);

    expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'adopt', to: 'running' });
    expect(await world.deps.vms.findById(vm.id)).toMatchObject({ state: 'running', pendingRestore: null });
    expect(world.agents.calls.filter((call) => call.operation === 'stop').at(-1)).toMatchObject({
      vmId: vm.id,
      isNetworkKept: true,
    });
    const applies = world.agents.calls.filter((call) => call.operation === 'apply');
    expect(applies.at(-1)?.spec?.restoreFrom).toEqual({ vmId: vm.id, snapshotId: snapshot.id });
    expect(world.agents.isRunning(host.addr, vm.id)).toBe(true);
  });

  it('removes what an Agent holds for a VM that has no record', async () => {
    const { reconciler, vm, world, host } = await setUp();
    const orphan = 'vm_01JZZZZZZZZZZZZZZZZZZZZZZZ' as VmId;
    world.agents.plant(host.addr, orphan, { ...vmSpec(vm), guestMac: await world.repos.vms.allocateGuestMac() });
    const report = await reconciler.resync();
    expect(report.orphansRemoved).toBe(1);
    expect(world.agents.vmIdsOn(host.addr)).toEqual([vm.id]);
  });

  it("removes none of a host's VMs when most of them have no record, and says why in one event", async () => {
    const { reconciler, vm, world, host } = await setUp();
    const strangers = [
      'vm_01JZZZZZZZZZZZZZZZZZZZZZZ1',
      'vm_01JZZZZZZZZZZZZZZZZZZZZZZ2',
      'vm_01JZZZZZZZZZZZZZZZZZZZZZZ3',
    ] as VmId[];
    for (const id of strangers)
      world.agents.plant(host.addr, id, { ...vmSpec(vm), guestMac: await world.repos.vms.allocateGuestMac() });
    expect((await reconciler.resync()).orphansRemoved).toBe(0);
    expect((await reconciler.resync()).orphansRemoved).toBe(0);
    expect(world.agents.vmIdsOn(host.addr).sort()).toEqual([vm.id, ...strangers].sort());
    const withheld = (await world.deps.events.list({ hostId: host.id, type: 'host.orphans_withheld' }, { limit: 10 })).items;
    expect(withheld).toHaveLength(1);
    expect(withheld[0]?.message).toMatch(/3 of the 4 VMs/);
  });

  it('leaves a VM whose record its Agent cannot read unknown and on its host, never restarted on a fresh disk', async () => {
    const { reconciler, vm, world, host } = await setUp({ restartPolicy: 'always' });
    world.agents.tearRecord(host.addr, vm.id);
    const appliesBefore = world.agents.calls.filter((call) => call.operation === 'apply').length;

    expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'quarantine' });
    expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'wait', why: 'record_unreadable' });

    expect(await world.deps.vms.findById(vm.id)).toMatchObject({ state: 'unknown', observedState: 'unreadable' });
    expect(world.agents.calls.filter((call) => call.operation === 'apply')).toHaveLength(appliesBefore);
    expect(world.agents.calls.filter((call) => call.operation === 'delete' || call.operation === 'stop')).toEqual([]);
    const events = (await world.deps.events.list({ vmId: vm.id }, { limit: 100 })).items;
    expect(events.find((e) => e.toState === 'unknown')?.message).toMatch(/cannot read the record/);
  });

  it('never removes what an Agent holds under an unreadable record, even with no VM record', async () => {
    const { reconciler, vm, world, host } = await setUp();
    const orphan = 'vm_01JZZZZZZZZZZZZZZZZZZZZZZZ' as VmId;
    world.agents.plant(host.addr, orphan, { ...vmSpec(vm), guestMac: await world.repos.vms.allocateGuestMac() });
    world.agents.tearRecord(host.addr, orphan);

    const report = await reconciler.resync();

    expect(report.orphansRemoved).toBe(0);
    expect(world.agents.vmIdsOn(host.addr)).toContain(orphan);
  });

  it('marks a silent host unhealthy and its VMs unknown, then re-adopts them when it is back', async () => {
    const { reconciler, vm, world, host } = await setUp();
    world.clock.advance(3 * heartbeatIntervalMs + 1);
    expect((await reconciler.resync()).hostsMarkedUnhealthy).toBe(1);
    await reconciler.idle();
    expect((await world.deps.hosts.findById(host.id))?.status).toBe('unhealthy');
    expect(await stateOf(world, vm.id)).toBe('unknown');
    await heartbeat(world.deps, host.id, { capacity: hostCapacity(), facts: hostFacts() }, agentAuthorization(host.agentId));
    expect((await world.deps.hosts.findById(host.id))?.status).toBe('healthy');
    expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'adopt', to: 'running' });
    expect(await stateOf(world, vm.id)).toBe('running');
  });

  it('does not mark unhealthy a host whose heartbeats are late while its Agent answers this Manager', async () => {
    const { reconciler, vm, world, host } = await setUp();
    world.clock.advance(3 * heartbeatIntervalMs + 1);
    world.deps.contacts.answered(host.addr, world.clock.now());

    expect((await reconciler.resync()).hostsMarkedUnhealthy).toBe(0);
    await reconciler.idle();
    expect((await world.deps.hosts.findById(host.id))?.status).toBe('healthy');
    expect(await stateOf(world, vm.id)).toBe('running');
  });

  it('gives hosts one heartbeat timeout after it starts leading before it judges them by their heartbeats', async () => {
    const { reconciler, vm, world, host } = await setUp();
    // This Manager was down (or did not lead) for a while: the host's last heartbeat is old.
    reconciler.deactivate();
    world.clock.advance(10 * heartbeatIntervalMs);
    reconciler.activate();

    expect((await reconciler.resync()).hostsMarkedUnhealthy).toBe(0);
    await reconciler.idle();
    expect(await stateOf(world, vm.id)).toBe('running');

    // No heartbeat within the timeout after it took over: now the host is unhealthy.
    world.clock.advance(3 * heartbeatIntervalMs + 1);
    expect((await reconciler.resync()).hostsMarkedUnhealthy).toBe(1);
    await reconciler.idle();
    expect((await world.deps.hosts.findById(host.id))?.status).toBe('unhealthy');
    expect(await stateOf(world, vm.id)).toBe('unknown');
  });

  it(`reads at most ${inventoryReadsInFlight} inventories at once in a resync, and every host's`, async () => {
    const { world, reconciler } = await setUp();
    for (let i = 0; i < inventoryReadsInFlight + 8; i += 1) await world.addHost({ name: `node-${i}` });
    const read = world.agents.inventory.bind(world.agents);
    const asked = new Set<string>();
    let inFlight = 0;
    let mostInFlight = 0;
    world.agents.inventory = async (target) => {
      inFlight += 1;
      mostInFlight = Math.max(mostInFlight, inFlight);
      asked.add(target.addr);
      try {
        await new Promise((resolve) => setImmediate(resolve));
        return await read(target);
      } finally {
        inFlight -= 1;
      }
    };
    expect(await reconciler.resync()).toMatchObject({ hostsWithoutInventory: 0 });
    expect(asked.size).toBe(inventoryReadsInFlight + 9);
    expect(mostInFlight).toBe(inventoryReadsInFlight);
  });

  it('reads inventories without their resource lists, and still restarts a VM whose VMM is gone', async () => {
    const { world, reconciler, host, vm } = await setUp();
    const read = world.agents.inventory.bind(world.agents);
    const queries: unknown[] = [];
    world.agents.inventory = async (target, query) => {
      queries.push(query);
      return read(target, query);
    };
    world.agents.killVmm(host.addr, vm.id);
    expect(await reconciler.resync()).toMatchObject({ hostsWithoutInventory: 0, vmsQueued: 1 });
    await reconciler.idle();
    // The resync's read; the VM's reconcile then reads its entry alone (see "what the reconcile of one VM reads").
    expect(queries).toEqual([{ resources: 'none' }]);
    expect(world.agents.isRunning(host.addr, vm.id)).toBe(true);
  });

  it('lets the event loop turn once each slice of its work is spent, so a heartbeat is not held until it ends', async () => {
    // A slice of 0 ms is spent at once: the loop turns between every row applied and VM compared.
    const { reconciler } = await setUp({ sliceMs: 0 });
    const order: string[] = [];
    const resync = reconciler.resync().then(() => order.push('resync done'));
    setImmediate(() => order.push('another turn of the event loop'));
    await resync;
    expect(order).toEqual(['another turn of the event loop', 'resync done']);
  });

  it('queues on resync only the VMs a reconcile would change', async () => {
    const { reconciler, vm, world, host } = await setUp();
    const others: Vm[] = [];
    for (const name of ['api', 'db']) {
      others.push(
        await createVm(world.deps, {
          project: 'default',
          name,
          vcpuCount: 1,
          memoryMib: 256,
          kernelImageId: vm.kernelImageId,
          rootfsImageId: vm.rootfsImageId,
        }),
      );
    }
    // The first pass records what the Agent observes; after it, nothing is left to do.
    await reconciler.resync();
    await reconciler.idle();
    expect((await reconciler.resync()).vmsQueued).toBe(0);

    world.agents.killVmm(host.addr, vm.id);
    expect((await reconciler.resync()).vmsQueued).toBe(1);
    await reconciler.idle();
    expect(world.agents.isRunning(host.addr, vm.id)).toBe(true);
    expect(await world.deps.reconcileStates.get(vm.id)).toMatchObject({ crashWindow: { restarts: 1 } });
    for (const other of others)
      expect(await world.deps.reconcileStates.get(other.id)).toMatchObject({ crashWindow: { restarts: 0 } });

    // The next pass records the restarted VMM as running; then all is quiet again.
    await reconciler.resync();
    await reconciler.idle();
    expect((await reconciler.resync()).vmsQueued).toBe(0);

    // A pause made behind the Manager's back is an observation to record.
    await world.agents.pauseVm(host, others[0]!.id);
    expect((await reconciler.resync()).vmsQueued).toBe(1);
    await reconciler.idle();
    expect((await world.deps.vms.findById(others[0]!.id))?.observedState).toBe('paused');
    expect((await reconciler.resync()).vmsQueued).toBe(0);
  });

  it('ignores hints until it leads', async () => {
    const { reconciler, vm, world, host } = await setUp();
    reconciler.deactivate();
    world.agents.killVmm(host.addr, vm.id);
    reconciler.vmChanged(vm.id);
    await reconciler.idle();
    expect(await stateOf(world, vm.id)).toBe('running');
    expect((await reconciler.resync()).vmsQueued).toBe(0);
  });

  describe('when it stops leading', () => {
    /** Leadership is lost while the host's inventory is being read: in the middle of the work. */
    function loseLeadershipOnInventory(world: World, reconciler: Reconciler): void {
      const inventory = world.agents.inventory.bind(world.agents);
      world.agents.inventory = (target) => {
        reconciler.deactivate();
        return inventory(target);
      };
    }

    it("does not queue a host's VMs once leadership is lost while the host is being reconciled", async () => {
      const { reconciler, vm, world, host } = await setUp();
      world.agents.killVmm(host.addr, vm.id);
      loseLeadershipOnInventory(world, reconciler);
      await reconciler.reconcileHost(host.id);
      await reconciler.idle();
      expect(await stateOf(world, vm.id)).toBe('running');
      expect(world.agents.calls.filter((call) => call.operation === 'apply')).toHaveLength(1);
    });

    it('does not act on a VM whose reconcile was running when leadership was lost', async () => {
      const { reconciler, vm, world, host } = await setUp();
      world.agents.killVmm(host.addr, vm.id);
      const describeVm = world.agents.describeVm.bind(world.agents);
      world.agents.describeVm = (target, vmId) => {
        reconciler.deactivate();
        return describeVm(target, vmId);
      };
      reconciler.vmChanged(vm.id);
      await reconciler.idle();
      expect(await stateOf(world, vm.id)).toBe('running');
      expect(world.agents.calls.filter((call) => call.operation === 'apply')).toHaveLength(1);
    });

    it('does not act for an earlier term after leading again', async () => {
      const { reconciler, vm, world, host } = await setUp();
      world.agents.killVmm(host.addr, vm.id);
      const describeVm = world.agents.describeVm.bind(world.agents);
      world.agents.describeVm = (target, vmId) => {
        reconciler.deactivate();
        reconciler.activate();
        world.agents.describeVm = describeVm;
        return describeVm(target, vmId);
      };
      reconciler.vmChanged(vm.id);
      await reconciler.idle();
      expect(world.agents.calls.filter((call) => call.operation === 'apply')).toHaveLength(1);
    });
  });

  it("reads only the host's own VMs when it reconciles one host", async () => {
    const { vm, world, host } = await setUp();
    const listed: string[] = [];
    const vms: VmRepository = Object.create(world.deps.vms, {
      list: { value: () => Promise.reject(new Error('every VM listed for one host')) },
      listOnHost: {
        value: (hostId: HostId) => {
          listed.push(hostId);
          return world.deps.vms.listOnHost(hostId);
        },
      },
    }) as VmRepository;
    const reconciler = new Reconciler(
      { ...world.deps, vms },
      { heartbeatIntervalMs, graceMs, concurrency: 2, inventoryMaxAgeMs: 0, retry: defaultRetryPolicy },
    );
    reconciler.activate();
    world.agents.killVmm(host.addr, vm.id);
    await reconciler.reconcileHost(host.id);
    await reconciler.idle();
    expect(listed).toEqual([host.id]);
    expect(world.agents.calls.filter((call) => call.operation === 'apply')).toHaveLength(2);
  });

  describe('what the reconcile of one VM reads', () => {
    const readsOf = (world: World, operation: 'inventory' | 'describe'): number =>
      world.agents.calls.filter((call) => call.operation === operation).length;

    async function createAnother(world: World, name: string): Promise<Vm> {
      const imageOf = async (kind: 'kernel' | 'rootfs') =>
        (await world.deps.images.list({ projects: everyProject, kind }, { limit: 1 })).items[0]!.id;
      return createVm(world.deps, {
        project: 'default',
        name,
        vcpuCount: 1,
        memoryMib: 128,
        kernelImageId: await imageOf('kernel'),
        rootfsImageId: await imageOf('rootfs'),
      });
    }

    /** The VM's record changes just after its Agent was asked for it: `times` times, then no more. */
    function changeRecordAfterEachRead(world: World, vmId: VmId, times: number): void {
      const describeVm = world.agents.describeVm.bind(world.agents);
      let changes = 0;
      world.agents.describeVm = async (target, id) => {
        const answer = await describeVm(target, id);
        if (id === vmId && changes < times) {
          changes += 1;
          world.clock.advance(1);
          await world.deps.vms.setEgress(vmId, { egress: { mode: 'allow_all' }, at: world.clock.now() });
        }
        return answer;
      };
    }

    it("reads a VM created after the host's inventory was read alone, not the host's inventory", async () => {
      const { reconciler, world } = await setUp({ inventoryMaxAgeMs: 60_000 });
      await reconciler.resync();
      const inventoryReads = readsOf(world, 'inventory');
      world.clock.advance(1);

      const created = await createAnother(world, 'fresh');
      const action = await reconciler.reconcileVm(created.id);

      expect(action).toEqual({ kind: 'none' });
      expect([readsOf(world, 'inventory') - inventoryReads, readsOf(world, 'describe')]).toEqual([0, 1]);
      expect(world.agents.calls.at(-1)).toMatchObject({ operation: 'describe', vmId: created.id });
      expect(await world.deps.vms.findById(created.id)).toMatchObject({ state: 'running', observedState: 'running' });
    });

    it('reads the VM alone when no inventory of its host is held', async () => {
      const { reconciler, vm, world } = await setUp({ inventoryMaxAgeMs: 60_000 });

      expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'none' });

      expect([readsOf(world, 'inventory'), readsOf(world, 'describe')]).toEqual([0, 1]);
    });

    it("takes a VM unchanged since its host's inventory was read from that inventory, reading nothing more", async () => {
      const { reconciler, vm, world, host } = await setUp({ inventoryMaxAgeMs: 60_000 });
      world.agents.killVmm(host.addr, vm.id);
      world.clock.advance(1);
      expect(await reconciler.resync()).toMatchObject({ vmsQueued: 1 });
      const inventoryReads = readsOf(world, 'inventory');

      await reconciler.idle();

      expect([readsOf(world, 'inventory') - inventoryReads, readsOf(world, 'describe')]).toEqual([0, 0]);
      expect(world.agents.isRunning(host.addr, vm.id)).toBe(true);
    });

    it('reads the VM again when its record changed after its Agent was asked', async () => {
      const { reconciler, vm, world } = await setUp();
      changeRecordAfterEachRead(world, vm.id, 1);

      expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'none' });

      expect([readsOf(world, 'inventory'), readsOf(world, 'describe')]).toEqual([0, 2]);
    });

    it('gives up for now, doing nothing, when the record keeps changing after every read', async () => {
      const { reconciler, vm, world, host } = await setUp();
      world.agents.killVmm(host.addr, vm.id);
      world.clock.advance(graceMs);
      changeRecordAfterEachRead(world, vm.id, 10);

      expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'wait', why: 'no_inventory' });

      expect(readsOf(world, 'describe')).toBe(3);
      expect(world.agents.isRunning(host.addr, vm.id)).toBe(false);
    });

    it('does for a VM its Agent holds nothing of what it does from an inventory that does not list it', async () => {
      const fromEntry = await setUp({ inventoryMaxAgeMs: 60_000 });
      const fromInventory = await setUp({ inventoryMaxAgeMs: 60_000 });
      for (const { world, host, vm } of [fromEntry, fromInventory]) {
        await world.agents.deleteVm(host, vm.id);
        world.clock.advance(graceMs);
      }

      const action = await fromEntry.reconciler.reconcileVm(fromEntry.vm.id);
      // A resync reads the host's inventory, and the VM's reconcile takes it from there.
      expect(await fromInventory.reconciler.resync()).toMatchObject({ vmsQueued: 1 });
      await fromInventory.reconciler.idle();

      expect(action).toMatchObject({ kind: 'vmm_gone', restart: { kind: 'restart' } });
      expect([readsOf(fromEntry.world, 'describe'), readsOf(fromEntry.world, 'inventory')]).toEqual([1, 0]);
      expect([readsOf(fromInventory.world, 'describe'), readsOf(fromInventory.world, 'inventory')]).toEqual([0, 1]);
      const outcomes = await Promise.all(
        [fromEntry, fromInventory].map(async ({ world, host, vm }) => ({
          isRunning: world.agents.isRunning(host.addr, vm.id),
          events: (await world.deps.events.list({ vmId: vm.id }, { limit: 100 })).items.map((event) => [
            event.type,
            event.toState,
            event.message,
          ]),
        })),
      );
      expect(outcomes[0]).toEqual(outcomes[1]);
      expect(outcomes[0]?.isRunning).toBe(true);
    });

    it("does nothing on the host when the VM's entry cannot be read", async () => {
      const { reconciler, vm, world, host } = await setUp();
      world.agents.killVmm(host.addr, vm.id);
      world.clock.advance(graceMs);
      world.agents.failNext('describe', new AppError('AGENT_UNAVAILABLE', 'The Agent cannot be reached'));

      expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'wait', why: 'no_inventory' });
      expect(world.agents.isRunning(host.addr, vm.id)).toBe(false);
    });

    describe('from an Agent whose GET /vms/:id answers without what only its inventory had', () => {
      function answerAsOlderAgent(world: World): void {
        const describeVm = world.agents.describeVm.bind(world.agents);
        world.agents.describeVm = async (target, vmId) => {
          const {
            holdsRuntimeResources: _held,
            egress: _egress,
            rateLimits: _rateLimits,
            ...older
          } = await describeVm(target, vmId);
          return older;
        };
      }

      it("reads the host's inventory instead, and repairs drift the VM's own answer cannot show", async () => {
        const { reconciler, vm, world, host } = await setUp();
        await world.deps.vms.setEgress(vm.id, { egress: { mode: 'deny_all' }, at: world.clock.now() });
        await world.agents.setVmEgress(host, vm.id, { mode: 'deny_all' });
        world.agents.removeEgressRules(host.addr, vm.id);
        world.clock.advance(graceMs);
        answerAsOlderAgent(world);

        expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'repair_drift', egress: true, rateLimits: false });
        expect([readsOf(world, 'describe'), readsOf(world, 'inventory')]).toEqual([1, 1]);
      });

      it('reads the inventory when it refuses a VM whose record is unreadable, and leaves that VM alone', async () => {
        const { reconciler, vm, world, host } = await setUp();
        world.agents.tearRecord(host.addr, vm.id);
        world.clock.advance(graceMs);
        world.agents.failNext('describe', new AppError('VM_RECORD_UNREADABLE', `The record of VM ${vm.id} cannot be read`));

        expect(await reconciler.reconcileVm(vm.id)).toEqual({ kind: 'quarantine' });
        expect([readsOf(world, 'describe'), readsOf(world, 'inventory')]).toEqual([1, 1]);
      });
    });
  });

  it("waits in idle() for a host's reconcile and the VMs it queues", async () => {
    const { reconciler, vm, world, host } = await setUp();
    world.agents.killVmm(host.addr, vm.id);
    reconciler.hostChanged(host.id);
    await reconciler.idle();
    expect(world.agents.isRunning(host.addr, vm.id)).toBe(true);
    expect(world.agents.calls.filter((call) => call.operation === 'apply')).toHaveLength(2);
  });
});

function vmSpec(vm: Vm): Parameters<World['agents']['plant']>[2] {
  return {
    vcpuCount: vm.vcpuCount,
    memoryMib: vm.memoryMib,
    kernelPath: vm.kernelPath,
    rootfsSourcePath: vm.rootfsPath,
    bootArgs: vm.bootArgs,
    guestMac: vm.guestMac,
    isMetricsEnabled: vm.isMetricsEnabled,
  };
}
