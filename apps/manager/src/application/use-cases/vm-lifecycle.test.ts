import { everyProject } from '../../domain/access.js';
import { describe, expect, it } from 'vitest';
import { AppError } from '@hearth/errors';
import { createWorld, type World } from '../../testing/world.js';
import type { Vm } from '../../domain/vm.js';
import type { VmId } from '../../domain/ids.js';
import { createVm } from './create-vm.js';
import { deleteVm } from './delete-vm.js';
import { drainHost } from './drain-host.js';
import { startVm } from './start-vm.js';
import { stopVm } from './stop-vm.js';
import { getVm, listVms } from './vm-queries.js';
import { codeOf } from '../../testing/rejections.js';

async function runningVm(name = 'web'): Promise<{ world: World; vm: Vm }> {
  const world = createWorld();
  await world.addHost();
  const { kernel, rootfs } = await world.addImages();
  const vm = await createVm(world.deps, {
    project: 'default',
    name,
    vcpuCount: 1,
    memoryMib: 256,
    kernelImageId: kernel.id,
    rootfsImageId: rootfs.id,
  });
  return { world, vm };
}

const unknownId = 'vm_01J0000000000000000000ZZZZ' as VmId;

describe('stopVm', () => {
  it('stops a running VM through its Agent', async () => {
    const { world, vm } = await runningVm();
    const stopped = await stopVm(world.deps, vm.id);
    expect(stopped.state).toBe('stopped');
    expect(world.agents.isRunning('https://10.0.0.1:9090', vm.id)).toBe(false);
  });

  it('refuses to stop a stopped VM with VM_INVALID_TRANSITION', async () => {
    const { world, vm } = await runningVm();
    await stopVm(world.deps, vm.id);
    expect(await codeOf(stopVm(world.deps, vm.id))).toBe('VM_INVALID_TRANSITION');
  });

  it('marks the VM failed when the Agent cannot stop it', async () => {
    const { world, vm } = await runningVm();
    world.agents.failNext('stop', new AppError('VM_CLEANUP_INCOMPLETE', 'tap left', { details: { leftovers: [] } }));
    expect(await codeOf(stopVm(world.deps, vm.id))).toBe('VM_CLEANUP_INCOMPLETE');
    expect((await getVm(world.deps, vm.id, everyProject)).failureReason?.code).toBe('VM_CLEANUP_INCOMPLETE');
  });

  it.each([
    ['no answer in time', new AppError('AGENT_UNAVAILABLE', 'did not answer in time', { details: { reason: 'timeout' } })],
    ['an Agent answering 503', new AppError('AGENT_REJECTED', 'answered 503', { details: { status: 503 } })],
  ])('leaves the VM stopping, for the reconciler to finish, after %s', async (_, error) => {
    const { world, vm } = await runningVm();
    world.agents.failNext('stop', error);
    const answered = await stopVm(world.deps, vm.id);
    expect(answered.state).toBe('stopping');
    const stored = await getVm(world.deps, vm.id, everyProject);
    expect(stored.state).toBe('stopping');
    expect(stored.failureReason).toBeNull();
  });
});

describe('drainHost', () => {
  it('reports a VM whose stop its host did not confirm as skipped, stopping', async () => {
    const { world, vm } = await runningVm('a');
    const other = await createVm(world.deps, {
      project: 'default',
      name: 'b',
      vcpuCount: 1,
      memoryMib: 256,
      kernelImageId: vm.kernelImageId,
      rootfsImageId: vm.rootfsImageId,
    });
    world.agents.failNext('stop', new AppError('AGENT_UNAVAILABLE', 'did not answer in time'));
    const report = await drainHost(world.deps, vm.hostId);
    expect(report.skipped).toEqual([{ vmId: vm.id, state: 'stopping' }]);
    expect(report.stopped).toEqual([other.id]);
    expect(report.failed).toEqual([]);
  });
});

describe('startVm', () => {
  it('starts a stopped VM again on the same host', async () => {
    const { world, vm } = await runningVm();
    await stopVm(world.deps, vm.id);
    const started = await startVm(world.deps, vm.id);
    expect(started.state).toBe('running');
    expect(started.hostId).toBe(vm.hostId);
    expect(world.agents.calls.filter((c) => c.operation === 'apply')).toHaveLength(2);
  });

  it('refuses to start a running VM with VM_INVALID_TRANSITION', async () => {
    const { world, vm } = await runningVm();
    expect(await codeOf(startVm(world.deps, vm.id))).toBe('VM_INVALID_TRANSITION');
  });

  it('refuses to start a VM whose host has gone quiet', async () => {
    const { world, vm } = await runningVm();
    await stopVm(world.deps, vm.id);
    world.clock.advance(60_000);
    expect(await codeOf(startVm(world.deps, vm.id))).toBe('HOST_NO_CAPACITY');
  });
});

describe('deleteVm', () => {
  it('removes the VM from its host and from the records', async () => {
    const { world, vm } = await runningVm();
    const deleted = await deleteVm(world.deps, vm.id);
    expect(deleted.outcome).toBe('deleted');
    expect(deleted.outcome === 'deleted' && deleted.removed.length).toBeGreaterThan(0);
    expect(await world.repos.vms.findById(vm.id)).toBeUndefined();
    expect(world.agents.vmIdsOn('https://10.0.0.1:9090')).toEqual([]);
  });

  it('frees the name for a new VM', async () => {
    const { world, vm } = await runningVm('reused');
    await deleteVm(world.deps, vm.id);
    const again = await createVm(world.deps, {
      ...vm,
      name: 'reused',
      bootArgs: undefined,
      userData: undefined,
      sharedNetwork: undefined,
      templateId: undefined,
    });
    expect(again.id).not.toBe(vm.id);
  });

  it('rejects an unknown id with VM_NOT_FOUND', async () => {
    const { world } = await runningVm();
    expect(await codeOf(deleteVm(world.deps, unknownId))).toBe('VM_NOT_FOUND');
  });

  it('counts a VM the Agent no longer knows as already gone', async () => {
    const { world, vm } = await runningVm();
    world.agents.failNext('delete', new AppError('VM_NOT_FOUND', 'no such vm'));
    expect(await deleteVm(world.deps, vm.id)).toMatchObject({ outcome: 'deleted', removed: [] });
    expect(await world.repos.vms.findById(vm.id)).toBeUndefined();
  });

  it.each([
    ['no answer in time', new AppError('AGENT_UNAVAILABLE', 'did not answer in time', { details: { reason: 'timeout' } })],
    ['a lost connection', new AppError('AGENT_UNAVAILABLE', 'cannot be reached', { details: { reason: 'ECONNRESET' } })],
    ['an Agent answering 503', new AppError('AGENT_REJECTED', 'answered 503', { details: { status: 503 } })],
    ['an Agent out of capacity', new AppError('RATE_LIMITED', 'too many requests')],
  ])('accepts the delete and leaves the VM deleting after %s', async (_, error) => {
    const { world, vm } = await runningVm();
    world.agents.failNext('delete', error);
    const result = await deleteVm(world.deps, vm.id);
    expect(result).toMatchObject({ outcome: 'accepted', vm: { id: vm.id, state: 'deleting' }, reason: { code: error.code } });
    const stored = await getVm(world.deps, vm.id, everyProject);
    expect(stored.state).toBe('deleting');
    expect(stored.failureReason).toBeNull();
  });

  it('answers a VM already deleting as accepted, without asking its Agent again', async () => {
    const { world, vm } = await runningVm();
    world.agents.failNext('delete', new AppError('AGENT_UNAVAILABLE', 'did not answer in time'));
    await deleteVm(world.deps, vm.id);
    const deletes = world.agents.calls.filter((c) => c.operation === 'delete').length;
    expect(await deleteVm(world.deps, vm.id)).toMatchObject({ outcome: 'accepted', vm: { id: vm.id, state: 'deleting' } });
    expect(world.agents.calls.filter((c) => c.operation === 'delete')).toHaveLength(deletes);
  });

  it.each([
    ['a cleanup that left something', new AppError('VM_CLEANUP_INCOMPLETE', 'tap left', { details: { leftovers: [] } })],
    ['a failed host command', new AppError('HOST_COMMAND_FAILED', 'ip link del failed')],
    ['an Agent answering 500 outside its contract', new AppError('AGENT_REJECTED', 'answered 500', { details: { status: 500 } })],
  ])('leaves the VM failed, and deletable again, after %s', async (_, error) => {
    const { world, vm } = await runningVm();
    world.agents.failNext('delete', error);
    expect(await codeOf(deleteVm(world.deps, vm.id))).toBe(error.code);
    const stored = await getVm(world.deps, vm.id, everyProject);
    expect(stored.state).toBe('failed');
    expect(stored.failureReason?.code).toBe(error.code);
    expect(await deleteVm(world.deps, vm.id)).toMatchObject({ outcome: 'deleted', id: vm.id });
    expect(await world.repos.vms.findById(vm.id)).toBeUndefined();
  });

  it.each([
    ['without If-Match: read again and deleted from its new state', undefined, 'deleted'],
    ['with If-Match: refused, its version moved on', 'version', 'PRECONDITION_FAILED'],
  ] as const)(
    'a VM whose host was found again between the read and the change (unknown → running), %s',
    async (_, ifMatch, outcome) => {
      const { world, vm } = await runningVm();
      const unknown = await world.repos.vms.transition(vm.id, { from: 'running', to: 'unknown', at: new Date() });
      // The reconciler's change lands between the delete's read and its own change.
      let isRaced = false;
      const deps = {
        ...world.deps,
        vms: Object.assign(Object.create(world.deps.vms) as typeof world.deps.vms, {
          transition: async (...args: Parameters<typeof world.deps.vms.transition>) => {
            if (!isRaced) {
              isRaced = true;
              await world.deps.vms.transition(vm.id, { from: 'unknown', to: 'running', at: new Date() });
            }
            return world.deps.vms.transition(...args);
          },
        }),
      };
      const options = ifMatch === undefined ? {} : { ifMatch: [unknown.version] };
      if (outcome === 'deleted') {
        expect(await deleteVm(deps, vm.id, options)).toMatchObject({ outcome: 'deleted', id: vm.id });
        expect(await world.repos.vms.findById(vm.id)).toBeUndefined();
        expect(world.agents.isRunning('https://10.0.0.1:9090', vm.id)).toBe(false);
      } else {
        expect(await codeOf(deleteVm(deps, vm.id, options))).toBe(outcome);
        expect((await getVm(world.deps, vm.id, everyProject)).state).toBe('running');
      }
    },
  );

  it('deletes a VM whose creation failed', async () => {
    const world = createWorld();
    await world.addHost();
    const { kernel, rootfs } = await world.addImages();
    world.agents.failNext('apply', new AppError('VMM_SPAWN_FAILED', 'no firecracker'));
    await codeOf(
      createVm(world.deps, {
        project: 'default',
        name: 'x',
        vcpuCount: 1,
        memoryMib: 128,
        kernelImageId: kernel.id,
        rootfsImageId: rootfs.id,
      }),
    );
    const failed = await world.repos.vms.findByName('default', 'x');
    await deleteVm(world.deps, failed!.id);
    expect(await world.repos.vms.findByName('default', 'x')).toBeUndefined();
  });
});

describe('listVms', () => {
  it('pages by id with a cursor', async () => {
    const { world } = await runningVm('a');
    const { kernel, rootfs } = {
      kernel: (await world.repos.images.list({ projects: everyProject, kind: 'kernel' }, { limit: 1 })).items[0]!,
      rootfs: (await world.repos.images.list({ projects: everyProject, kind: 'rootfs' }, { limit: 1 })).items[0]!,
    };
    for (const name of ['b', 'c']) {
      await createVm(world.deps, {
        project: 'default',
        name,
        vcpuCount: 1,
        memoryMib: 128,
        kernelImageId: kernel.id,
        rootfsImageId: rootfs.id,
      });
    }
    const first = await listVms(world.deps, { projects: everyProject }, { limit: 2 });
    expect(first.items.map((v) => v.name)).toEqual(['a', 'b']);
    const second = await listVms(world.deps, { projects: everyProject }, { limit: 2, cursor: first.nextCursor ?? undefined });
    expect(second.items.map((v) => v.name)).toEqual(['c']);
    expect(second.nextCursor).toBeNull();
  });
});
