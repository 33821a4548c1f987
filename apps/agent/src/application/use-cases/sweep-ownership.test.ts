import { describe, expect, it } from 'vitest';
import { createFakeAgent, fakeAgentId } from '../../adapters/fake/fake-agent-context.js';
import { testSpec, testVmId } from '../../adapters/fake/fake-fixtures.js';
import { FakeHostScanner } from '../../adapters/fake/fake-host-scanner.js';
import { tapMark } from '../../domain/agent-identity.js';
import { applyVm } from './apply-vm.js';
import { listInventory } from './list-inventory.js';
import { sweepUntracked } from './sweep-untracked.js';

const otherAgentId = 'agent_01J0000000000000000000000Z';
const strayVmId = 'vm_01JABCDEFGHJKMNPQRSTVWXYZ9';

describe('what the Agent sweeps and lists as its own', () => {
  it('marks each TAP it creates with its identity and the VM id', async () => {
    const agent = createFakeAgent();
    const result = await applyVm(agent.context, testVmId, testSpec);
    expect((await agent.network.linkState(result.vm.tapName!))?.alias).toBe(tapMark(fakeAgentId, testVmId));
  });

  it("leaves another Agent's TAPs and other tools' interfaces on the same bridge alone", async () => {
    const agent = createFakeAgent();
    await agent.network.ensureBridge('fcbr0', null);
    agent.network.addForeignLink('fc0ther0agent00', { master: 'fcbr0', alias: tapMark(otherAgentId, strayVmId as never) });
    agent.network.addForeignLink('fc-othertool', { master: 'fcbr0' });

    const swept = await sweepUntracked(agent.context, new FakeHostScanner());

    expect(swept).toEqual({ removed: [], leftovers: [] });
    expect(await agent.network.linkExists('fc0ther0agent00')).toBe(true);
    expect(await agent.network.linkExists('fc-othertool')).toBe(true);
  });

  it('removes a TAP it marked but never attached nor recorded (killed during a create)', async () => {
    const agent = createFakeAgent();
    agent.network.addDetachedTap('fcstray0000001', tapMark(fakeAgentId, strayVmId as never));

    const swept = await sweepUntracked(agent.context, new FakeHostScanner());

    expect(swept.removed).toEqual([{ kind: 'tap', ref: 'fcstray0000001', vmId: strayVmId }]);
    expect(await agent.network.linkExists('fcstray0000001')).toBe(false);
  });

  it('keeps the TAPs its records name', async () => {
    const agent = createFakeAgent();
    const result = await applyVm(agent.context, testVmId, testSpec);

    expect((await sweepUntracked(agent.context, new FakeHostScanner())).removed).toEqual([]);
    expect(await agent.network.linkExists(result.vm.tapName!)).toBe(true);
  });

  it('lists a marked TAP that no record names in its inventory, attached or not', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, testSpec);
    agent.network.addDetachedTap('fcstray0000001', tapMark(fakeAgentId, strayVmId as never));
    agent.network.addForeignLink('fc0ther0agent00', { master: 'fcbr0', alias: tapMark(otherAgentId, strayVmId as never) });

    const inventory = await listInventory(agent.context, 'host-a');

    expect(inventory.unrecorded).toEqual([{ kind: 'tap', ref: 'fcstray0000001', vmId: strayVmId }]);
    expect(inventory.vms.map((vm) => vm.vmId)).toEqual([testVmId]);
  });
});
