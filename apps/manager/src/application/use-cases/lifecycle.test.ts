import { everyProject } from '../../domain/access.js';
import { describe, expect, it } from 'vitest';
import { AppError } from '@hearth/errors';
import type { RecordedEvent } from '../../domain/event.js';
import type { Vm } from '../../domain/vm.js';
import { createWorld, type World } from '../../testing/world.js';
import { waitFor } from '@hearth/testkit';
import { continueCreate, continueCreateInBackground } from './continue-create.js';
import { acceptVm, createVm } from './create-vm.js';
import { deleteVm } from './delete-vm.js';
import { pauseVm } from './pause-vm.js';
import { resumeVm } from './resume-vm.js';
import { startVm } from './start-vm.js';
import { stopVm } from './stop-vm.js';
import { getVm } from './vm-queries.js';
import { waitForVmState } from './wait-for-vm-state.js';
import { codeOf } from '../../testing/rejections.js';

const addr = 'https://10.0.0.1:9090';

async function setUp(): Promise<{ world: World; input: Parameters<typeof createVm>[1] }> {
  const world = createWorld();
  await world.addHost();
  const { kernel, rootfs } = await world.addImages();
  return {
    world,
    input: { project: 'default', name: 'web', vcpuCount: 1, memoryMib: 256, kernelImageId: kernel.id, rootfsImageId: rootfs.id },
  };
}

async function runningVm(): Promise<{ world: World; vm: Vm }> {
  const { world, input } = await setUp();
  return { world, vm: await createVm(world.deps, input) };
}

async function eventsOf(world: World, vm: Vm): Promise<readonly RecordedEvent[]> {
  return (await world.repos.events.list({ vmId: vm.id }, { limit: 1000 })).items;
}

describe('acceptVm and continueCreate', () => {
  it('records the VM pending with its host reserved and asks nothing of the Agent', async () => {
    const { world, input } = await setUp();
    const pending = await acceptVm(world.deps, input);
    expect(pending).toMatchObject({ state: 'pending', version: 1, observedState: null });
    expect(world.agents.calls).toEqual([]);
    expect((await world.repos.vms.allocationsByHost()).get(pending.hostId)).toEqual({ vcpuCount: 1, memoryMib: 256 });
  });

  it('continues an accepted VM to running through scheduled and starting', async () => {
    const { world, input } = await setUp();
    const pending = await acceptVm(world.deps, input);
    const running = await continueCreate(world.deps, pending.id);
    expect(running).toMatchObject({ state: 'running', version: 4 });
    expect((await eventsOf(world, running)).map((e) => e.toState ?? e.type)).toEqual([
      'pending',
      'scheduled',
      'starting',
      'running',
      'vm.observed_state_changed',
    ]);
  });

  it.each(['scheduled', 'starting'] as const)('picks up a create left in %s by a crash', async (leftIn) => {
    const { world, input } = await setUp();
    const pending = await acceptVm(world.deps, input);
    await world.repos.vms.transition(pending.id, { from: 'pending', to: 'scheduled', at: world.clock.now() });
    if (leftIn === 'starting')
      await world.repos.vms.transition(pending.id, { from: 'scheduled', to: 'starting', at: world.clock.now() });
    expect((await continueCreate(world.deps, pending.id)).state).toBe('running');
    expect(world.agents.isRunning(addr, pending.id)).toBe(true);
  });

  it('answers a VM that is past its create as it is, without asking the Agent', async () => {
    const { world, vm } = await runningVm();
    const calls = world.agents.calls.length;
    expect(await continueCreate(world.deps, vm.id)).toEqual(vm);
    expect(world.agents.calls).toHaveLength(calls);
  });

  it('ends running exactly once when two workers continue the same create at once', async () => {
    const { world, input } = await setUp();
    const pending = await acceptVm(world.deps, input);
    const [a, b] = await Promise.all([continueCreate(world.deps, pending.id), continueCreate(world.deps, pending.id)]);
    expect([a.state, b.state]).toEqual(['running', 'running']);
    const toStates = (await eventsOf(world, a)).map((e) => e.toState ?? e.type);
    expect(toStates).toEqual(['pending', 'scheduled', 'starting', 'running', 'vm.observed_state_changed']);
    expect(world.agents.vmIdsOn(addr)).toEqual([pending.id]);
  });

  it('leaves an accepted VM starting, for the reconciler to retry, when its Agent cannot be reached', async () => {
    const { world, input } = await setUp();
    const warnings: string[] = [];
    const deps = { ...world.deps, log: { ...world.deps.log, warn: (_: object, message: string) => void warnings.push(message) } };
    const pending = await acceptVm(deps, input);
    world.agents.failNext('apply', new AppError('AGENT_UNAVAILABLE', 'The Agent at https://10.0.0.1:9090 cannot be reached'));
    continueCreateInBackground(deps, pending.id, pending);
    await waitFor(() => warnings.includes('vm apply interrupted; will retry'), {
      description: 'the interrupted apply is reported',
    });
    expect(await getVm(world.deps, pending.id, everyProject)).toMatchObject({ state: 'starting', failureReason: null });
    expect(world.agents.calls.map((c) => c.operation)).toEqual(['apply']);
  });

  it('leaves the VM failed with the reason when the Agent cannot be reached while a request waits for it', async () => {
    const { world, input } = await setUp();
    world.agents.failNext('apply', new AppError('AGENT_UNAVAILABLE', 'The Agent at https://10.0.0.1:9090 cannot be reached'));
    expect(await codeOf(createVm(world.deps, input))).toBe('AGENT_UNAVAILABLE');
    const vm = await world.repos.vms.findByName(input.project, input.name);
    expect(vm).toMatchObject({ state: 'failed', failureReason: { code: 'AGENT_UNAVAILABLE' } });
  });

  it('answers the Agent failure to both workers when two continue the same create and its apply fails', async () => {
    const { world, input } = await setUp();
    const pending = await acceptVm(world.deps, input);
    world.agents.failNext('apply', new AppError('VMM_SPAWN_FAILED', 'no firecracker'));
    world.agents.failNext('apply', new AppError('VMM_SPAWN_FAILED', 'no firecracker'));
    const outcomes = await Promise.allSettled([continueCreate(world.deps, pending.id), continueCreate(world.deps, pending.id)]);
    expect(
      outcomes.map((outcome) => (outcome.status === 'rejected' ? (outcome.reason as AppError).code : outcome.value.state)),
    ).toEqual(['VMM_SPAWN_FAILED', 'VMM_SPAWN_FAILED']);
    expect(await getVm(world.deps, pending.id, everyProject)).toMatchObject({
      state: 'failed',
      failureReason: { code: 'VMM_SPAWN_FAILED' },
    });
  });

  it('leaves the VM failed with the reason and removes it from the host when the Agent fails', async () => {
    const { world, input } = await setUp();
    const pending = await acceptVm(world.deps, input);
    world.agents.failNext('apply', new AppError('VMM_SPAWN_FAILED', 'no firecracker'));
    expect(await codeOf(continueCreate(world.deps, pending.id))).toBe('VMM_SPAWN_FAILED');
    expect(await getVm(world.deps, pending.id, everyProject)).toMatchObject({
      state: 'failed',
      failureReason: { code: 'VMM_SPAWN_FAILED' },
    });
    expect(world.agents.calls.map((c) => c.operation)).toEqual(['apply', 'delete']);
  });
});

describe('pauseVm and resumeVm', () => {
  it('pauses a running VM through pausing and resumes it', async () => {
    const { world, vm } = await runningVm();
    const paused = await pauseVm(world.deps, vm.id);
    expect(paused.state).toBe('paused');
    expect(world.agents.isPaused(addr, vm.id)).toBe(true);
    const resumed = await resumeVm(world.deps, vm.id);
    expect(resumed.state).toBe('running');
    expect(world.agents.isPaused(addr, vm.id)).toBe(false);
    const changes = (await eventsOf(world, vm)).slice(-3).map((e) => [e.fromState, e.toState]);
    expect(changes).toEqual([
      ['running', 'pausing'],
      ['pausing', 'paused'],
      ['paused', 'running'],
    ]);
  });

  it('refuses to pause a stopped VM with VM_INVALID_TRANSITION', async () => {
    const { world, vm } = await runningVm();
    await stopVm(world.deps, vm.id);
    expect(await codeOf(pauseVm(world.deps, vm.id))).toBe('VM_INVALID_TRANSITION');
  });

  it('refuses to resume a running VM with VM_INVALID_TRANSITION', async () => {
    const { world, vm } = await runningVm();
    expect(await codeOf(resumeVm(world.deps, vm.id))).toBe('VM_INVALID_TRANSITION');
  });

  it('puts the VM back to running when the Agent refuses to pause it', async () => {
    const { world, vm } = await runningVm();
    world.agents.failNext('pause', new AppError('FIRECRACKER_REJECTED', 'refused'));
    expect(await codeOf(pauseVm(world.deps, vm.id))).toBe('FIRECRACKER_REJECTED');
    expect((await getVm(world.deps, vm.id, everyProject)).state).toBe('running');
  });

  it('leaves the VM pausing, for the reconciler to finish, when the Agent does not confirm the pause', async () => {
    const { world, vm } = await runningVm();
    world.agents.failNext('pause', new AppError('AGENT_UNAVAILABLE', 'down'));
    expect(await pauseVm(world.deps, vm.id)).toMatchObject({ state: 'pausing', failureReason: null });
    expect((await getVm(world.deps, vm.id, everyProject)).state).toBe('pausing');
  });

  it('marks the VM failed when its VMM is gone', async () => {
    const { world, vm } = await runningVm();
    world.agents.failNext('pause', new AppError('VMM_NOT_RUNNING', 'gone'));
    expect(await codeOf(pauseVm(world.deps, vm.id))).toBe('VMM_NOT_RUNNING');
    expect(await getVm(world.deps, vm.id, everyProject)).toMatchObject({
      state: 'failed',
      failureReason: { code: 'VMM_NOT_RUNNING' },
    });
  });

  it('keeps a VM paused when the Agent cannot resume it', async () => {
    const { world, vm } = await runningVm();
    await pauseVm(world.deps, vm.id);
    world.agents.failNext('resume', new AppError('AGENT_UNAVAILABLE', 'down'));
    expect(await codeOf(resumeVm(world.deps, vm.id))).toBe('AGENT_UNAVAILABLE');
    expect((await getVm(world.deps, vm.id, everyProject)).state).toBe('paused');
  });

  it('stops a paused VM', async () => {
    const { world, vm } = await runningVm();
    await pauseVm(world.deps, vm.id);
    expect((await stopVm(world.deps, vm.id)).state).toBe('stopped');
  });
});

describe('If-Match on mutations', () => {
  it.each([
    ['stopVm', (w: World, vm: Vm, ifMatch: readonly number[]) => stopVm(w.deps, vm.id, { ifMatch })],
    ['pauseVm', (w: World, vm: Vm, ifMatch: readonly number[]) => pauseVm(w.deps, vm.id, { ifMatch })],
    ['deleteVm', (w: World, vm: Vm, ifMatch: readonly number[]) => deleteVm(w.deps, vm.id, { ifMatch })],
  ])('%s refuses another version with PRECONDITION_FAILED and changes nothing', async (_, mutate) => {
    const { world, vm } = await runningVm();
    const calls = world.agents.calls.length;
    expect(await codeOf(mutate(world, vm, [vm.version - 1]))).toBe('PRECONDITION_FAILED');
    expect(await getVm(world.deps, vm.id, everyProject)).toEqual(vm);
    expect(world.agents.calls).toHaveLength(calls);
  });

  it('lets a mutation at the current version (or *) through and moves the version on', async () => {
    const { world, vm } = await runningVm();
    const stopped = await stopVm(world.deps, vm.id, { ifMatch: [vm.version] });
    expect(stopped.version).toBe(vm.version + 2);
    expect((await startVm(world.deps, vm.id, { ifMatch: '*' })).state).toBe('running');
  });

  it('checks the precondition before the transition (412 before 409)', async () => {
    const { world, vm } = await runningVm();
    expect(await codeOf(resumeVm(world.deps, vm.id, { ifMatch: [99] }))).toBe('PRECONDITION_FAILED');
  });
});

describe('events', () => {
  it('writes one event per state change, so the version counts the changes', async () => {
    const { world, vm } = await runningVm();
    await pauseVm(world.deps, vm.id);
    await resumeVm(world.deps, vm.id);
    await stopVm(world.deps, vm.id);
    const current = await getVm(world.deps, vm.id, everyProject);
    const events = await eventsOf(world, vm);
    expect(events.filter((e) => e.type === 'vm.state_changed')).toHaveLength(current.version - 1);
    expect(events[0]).toMatchObject({ type: 'vm.created', hostId: vm.hostId, toState: 'pending' });
  });

  it('keeps the events of a deleted VM, ending with vm.deleted', async () => {
    const { world, vm } = await runningVm();
    await deleteVm(world.deps, vm.id);
    expect((await eventsOf(world, vm)).at(-1)).toMatchObject({ type: 'vm.deleted', fromState: 'deleting', toState: null });
  });
});

describe('waitForVmState', () => {
  it('is woken by the events of an accepted VM until it runs', async () => {
    const { world, input } = await setUp();
    const pending = await acceptVm(world.deps, input);
    const waiting = waitForVmState(world.deps, pending.id, 'running', { projects: everyProject, timeoutMs: 5_000 });
    const continued = new Promise((resolve) => setTimeout(resolve, 10)).then(() => continueCreate(world.deps, pending.id));
    const result = await waiting;
    await continued;
    expect(result.outcome).toBe('reached');
    expect(result.vm.state).toBe('running');
    expect(world.repos.eventFeed.listenerCount).toBe(0);
  });

  it('answers at once when the VM is already in the state', async () => {
    const { world, vm } = await runningVm();
    expect(await waitForVmState(world.deps, vm.id, 'running', { projects: everyProject, timeoutMs: 5_000 })).toEqual({
      vm,
      outcome: 'reached',
    });
  });

  it('answers failed when the VM fails on the way', async () => {
    const { world, input } = await setUp();
    const pending = await acceptVm(world.deps, input);
    world.agents.failNext('apply', new AppError('VMM_SPAWN_FAILED', 'no firecracker'));
    const waiting = waitForVmState(world.deps, pending.id, 'running', { projects: everyProject, timeoutMs: 5_000 });
    await continueCreate(world.deps, pending.id).catch(() => undefined);
    expect((await waiting).outcome).toBe('failed');
  });

  it('answers timed_out with the VM as it is when time runs out', async () => {
    const { world, input } = await setUp();
    const pending = await acceptVm(world.deps, input);
    const result = await waitForVmState(world.deps, pending.id, 'running', { projects: everyProject, timeoutMs: 30 });
    expect(result).toMatchObject({ outcome: 'timed_out', vm: { state: 'pending' } });
    expect(world.repos.eventFeed.listenerCount).toBe(0);
  });

  it('ends early when its signal aborts', async () => {
    const { world, input } = await setUp();
    const pending = await acceptVm(world.deps, input);
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 10);
    const result = await waitForVmState(world.deps, pending.id, 'running', {
      projects: everyProject,
      timeoutMs: 60_000,
      signal: abort.signal,
    });
    expect(result.outcome).toBe('timed_out');
  });

  it('answers VM_NOT_FOUND for an unknown VM', async () => {
    const { world } = await setUp();
    expect(
      await codeOf(
        waitForVmState(world.deps, 'vm_01J0000000000000000000ZZZZ' as Vm['id'], 'running', {
          projects: everyProject,
          timeoutMs: 10,
        }),
      ),
    ).toBe('VM_NOT_FOUND');
  });
});
