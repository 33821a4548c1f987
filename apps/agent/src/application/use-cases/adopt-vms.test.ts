import { describe, expect, it } from 'vitest';
import { createFakeAgent } from '../../adapters/fake/fake-agent-context.js';
import { adoptVms } from './adopt-vms.js';
import { applyVm } from './apply-vm.js';
import { listInventory } from './list-inventory.js';
import { otherVmId, testSpec, testVmId, vmmFileKinds } from '../../adapters/fake/fake-fixtures.js';

describe('adoptVms', () => {
  it('keeps live VMMs and reports recorded VMMs that are gone', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, testSpec);
    await applyVm(agent.context, otherVmId, testSpec);
    const [, second] = agent.vmm.liveProcesses;
    if (second !== undefined) second.isAlive = false;

    const outcome = await adoptVms(agent.context);

    expect(outcome).toEqual({ adopted: 1, exited: 1 });
  });

  it('builds the inventory only from records, never from links that look like ours', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, testSpec);
    agent.network.addForeignLink('fcforeign000000');

    const inventory = await listInventory(agent.context, 'host-a');

    expect(inventory.hostName).toBe('host-a');
    expect(inventory.vms.map((vm) => [vm.vmId, vm.vmmState])).toEqual([[testVmId, 'running']]);
    expect(inventory.vms[0]?.resources.map((resource) => resource.kind)).toEqual([
      'process',
      'tap',
      'socket',
      'fifo',
      'fifo',
      'rootfs',
      ...vmmFileKinds,
      'directory',
    ]);
  });
});
