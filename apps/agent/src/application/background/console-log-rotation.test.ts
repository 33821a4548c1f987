import { describe, expect, it } from 'vitest';
import { createFakeAgent } from '../../adapters/fake/fake-agent-context.js';
import { otherVmId, testSpec, testVmId } from '../../adapters/fake/fake-fixtures.js';
import { FakeTimers } from '../../adapters/fake/fake-timers.js';
import { vmPaths } from '../../domain/vm-paths.js';
import { applyVm } from '../use-cases/apply-vm.js';
import { listInventory } from '../use-cases/list-inventory.js';
import { ConsoleLogRotation } from './console-log-rotation.js';
import { consoleLogCapBytes } from '../use-cases/read-console-log.js';
import { stopVm } from '../use-cases/stop-vm.js';

describe('ConsoleLogRotation', () => {
  it('rotates a running VM log that outgrew its cap on its timer, with nobody reading it', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, testSpec);
    const paths = vmPaths('/srv/fc', testVmId);
    agent.files.appendTo(paths.stdoutLog, 'x'.repeat(consoleLogCapBytes + 1));
    const timers = new FakeTimers();
    const rotation = new ConsoleLogRotation(agent.context, timers, 5_000);
    rotation.start();

    expect(timers.runNext()).toBe(5_000);
    await expect.poll(() => agent.files.files.get(paths.stdoutLogRotated)?.sizeBytes).toBe(consoleLogCapBytes + 1);
    expect(agent.files.files.get(paths.stdoutLog)?.sizeBytes).toBe(0);
    rotation.stop();
  });

  it('leaves logs under the cap and the logs of stopped VMs alone', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, testSpec);
    await applyVm(agent.context, otherVmId, testSpec);
    await stopVm(agent.context, otherVmId);
    agent.files.appendTo(vmPaths('/srv/fc', otherVmId).stdoutLog, 'x'.repeat(consoleLogCapBytes + 1));
    agent.files.appendTo(vmPaths('/srv/fc', testVmId).stdoutLog, 'short');

    const rotated = await new ConsoleLogRotation(agent.context, new FakeTimers(), 5_000).rotateAll();

    expect(rotated).toBe(0);
  });

  it("reads the size of a log under its cap without taking its VM's lock, and rotates one over it under the lock", async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, testSpec);
    await applyVm(agent.context, otherVmId, testSpec);
    agent.files.appendTo(vmPaths('/srv/fc', testVmId).stdoutLog, 'short');
    agent.files.appendTo(vmPaths('/srv/fc', otherVmId).stdoutLog, 'x'.repeat(consoleLogCapBytes + 1));
    const locks = agent.context.locks;
    const runUnreported = locks.runUnreported.bind(locks);
    const locked: string[] = [];
    locks.runUnreported = (key, operation) => {
      locked.push(key);
      return runUnreported(key, operation);
    };

    const rotated = await new ConsoleLogRotation(agent.context, new FakeTimers(), 5_000).rotateAll();

    expect(rotated).toBe(1);
    expect(locked).toEqual([otherVmId]);
    expect(agent.files.sizeReads).toBe(2);
  });

  it('changes no VMM, so the next inventory asks none of them for its state', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, testSpec);
    await applyVm(agent.context, otherVmId, testSpec);
    agent.files.appendTo(vmPaths('/srv/fc', testVmId).stdoutLog, 'x'.repeat(consoleLogCapBytes + 1));
    await listInventory(agent.context, 'host-a');
    agent.firecracker.describeCount = 0;

    expect(await new ConsoleLogRotation(agent.context, new FakeTimers(), 5_000).rotateAll()).toBe(1);
    const inventory = await listInventory(agent.context, 'host-a');

    expect(inventory.vms.map((vm) => vm.vmmState)).toEqual(['running', 'running']);
    expect(agent.firecracker.describeCount).toBe(0);
  });
});
