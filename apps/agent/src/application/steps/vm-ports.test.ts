import { describe, expect, it } from 'vitest';
import type { VmSpec } from '@hearth/contracts';
import { createFakeAgent } from '../../adapters/fake/fake-agent-context.js';
import { FakeHostScanner } from '../../adapters/fake/fake-host-scanner.js';
import { appErrorOf, otherVmId, testSpec, testVmId } from '../../adapters/fake/fake-fixtures.js';
import { vmEgressScript } from '../../domain/egress-rules.js';
import { applyVm } from '../use-cases/apply-vm.js';
import { deleteVm } from '../use-cases/delete-vm.js';
import { stopVm } from '../use-cases/stop-vm.js';
import { sweepUntracked } from '../use-cases/sweep-untracked.js';
import { setEgressPolicy } from './vm-egress.js';

const webSpec: VmSpec = {
  ...testSpec,
  guest: { ipAddress: '172.30.0.5', prefixLength: 16, gateway: '172.30.0.1', dnsServers: [], hostname: 'web' },
  ports: [
    { hostPort: 8080, guestPort: 80, protocol: 'tcp' },
    { hostPort: 5353, guestPort: 53, protocol: 'udp' },
  ],
};
const webPorts = [
  { protocol: 'tcp', hostPort: 8080, address: '172.30.0.5', guestPort: 80, vmId: testVmId },
  { protocol: 'udp', hostPort: 5353, address: '172.30.0.5', guestPort: 53, vmId: testVmId },
];

function agentWithEgress() {
  return createFakeAgent({ egress: { table: 'hearth', uplink: null, reservedTcpPorts: [19090] } });
}

function byPort<T extends { hostPort: number }>(elements: readonly T[]): T[] {
  return [...elements].sort((a, b) => b.hostPort - a.hostPort);
}

describe('published ports', () => {
  it("publishes a VM's ports with its egress chain, in the same script", async () => {
    const agent = agentWithEgress();

    await applyVm(agent.context, testVmId, webSpec);

    expect(byPort((await agent.firewall.readTable('hearth')).portElements)).toEqual(webPorts);
    expect(agent.firewall.applyCount).toBe(1);
    expect((await agent.records.get(testVmId))?.egress?.ports).toHaveLength(2);
  });

  it("DNATs from the host's own addresses and accepts the replies before the egress chains", async () => {
    const agent = agentWithEgress();

    await applyVm(agent.context, testVmId, webSpec);

    expect(agent.firewall.chainRules('hearth', 'prerouting')).toEqual([
      'fib daddr type local dnat ip to meta l4proto . th dport map @ports',
    ]);
    expect(agent.firewall.chainRules('hearth', 'forward')?.[0]).toBe('ct status dnat ip saddr @guests accept');
  });

  it('keeps the ports across a policy change and removes them on stop', async () => {
    const agent = agentWithEgress();
    await applyVm(agent.context, testVmId, webSpec);

    await setEgressPolicy(agent.context, testVmId, { mode: 'deny_all' });
    expect(byPort((await agent.firewall.readTable('hearth')).portElements)).toEqual(webPorts);

    await stopVm(agent.context, testVmId);
    expect((await agent.firewall.readTable('hearth')).portElements).toEqual([]);
  });

  it('publishes them again when the stopped VM starts again', async () => {
    const agent = agentWithEgress();
    await applyVm(agent.context, testVmId, webSpec);
    await stopVm(agent.context, testVmId);

    await applyVm(agent.context, testVmId, webSpec);

    expect(byPort((await agent.firewall.readTable('hearth')).portElements)).toEqual(webPorts);
  });

  it("deleting one VM leaves another VM's ports", async () => {
    const agent = agentWithEgress();
    await applyVm(agent.context, testVmId, webSpec);
    await applyVm(agent.context, otherVmId, {
      ...webSpec,
      guest: { ...webSpec.guest!, ipAddress: '172.30.0.6' },
      ports: [{ hostPort: 8081, guestPort: 80, protocol: 'tcp' }],
    });

    await deleteVm(agent.context, testVmId);

    expect((await agent.firewall.readTable('hearth')).portElements).toEqual([
      { protocol: 'tcp', hostPort: 8081, address: '172.30.0.6', guestPort: 80, vmId: otherVmId },
    ]);
  });

  it('the start-up sweep removes ports no record names', async () => {
    const agent = agentWithEgress();
    const orphan = 'vm_01JABCDEFGHJKMNPQRSTVWXYZ7';
    await agent.firewall.apply(
      vmEgressScript(
        { name: 'hearth', uplink: 'eth0' },
        {
          vmId: orphan,
          address: '172.30.0.9',
          policy: { mode: 'allow_all' },
          ports: [{ hostPort: 80, guestPort: 80, protocol: 'tcp' }],
        },
        await agent.firewall.readTable('hearth'),
      ),
    );

    const outcome = await sweepUntracked(agent.context, new FakeHostScanner());

    expect(outcome.removed).toEqual([{ kind: 'nft_rule', ref: `ip hearth ${orphan}`, vmId: orphan }]);
    expect((await agent.firewall.readTable('hearth')).portElements).toEqual([]);
  });

  it('refuses ports on a host without egress through NAT, before recording anything', async () => {
    const agent = createFakeAgent();

    const error = await appErrorOf(applyVm(agent.context, testVmId, webSpec));

    expect(error.code).toBe('HOST_EGRESS_UNAVAILABLE');
    expect(await agent.records.get(testVmId)).toBeUndefined();
  });

  it("refuses the Agent's own port and a host port published twice", async () => {
    const agent = agentWithEgress();

    const reserved = await appErrorOf(
      applyVm(agent.context, testVmId, { ...webSpec, ports: [{ hostPort: 19090, guestPort: 80, protocol: 'tcp' }] }),
    );
    const twice = await appErrorOf(
      applyVm(agent.context, testVmId, {
        ...webSpec,
        ports: [
          { hostPort: 80, guestPort: 80, protocol: 'tcp' },
          { hostPort: 80, guestPort: 81, protocol: 'tcp' },
        ],
      }),
    );

    expect([reserved.code, twice.code]).toEqual(['VALIDATION_FAILED', 'VALIDATION_FAILED']);
    expect(reserved.errors?.[0]?.field).toBe('ports/0/hostPort');
    expect(agent.firewall.applyCount).toBe(0);
  });
});
