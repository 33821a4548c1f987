import { describe, expect, it } from 'vitest';
import type { EgressPolicy } from '@hearth/contracts';
import { createWorld } from '../../testing/world.js';
import { applyVmOnHost } from './apply-vm.js';
import { acceptVm } from './create-vm.js';
import { setVmEgress } from './set-vm-egress.js';

const denyAll: EgressPolicy = { mode: 'deny_all' };

async function startingVm() {
  const world = createWorld();
  const host = await world.addHost();
  const { kernel, rootfs } = await world.addImages();
  const pending = await acceptVm(world.deps, {
    project: 'default',
    name: 'web-1',
    vcpuCount: 1,
    memoryMib: 256,
    kernelImageId: kernel.id,
    rootfsImageId: rootfs.id,
  });
  const starting = await world.repos.vms.transition(pending.id, {
    from: 'pending',
    via: ['scheduled'],
    to: 'starting',
    at: world.clock.now(),
  });
  return { world, host, starting };
}

describe('setVmEgress', () => {
  it('stores the policy of a starting VM without calling its Agent, which holds nothing of it yet', async () => {
    const { world, starting } = await startingVm();

    const changed = await setVmEgress(world.deps, starting.id, denyAll);

    expect(changed).toMatchObject({ state: 'starting', version: starting.version + 1, egress: denyAll });
    expect(world.agents.calls.filter((call) => call.operation === 'egress')).toEqual([]);
  });

  it('a start whose spec was sent before the policy changed sends the new policy once the VM runs', async () => {
    const { world, host, starting } = await startingVm();
    await setVmEgress(world.deps, starting.id, denyAll);

    // `starting` is the row as it was read before the change: its spec carries the old policy.
    const running = await applyVmOnHost(world.deps, starting, host, 'delete');

    const calls = world.agents.calls.filter((call) => call.vmId === starting.id);
    expect(calls.map((call) => call.operation)).toEqual(['apply', 'egress']);
    expect(calls[0]?.spec?.egress).toEqual({ mode: 'allow_all' });
    expect(running.egress).toEqual(denyAll);
    expect(world.agents.egressPolicyOf(host.addr, starting.id)).toEqual(denyAll);
  });

  it('a start whose spec carries the stored policy sends nothing more', async () => {
    const { world, host, starting } = await startingVm();
    const changed = await setVmEgress(world.deps, starting.id, denyAll);

    await applyVmOnHost(world.deps, changed, host, 'delete');

    expect(world.agents.calls.filter((call) => call.vmId === starting.id).map((call) => call.operation)).toEqual(['apply']);
  });
});
