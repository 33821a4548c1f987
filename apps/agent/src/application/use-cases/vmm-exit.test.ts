import { describe, expect, it } from 'vitest';
import { createFakeAgent } from '../../adapters/fake/fake-agent-context.js';
import { testSpec, testVmId } from '../../adapters/fake/fake-fixtures.js';
import { applyVm } from './apply-vm.js';
import { describeVm } from './describe-vm.js';
import { listInventory } from './list-inventory.js';

describe('how a VMM ended', () => {
  it('is reported with an exited VMM: code 0 after a reboot from inside the guest', async () => {
    const agent = createFakeAgent();
    const applied = await applyVm(agent.context, testVmId, testSpec);
    agent.vmm.exitProcess(applied.vm.pid as number, { code: 0, signal: null });

    const inventory = await listInventory(agent.context, 'host-a');

    expect(inventory.vms).toMatchObject([{ vmId: testVmId, vmmState: 'exited', vmmExit: { code: 0, signal: null } }]);
  });

  it('is reported with the code of a VMM that failed', async () => {
    const agent = createFakeAgent();
    const applied = await applyVm(agent.context, testVmId, testSpec);
    agent.vmm.exitProcess(applied.vm.pid as number, { code: 1, signal: null });

    expect((await describeVm(agent.context, testVmId)).vmmExit).toEqual({ code: 1, signal: null });
  });

  it('is not reported while the VMM runs', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, testSpec);

    const vm = await describeVm(agent.context, testVmId);

    expect(vm.vmmState).toBe('running');
    expect(vm).not.toHaveProperty('vmmExit');
  });
});
