import { describe, expect, it } from 'vitest';
import { createFakeAgent } from '../adapters/fake/fake-agent-context.js';
import { otherVmId, testSpec, testVmId } from '../adapters/fake/fake-fixtures.js';
import { applyVm } from './use-cases/apply-vm.js';
import { KeyedLock } from '@hearth/concurrency';
import { listInventory } from './use-cases/list-inventory.js';
import { proxyToFirecracker } from './use-cases/proxy-to-firecracker.js';
import { stopVm } from './use-cases/stop-vm.js';
import { VmmStateCache, vmmStateTtlMs } from './vmm-state-cache.js';

const patchVm = (state: string) => ({
  method: 'PATCH',
  path: 'vm',
  contentType: 'application/json',
  body: Buffer.from(JSON.stringify({ state })),
  correlationId: undefined,
});

describe('VmmStateCache', () => {
  it('keeps an answer for its TTL, then forgets it', () => {
    const cache = new VmmStateCache(1_000);
    cache.remember('vm-a', cache.token(), 'running', 0);

    expect(cache.lookup('vm-a', 999)).toBe('running');
    expect(cache.lookup('vm-a', 1_000)).toBeUndefined();
    expect(cache.lookup('vm-b', 0)).toBeUndefined();
  });

  it('drops an answer when the VM changes, and refuses one read before the change', () => {
    const cache = new VmmStateCache();
    cache.remember('vm-a', cache.token(), 'running', 0);
    const readBefore = cache.token();
    cache.changed('vm-a');

    expect(cache.lookup('vm-a', 0)).toBeUndefined();
    cache.remember('vm-a', readBefore, 'running', 0);
    expect(cache.lookup('vm-a', 0)).toBeUndefined();
    // Another VM's change does not spoil this one's answer.
    const readAfter = cache.token();
    cache.changed('vm-b');
    cache.remember('vm-a', readAfter, 'paused', 0);
    expect(cache.lookup('vm-a', 0)).toBe('paused');
  });

  it('keeps what a change saw when it ends, and drops it when another change starts', () => {
    const cache = new VmmStateCache(1_000);
    cache.changed('vm-a');
    cache.settled('vm-a', 'paused', 100);
    // Not before the change has ended: an inventory meanwhile asks the VMM.
    expect(cache.lookup('vm-a', 100)).toBeUndefined();
    cache.changed('vm-a');
    expect(cache.lookup('vm-a', 1_099)).toBe('paused');
    expect(cache.lookup('vm-a', 1_100)).toBeUndefined();

    cache.remember('vm-a', cache.token(), 'running', 1_100);
    // A change that saw nothing: its start drops the answer, and its end leaves none.
    cache.changed('vm-a');
    cache.changed('vm-a');
    expect(cache.lookup('vm-a', 1_100)).toBeUndefined();
  });

  it('retainOnly forgets VMs that have no record any more', () => {
    const cache = new VmmStateCache();
    cache.remember('vm-a', cache.token(), 'running', 0);
    cache.remember('vm-b', cache.token(), 'running', 0);

    cache.retainOnly(new Set(['vm-b']));

    expect(cache.lookup('vm-a', 0)).toBeUndefined();
    expect(cache.lookup('vm-b', 0)).toBe('running');
  });
});

describe('KeyedLock', () => {
  it('reports the start and the end of every operation, also one that fails', async () => {
    const seen: string[] = [];
    const lock = new KeyedLock((key) => seen.push(key));

    await lock.run('a', async () => seen.push('op a'));
    await expect(
      lock.run('b', async () => {
        seen.push('op b');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');

    expect(seen).toEqual(['a', 'op a', 'a', 'b', 'op b', 'b']);
  });

  it('runs an unreported operation in turn with the others on its key, telling nobody of it', async () => {
    const seen: string[] = [];
    const lock = new KeyedLock((key) => seen.push(key));
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));

    const first = lock.run('a', async () => {
      await held;
      seen.push('op a');
    });
    const second = lock.runUnreported('a', async () => seen.push('unreported a'));
    await lock.runUnreported('b', async () => seen.push('unreported b'));
    release();
    await Promise.all([first, second]);

    expect(seen).toEqual(['a', 'unreported b', 'op a', 'a', 'unreported a']);
  });
});

describe('inventory with known VMM states', () => {
  it('takes the state an apply saw, and asks each VMM once its answer is older than the TTL, not on every inventory', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, testSpec);
    await applyVm(agent.context, otherVmId, testSpec);
    agent.firecracker.describeCount = 0;

    for (let i = 0; i < 5; i++) {
      const inventory = await listInventory(agent.context, 'host-a');
      expect(inventory.vms.map((vm) => vm.vmmState)).toEqual(['running', 'running']);
    }
    expect(agent.firecracker.describeCount).toBe(0);

    agent.clock.advance(vmmStateTtlMs);
    for (let i = 0; i < 5; i++) await listInventory(agent.context, 'host-a');
    expect(agent.firecracker.describeCount).toBe(2);
  });

  it('sees a pause and a resume made through the proxy at the next inventory', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, testSpec);
    expect((await listInventory(agent.context, 'host-a')).vms[0]?.vmmState).toBe('running');

    await proxyToFirecracker(agent.context, testVmId, patchVm('Paused'));
    expect((await listInventory(agent.context, 'host-a')).vms[0]?.vmmState).toBe('paused');

    await proxyToFirecracker(agent.context, testVmId, patchVm('Resumed'));
    expect((await listInventory(agent.context, 'host-a')).vms[0]?.vmmState).toBe('running');
  });

  it('sees a dead VMM at once, whatever it said before', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, testSpec);
    expect((await listInventory(agent.context, 'host-a')).vms[0]?.vmmState).toBe('running');

    for (const process of agent.vmm.liveProcesses) process.isAlive = false;

    expect((await listInventory(agent.context, 'host-a')).vms[0]?.vmmState).toBe('exited');
  });

  it('sees the VM absent after a stop, and running from the apply that started it again', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, testSpec);
    await listInventory(agent.context, 'host-a');

    await stopVm(agent.context, testVmId);
    expect((await listInventory(agent.context, 'host-a')).vms[0]?.vmmState).toBe('absent');
    await applyVm(agent.context, testVmId, testSpec);
    agent.firecracker.describeCount = 0;

    expect((await listInventory(agent.context, 'host-a')).vms[0]?.vmmState).toBe('running');
    expect(agent.firecracker.describeCount).toBe(0);
  });

  it('asks the VMM after an apply that found it started already, or that failed', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, testSpec);
    // The same spec again, the VM running: answered as it is, nothing settled.
    await applyVm(agent.context, testVmId, testSpec);
    agent.firecracker.describeCount = 0;
    await listInventory(agent.context, 'host-a');
    expect(agent.firecracker.describeCount).toBe(1);

    // Failed with its VMM alive: found never started.
    await applyVm(agent.context, otherVmId, testSpec);
    await agent.records.save({ ...(await agent.records.get(otherVmId))!, lifecycle: 'applying' });
    agent.vmm.liveProcessOn(`/srv/fc/vms/${otherVmId}/fc.sock`)!.state = 'Not started';
    await expect(applyVm(agent.context, otherVmId, testSpec)).rejects.toThrow();
    agent.firecracker.describeCount = 0;
    const inventory = await listInventory(agent.context, 'host-a');
    expect(agent.firecracker.describeCount).toBe(1);
    expect(inventory.vms.find((vm) => vm.vmId === otherVmId)?.vmmState).toBe('not_started');
  });
});
