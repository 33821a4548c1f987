import { describe, expect, it } from 'vitest';
import type { AgentVm, VmSpec } from '@hearth/contracts';
import { createFakeAgent, type FakeAgent } from '../../adapters/fake/fake-agent-context.js';
import { appErrorOf, otherVmId, testSpec, testVmId } from '../../adapters/fake/fake-fixtures.js';
import { removeVmsScript } from '../../domain/egress-rules.js';
import { applyVm } from './apply-vm.js';
import { describeVm } from './describe-vm.js';
import { listInventory } from './list-inventory.js';
import { stopVm } from './stop-vm.js';

const guestSpec: VmSpec = {
  ...testSpec,
  guest: { ipAddress: '172.30.0.5', prefixLength: 16, gateway: '172.30.0.1', dnsServers: [], hostname: 'web' },
  egress: { mode: 'deny_all' },
  rateLimits: { drive: { ops: { size: 100, refillTimeMs: 1000 } } },
};

function agentWithEgress(): FakeAgent {
  return createFakeAgent({ egress: { table: 'hearth', uplink: null } });
}

async function listedEntry(agent: FakeAgent, vmId: string): Promise<AgentVm | undefined> {
  return (await listInventory(agent.context, 'host-1')).vms.find((vm) => vm.vmId === vmId);
}

describe('describeVm answers the entry the inventory lists for the VM', () => {
  it('for a running VM: its egress and whether its rules are in place, its rate limits, its runtime resources', async () => {
    const agent = agentWithEgress();
    await applyVm(agent.context, testVmId, guestSpec);
    await applyVm(agent.context, otherVmId, testSpec);

    const described = await describeVm(agent.context, testVmId);

    expect(described).toEqual(await listedEntry(agent, testVmId));
    expect(described).toMatchObject({
      vmmState: 'running',
      holdsRuntimeResources: true,
      egress: { policy: { mode: 'deny_all' }, isInPlace: true },
      rateLimits: guestSpec.rateLimits,
    });
  });

  it('for a running VM whose rules were removed behind the Agent: not in place, as the inventory says', async () => {
    const agent = agentWithEgress();
    await applyVm(agent.context, testVmId, guestSpec);
    await agent.firewall.apply(removeVmsScript('hearth', new Set([testVmId]), await agent.firewall.readTable('hearth')) ?? '');

    const described = await describeVm(agent.context, testVmId);

    expect(described.egress).toEqual({ policy: { mode: 'deny_all' }, isInPlace: false });
    expect(described).toEqual(await listedEntry(agent, testVmId));
  });

  it('for a stopped VM: no runtime resources and no egress', async () => {
    const agent = agentWithEgress();
    await applyVm(agent.context, testVmId, guestSpec);
    await stopVm(agent.context, testVmId);

    const described = await describeVm(agent.context, testVmId);

    expect(described).toEqual(await listedEntry(agent, testVmId));
    expect(described).toMatchObject({ vmmState: 'absent', holdsRuntimeResources: false, rateLimits: guestSpec.rateLimits });
    expect(described.egress).toBeUndefined();
  });

  it('for a VM whose record is unreadable: `unreadable`, with its directory only', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, testSpec);
    agent.records.markUnreadable(testVmId, `/srv/fc/vms/${testVmId}`, 'torn');

    const described = await describeVm(agent.context, testVmId);

    expect(described).toEqual(await listedEntry(agent, testVmId));
    expect(described).toMatchObject({
      vmmState: 'unreadable',
      holdsRuntimeResources: false,
      resources: [{ kind: 'directory', ref: `/srv/fc/vms/${testVmId}`, vmId: testVmId }],
    });
  });

  it('fails with VM_NOT_FOUND for a VM the Agent holds nothing of, which the inventory does not list', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, otherVmId, testSpec);

    const error = await appErrorOf(describeVm(agent.context, testVmId));

    expect(error.code).toBe('VM_NOT_FOUND');
    expect(await listedEntry(agent, testVmId)).toBeUndefined();
  });
});
