import { describe, expect, it } from 'vitest';
import type { EgressPolicy, VmSpec } from '@hearth/contracts';
import { createFakeAgent } from '../../adapters/fake/fake-agent-context.js';
import type { VmRecord } from '../../domain/vm-record.js';
import { FakeHostScanner } from '../../adapters/fake/fake-host-scanner.js';
import { appErrorOf, otherVmId, testSpec, testVmId } from '../../adapters/fake/fake-fixtures.js';
import {
  emptyEgressTableState,
  removeVmsScript,
  sharedSetName,
  vmEgressScript,
  vmGuardScript,
} from '../../domain/egress-rules.js';
import { applyVm } from '../use-cases/apply-vm.js';
import { deleteVm } from '../use-cases/delete-vm.js';
import { describeVm } from '../use-cases/describe-vm.js';
import { listInventory } from '../use-cases/list-inventory.js';
import { stopVm } from '../use-cases/stop-vm.js';
import { sweepUntracked } from '../use-cases/sweep-untracked.js';
import { egressObservations, setEgressPolicy, vmTableKeysOf } from './vm-egress.js';

const guestSpec: VmSpec = {
  ...testSpec,
  guest: { ipAddress: '172.30.0.5', prefixLength: 16, gateway: '172.30.0.1', dnsServers: [], hostname: 'web' },
};
const nftRule = { kind: 'nft_rule', ref: `ip hearth ${testVmId}`, vmId: testVmId };

function agentWithEgress() {
  return createFakeAgent({ egress: { table: 'hearth', uplink: null } });
}

describe('egress through NAT', () => {
  it("guards the guest's TAP in the bridge table: its own MAC and address only, and no other guest", async () => {
    const agent = agentWithEgress();

    await applyVm(agent.context, testVmId, guestSpec);

    const tap = (await agent.records.get(testVmId))?.tap?.name ?? '';
    const mac = guestSpec.guestMac.toLowerCase();
    expect(agent.firewall.bridgeChainRules('hearth', testVmId)).toEqual([
      `ether saddr != ${mac} drop`,
      `ether type arp arp saddr ether != ${mac} drop`,
      'ether type arp arp saddr ip != 172.30.0.5 drop',
      'ether type ip ip saddr != 172.30.0.5 drop',
      'ether type != @guest_types drop',
      'oifname @taps drop',
    ]);
    expect((await agent.firewall.readTable('hearth')).guardElements).toEqual([{ tap, chain: testVmId }]);
  });

  it('a guest of a shared network may reach the TAPs of that network only', async () => {
    const agent = agentWithEgress();

    await applyVm(agent.context, testVmId, { ...guestSpec, sharedNetwork: 'default/backend' });

    const state = await agent.firewall.readTable('hearth');
    const set = sharedSetName('default/backend');
    expect(agent.firewall.bridgeChainRules('hearth', testVmId)?.at(-1)).toBe(`oifname @taps oifname != @${set} drop`);
    expect(state.tapElements.map((element) => element.set).sort()).toEqual([set, 'taps'].sort());
  });

  it('stop removes the guard with the chain', async () => {
    const agent = agentWithEgress();
    await applyVm(agent.context, testVmId, { ...guestSpec, sharedNetwork: 'default/backend' });

    await stopVm(agent.context, testVmId);

    const state = await agent.firewall.readTable('hearth');
    expect([state.guardChains, state.guardElements, state.tapElements]).toEqual([[], [], []]);
  });

  it("gives a VM with a guest address its chain, timed as the egress step and listed in the host's ledger", async () => {
    const agent = agentWithEgress();

    const applied = await applyVm(agent.context, testVmId, guestSpec);

    expect(applied.steps.find((step) => step.name === 'egress')).toMatchObject({ hasRun: true });
    expect(await agent.firewall.readTable('hearth')).toMatchObject({
      vmChains: [testVmId],
      egressElements: [{ address: '172.30.0.5', chain: testVmId }],
      guestElements: [{ address: '172.30.0.5', vmId: testVmId }],
      portElements: [],
      guardChains: [testVmId],
    });
    expect(agent.firewall.chainRules('hearth', testVmId)).toEqual(['accept']);
    expect((await describeVm(agent.context, testVmId)).resources).toContainEqual(nftRule);
  });

  it('masquerades to the device of the default route unless an uplink is set', async () => {
    const agent = createFakeAgent({ egress: { table: 'hearth', uplink: 'wan0' } });
    agent.firewall.uplink = 'eth7';

    await applyVm(agent.context, testVmId, guestSpec);

    expect(agent.firewall.chainRules('hearth', 'postrouting')).toEqual(['oifname "wan0" ip saddr @guests masquerade']);
  });

  it('writes no rule when egress is off or the VM has no guest address', async () => {
    const off = createFakeAgent();
    const noGuest = agentWithEgress();

    const applied = await applyVm(off.context, testVmId, guestSpec);
    await applyVm(noGuest.context, testVmId, testSpec);

    expect(applied.steps.map((step) => step.name)).not.toContain('egress');
    expect(off.firewall.applyCount + noGuest.firewall.applyCount).toBe(0);
  });

  it('refuses to start a VM with egress when the host does not forward IPv4', async () => {
    const agent = agentWithEgress();
    agent.firewall.isForwarding = false;

    const error = await appErrorOf(applyVm(agent.context, testVmId, guestSpec));

    expect(error.code).toBe('HOST_EGRESS_UNAVAILABLE');
    expect(agent.firewall.applyCount).toBe(0);
  });

  it('removes the chain and its elements on stop, and forgets them', async () => {
    const agent = agentWithEgress();
    await applyVm(agent.context, testVmId, guestSpec);

    const result = await stopVm(agent.context, testVmId);

    expect(result.removed).toContainEqual(nftRule);
    expect(await agent.firewall.readTable('hearth')).toEqual({
      vmChains: [],
      egressElements: [],
      guestElements: [],
      portElements: [],
      guardChains: [],
      guardElements: [],
      tapElements: [],
    });
    expect((await describeVm(agent.context, testVmId)).resources).not.toContainEqual(nftRule);
  });

  it('removes the chain on delete, leaving the chain of another VM', async () => {
    const agent = agentWithEgress();
    await applyVm(agent.context, testVmId, guestSpec);
    await applyVm(agent.context, otherVmId, { ...guestSpec, guest: { ...guestSpec.guest!, ipAddress: '172.30.0.6' } });

    await deleteVm(agent.context, testVmId);

    expect((await agent.firewall.readTable('hearth')).vmChains).toEqual([otherVmId]);
  });

  it('a VM started again after a stop gets its chain back', async () => {
    const agent = agentWithEgress();
    await applyVm(agent.context, testVmId, guestSpec);
    await stopVm(agent.context, testVmId);

    const applied = await applyVm(agent.context, testVmId, guestSpec);

    expect(applied.steps.find((step) => step.name === 'egress')).toMatchObject({ hasRun: true });
    expect((await agent.firewall.readTable('hearth')).vmChains).toEqual([testVmId]);
  });

  it('records the chain before writing it: a failed write leaves a record that stop still clears', async () => {
    const agent = agentWithEgress();
    // A new VM's write without a read, then the one from the read.
    agent.firewall.failingApplies = 2;

    await expect(applyVm(agent.context, testVmId, guestSpec)).rejects.toMatchObject({ code: 'HOST_COMMAND_FAILED' });

    expect((await agent.records.get(testVmId))?.egress).toMatchObject({ table: 'hearth', address: '172.30.0.5' });
    const result = await stopVm(agent.context, testVmId);
    expect(result.removed).toContainEqual(nftRule);
  });

  it("writes a new VM's rules without reading the tables, and from a read when nft refuses them", async () => {
    const agent = agentWithEgress();
    await applyVm(agent.context, testVmId, guestSpec);
    expect(agent.firewall.vmReadCount).toBe(0);
    expect(agent.firewall.applyCount).toBe(1);
    expect(agent.firewall.lastScript).toContain(`create element ip hearth egress { 172.30.0.5 comment "${testVmId}"`);

    agent.firewall.failingApplies = 1;
    const other = { ...guestSpec, guest: { ...guestSpec.guest!, ipAddress: '172.30.0.6' } };
    const applied = await applyVm(agent.context, otherVmId, other);

    expect(applied.steps.find((step) => step.name === 'egress')).toMatchObject({ hasRun: true });
    expect(agent.firewall.vmReadCount).toBe(1);
    expect(agent.firewall.applyCount).toBe(3);
    expect([...(await agent.firewall.readTable('hearth')).vmChains].sort()).toEqual([testVmId, otherVmId].sort());
  });

  it("a new VM at the address of a lost record's entry replaces it: its write without a read is refused, the one from the read is not", async () => {
    const agent = agentWithEgress();
    const lostVmId = 'vm_01JABCDEFGHJKMNPQRSTVWXYZ7';
    await agent.firewall.apply(
      vmEgressScript(
        { name: 'hearth', uplink: 'eth0' },
        { vmId: lostVmId, address: '172.30.0.5', policy: { mode: 'allow_all' } },
        emptyEgressTableState,
      ),
    );

    await applyVm(agent.context, testVmId, guestSpec);

    const state = await agent.firewall.readTable('hearth');
    expect(state.egressElements).toEqual([{ address: '172.30.0.5', chain: testVmId }]);
    expect(state.guestElements).toEqual([{ address: '172.30.0.5', vmId: testVmId }]);
    expect(agent.firewall.vmReadCount).toBe(1);
  });

  it('the start-up sweep removes chains and elements no record names, and keeps recorded ones', async () => {
    const agent = agentWithEgress();
    await applyVm(agent.context, testVmId, guestSpec);
    const orphan = 'vm_01JABCDEFGHJKMNPQRSTVWXYZ7';
    await agent.firewall.apply(
      vmEgressScript(
        { name: 'hearth', uplink: 'eth0' },
        { vmId: orphan, address: '172.30.0.9', policy: { mode: 'allow_all' } },
        await agent.firewall.readTable('hearth'),
      ),
    );

    const outcome = await sweepUntracked(agent.context, new FakeHostScanner());

    expect(outcome.removed).toEqual([{ kind: 'nft_rule', ref: `ip hearth ${orphan}`, vmId: orphan }]);
    expect((await agent.firewall.readTable('hearth')).vmChains).toEqual([testVmId]);
  });

  it('the sweep keeps the chain of a VM whose record is unreadable', async () => {
    const agent = agentWithEgress();
    await applyVm(agent.context, testVmId, guestSpec);
    agent.records.markUnreadable(testVmId, `/srv/fc/vms/${testVmId}`, 'record is not valid JSON');

    await sweepUntracked(agent.context, new FakeHostScanner());

    expect((await agent.firewall.readTable('hearth')).vmChains).toEqual([testVmId]);
  });

  it("a policy set on a running VM replaces its chain's rules", async () => {
    const agent = agentWithEgress();
    await applyVm(agent.context, testVmId, guestSpec);

    const hasWritten = await setEgressPolicy(agent.context, testVmId, { mode: 'deny_all' });

    expect(hasWritten).toBe(true);
    expect(agent.firewall.chainRules('hearth', testVmId)).toEqual(['drop']);
    expect((await agent.records.get(testVmId))?.egress?.policy).toEqual({ mode: 'deny_all' });
  });

  it('a policy set on a stopped VM is kept for its next start', async () => {
    const agent = agentWithEgress();
    await applyVm(agent.context, testVmId, guestSpec);
    await stopVm(agent.context, testVmId);

    expect(await setEgressPolicy(agent.context, testVmId, { mode: 'deny_all' })).toBe(false);
    await applyVm(agent.context, testVmId, guestSpec);

    expect(agent.firewall.chainRules('hearth', testVmId)).toEqual(['drop']);
  });

  it('rejects a policy with an invalid CIDR before recording anything', async () => {
    const agent = agentWithEgress();
    await applyVm(agent.context, testVmId, guestSpec);

    const error = await appErrorOf(
      setEgressPolicy(agent.context, testVmId, { mode: 'allow_list', rules: [{ cidr: '10.0.0.0' }] }),
    );

    expect(error.code).toBe('VALIDATION_FAILED');
    expect((await agent.records.get(testVmId))?.egressPolicy).toBeUndefined();
  });

  it("a spec's policy is recorded and written at start, in place of the one the record held", async () => {
    const agent = agentWithEgress();
    await applyVm(agent.context, testVmId, guestSpec);
    await stopVm(agent.context, testVmId);
    await setEgressPolicy(agent.context, testVmId, { mode: 'deny_all' });
    const webOnly: EgressPolicy = { mode: 'allow_list', rules: [{ cidr: '203.0.113.0/24', protocol: 'tcp', ports: [443] }] };

    await applyVm(agent.context, testVmId, { ...guestSpec, egress: webOnly });

    expect(agent.firewall.chainRules('hearth', testVmId)).toEqual(['ip daddr 203.0.113.0/24 tcp dport 443 accept', 'drop']);
    expect((await agent.records.get(testVmId))?.egressPolicy).toEqual(webOnly);
  });

  it('a spec without a policy (from an older Manager) keeps the one the record holds', async () => {
    const agent = agentWithEgress();
    await applyVm(agent.context, testVmId, guestSpec);
    await stopVm(agent.context, testVmId);
    await setEgressPolicy(agent.context, testVmId, { mode: 'deny_all' });

    await applyVm(agent.context, testVmId, guestSpec);

    expect(agent.firewall.chainRules('hearth', testVmId)).toEqual(['drop']);
  });

  it('the same spec with another policy, applied to a running VM, rewrites its chain without restarting it', async () => {
    const agent = agentWithEgress();
    const first = await applyVm(agent.context, testVmId, { ...guestSpec, egress: { mode: 'allow_all' } });

    const again = await applyVm(agent.context, testVmId, { ...guestSpec, egress: { mode: 'deny_all' } });

    expect(again.vm.pid).toBe(first.vm.pid);
    expect(again.steps.filter((step) => step.hasRun)).toEqual([]);
    expect(agent.firewall.chainRules('hearth', testVmId)).toEqual(['drop']);
    expect((await agent.records.get(testVmId))?.egressPolicy).toEqual({ mode: 'deny_all' });
  });

  it('the same spec and policy, applied to a running VM again, writes nothing', async () => {
    const agent = agentWithEgress();
    await applyVm(agent.context, testVmId, { ...guestSpec, egress: { mode: 'deny_all' } });
    const writes = agent.firewall.applyCount;

    await applyVm(agent.context, testVmId, { ...guestSpec, egress: { mode: 'deny_all' } });

    expect(agent.firewall.applyCount).toBe(writes);
  });

  it('refuses a spec whose policy no rule can be written from before recording anything', async () => {
    const agent = agentWithEgress();

    const error = await appErrorOf(
      applyVm(agent.context, testVmId, {
        ...guestSpec,
        egress: { mode: 'deny_list', rules: [{ cidr: '10.0.0.0/8', ports: [22] }] },
      }),
    );

    expect(error).toMatchObject({ code: 'VALIDATION_FAILED', errors: [{ field: 'rules/0/protocol' }] });
    expect(await agent.records.get(testVmId)).toBeUndefined();
  });
});

describe('egress drift in the inventory', () => {
  it("reports a running VM's policy and its rules in place, then not once they were removed behind the Agent's back, and the same policy again restores them", async () => {
    const agent = agentWithEgress();
    await applyVm(agent.context, testVmId, { ...guestSpec, egress: { mode: 'deny_all' } });
    const egressOf = async () => (await listInventory(agent.context, 'host-1')).vms.find((vm) => vm.vmId === testVmId)?.egress;
    const before = await egressOf();

    await agent.firewall.apply(removeVmsScript('hearth', new Set([testVmId]), await agent.firewall.readTable('hearth')) ?? '');
    const drifted = await egressOf();
    const isApplied = await setEgressPolicy(agent.context, testVmId, { mode: 'deny_all' });

    expect(before).toEqual({ policy: { mode: 'deny_all' }, isInPlace: true });
    expect(drifted).toEqual({ policy: { mode: 'deny_all' }, isInPlace: false });
    expect(isApplied).toBe(true);
    expect(await egressOf()).toEqual({ policy: { mode: 'deny_all' }, isInPlace: true });
    expect(agent.firewall.chainRules('hearth', testVmId)).toEqual(['drop']);
  });

  it('reports no egress for a stopped VM, nor on an Agent that writes no rules', async () => {
    const withRules = agentWithEgress();
    const withoutRules = createFakeAgent();
    await applyVm(withRules.context, testVmId, guestSpec);
    await stopVm(withRules.context, testVmId);
    await applyVm(withoutRules.context, testVmId, guestSpec);

    expect((await listInventory(withRules.context, 'h')).vms[0]?.egress).toBeUndefined();
    expect((await listInventory(withoutRules.context, 'h')).vms[0]?.egress).toBeUndefined();
  });
});

describe("a VM's firewall work reads that VM's entries alone", () => {
  it('create, drift check and delete never read the whole table', async () => {
    const agent = agentWithEgress();
    await applyVm(agent.context, otherVmId, { ...guestSpec, guest: { ...guestSpec.guest!, ipAddress: '172.30.0.6' } });
    const wholeReads = agent.firewall.tableReadCount;
    const vmReads = agent.firewall.vmReadCount;

    await applyVm(agent.context, testVmId, { ...guestSpec, ports: [{ protocol: 'tcp', hostPort: 8080, guestPort: 80 }] });
    const createReads = agent.firewall.vmReadCount - vmReads;
    const observed = await egressObservations(agent.context, [(await agent.records.get(testVmId))!]);
    await deleteVm(agent.context, testVmId);

    expect(observed.get(testVmId)).toEqual({ policy: { mode: 'allow_all' }, isInPlace: true });
    expect(agent.firewall.tableReadCount).toBe(wholeReads);
    // A new VM's create reads nothing; the drift check reads its entries, the delete them twice.
    expect(createReads).toBe(0);
    expect(agent.firewall.vmReadCount - vmReads).toBe(3);
    expect(await agent.firewall.readTable('hearth')).toMatchObject({
      vmChains: [otherVmId],
      guardChains: [otherVmId],
      portElements: [],
    });
  });

  it('reads the keys of both what was written and what is to be, each once', () => {
    const guard = { tap: 'vm0abc', mac: '06:00:00:00:00:05', sharedSet: 'shared_0123456789abcdef' };
    const written = { table: 'hearth', address: '172.30.0.5', policy: { mode: 'allow_all' as const }, guard };
    const ports = [{ protocol: 'tcp' as const, hostPort: 8080, guestPort: 80 }];

    expect(vmTableKeysOf(testVmId, [written, { ...written, address: '172.30.0.7', ports }, null])).toEqual({
      vmId: testVmId,
      addresses: ['172.30.0.5', '172.30.0.7'],
      hostPorts: [{ protocol: 'tcp', hostPort: 8080 }],
      taps: ['vm0abc'],
      sharedSets: ['shared_0123456789abcdef'],
    });
    expect(vmTableKeysOf(testVmId, [null])).toEqual({ vmId: testVmId, addresses: [], hostPorts: [], taps: [], sharedSets: [] });
  });

  it("an inventory of many VMs reads the table once, and judges each VM's drift from it", async () => {
    const agent = agentWithEgress();
    await applyVm(agent.context, testVmId, guestSpec);
    await applyVm(agent.context, otherVmId, { ...guestSpec, guest: { ...guestSpec.guest!, ipAddress: '172.30.0.6' } });
    const state = await agent.firewall.readTable('hearth');
    await agent.firewall.apply(removeVmsScript('hearth', new Set([otherVmId]), state) ?? '');
    const [vmReads, wholeReads] = [agent.firewall.vmReadCount, agent.firewall.tableReadCount];

    const observed = await egressObservations(agent.context, await agent.records.list());

    expect([agent.firewall.vmReadCount - vmReads, agent.firewall.tableReadCount - wholeReads]).toEqual([0, 1]);
    expect(observed.get(testVmId)?.isInPlace).toBe(true);
    expect(observed.get(otherVmId)?.isInPlace).toBe(false);
  });

  it("a stale entry of another VM at the VM's address, host port or TAP is replaced", async () => {
    const agent = agentWithEgress();
    await applyVm(agent.context, testVmId, { ...guestSpec, ports: [{ protocol: 'tcp', hostPort: 8080, guestPort: 80 }] });
    const tap = (await agent.records.get(testVmId))?.tap?.name ?? '';
    const state = await agent.firewall.readTable('hearth');
    await agent.firewall.apply(removeVmsScript('hearth', new Set([testVmId]), state) ?? '');
    // What a host whose records were lost holds: another VM's rules at this VM's keys.
    const stale = { vmId: otherVmId, address: '172.30.0.5', policy: { mode: 'deny_all' } as EgressPolicy };
    const ports = [{ protocol: 'tcp' as const, hostPort: 8080, guestPort: 22 }];
    const guard = { tap, mac: '06:00:00:00:00:09', sharedSet: null };
    await agent.firewall.apply(
      vmEgressScript({ name: 'hearth', uplink: 'eth0' }, { ...stale, ports, guard }, await agent.firewall.readTable('hearth')),
    );

    await setEgressPolicy(agent.context, testVmId, { mode: 'allow_all' });

    const after = await agent.firewall.readTable('hearth');
    expect(after.egressElements).toEqual([{ address: '172.30.0.5', chain: testVmId }]);
    expect(after.guestElements).toEqual([{ address: '172.30.0.5', vmId: testVmId }]);
    expect(after.portElements).toEqual([
      { protocol: 'tcp', hostPort: 8080, address: '172.30.0.5', guestPort: 80, vmId: testVmId },
    ]);
    expect(after.guardElements).toEqual([{ tap, chain: testVmId }]);
    expect(after.tapElements).toEqual([{ set: 'taps', tap, vmId: testVmId }]);
  });
});

describe('a change of the policy alone', () => {
  it('rewrites the VM chain and leaves the bridge table and its guard as they are', async () => {
    const agent = agentWithEgress();
    await applyVm(agent.context, testVmId, { ...guestSpec, sharedNetwork: 'default/backend' });
    const guardBefore = agent.firewall.bridgeChainRules('hearth', testVmId);

    expect(await setEgressPolicy(agent.context, testVmId, { mode: 'deny_all' })).toBe(true);

    expect(agent.firewall.chainRules('hearth', testVmId)).toEqual(['drop']);
    expect(agent.firewall.lastScript).not.toMatch(/bridge/);
    expect(agent.firewall.bridgeChainRules('hearth', testVmId)).toEqual(guardBefore);
    expect((await listInventory(agent.context, 'h')).vms[0]?.egress).toEqual({ policy: { mode: 'deny_all' }, isInPlace: true });
  });

  it('is not what a repair is: the same policy again rewrites a guard that was removed', async () => {
    const agent = agentWithEgress();
    await applyVm(agent.context, testVmId, guestSpec);
    const state = await agent.firewall.readTable('hearth');
    await agent.firewall.apply(removeVmsScript('hearth', new Set([testVmId]), state) ?? '');

    await setEgressPolicy(agent.context, testVmId, { mode: 'allow_all' });

    expect(agent.firewall.lastScript).toMatch(/bridge/);
    expect((await agent.firewall.readTable('hearth')).guardChains).toEqual([testVmId]);
  });
});

describe('the guard without egress through NAT', () => {
  const agentWithGuardOnly = () => createFakeAgent({ guard: { table: 'hearth' } });
  const bridgeRule = { kind: 'nft_rule', ref: `bridge hearth ${testVmId}`, vmId: testVmId };

  it("records a new VM's guard with the record's first write, before the guard is written, and writes the record no more for it", async () => {
    const agent = agentWithGuardOnly();
    let recordAtWrite: VmRecord | undefined;
    const apply = agent.firewall.apply.bind(agent.firewall);
    agent.firewall.apply = async (script) => {
      recordAtWrite ??= agent.records.records.get(testVmId);
      return apply(script);
    };

    await applyVm(agent.context, testVmId, guestSpec);

    const [first, ...later] = agent.records.history;
    expect(first?.egress).toMatchObject({ table: 'hearth', isGuardOnly: true, guard: { tap: first?.tap?.name } });
    expect(recordAtWrite?.egress).toEqual(first?.egress);
    expect(later.map((record) => record.egress)).toEqual(later.map(() => first?.egress));
  });

  it("guards the guest's TAP in the bridge table and writes nothing in the ip table", async () => {
    const agent = agentWithGuardOnly();

    const applied = await applyVm(agent.context, testVmId, { ...guestSpec, sharedNetwork: 'default/backend' });

    const tap = (await agent.records.get(testVmId))?.tap?.name ?? '';
    const mac = guestSpec.guestMac.toLowerCase();
    expect(applied.steps.find((step) => step.name === 'egress')).toMatchObject({ hasRun: true });
    expect(agent.firewall.bridgeChainRules('hearth', testVmId)).toEqual([
      `ether saddr != ${mac} drop`,
      `ether type arp arp saddr ether != ${mac} drop`,
      'ether type arp arp saddr ip != 172.30.0.5 drop',
      'ether type ip ip saddr != 172.30.0.5 drop',
      'ether type != @guest_types drop',
      `oifname @taps oifname != @${sharedSetName('default/backend')} drop`,
    ]);
    const state = await agent.firewall.readTable('hearth');
    expect(state.guardElements).toEqual([{ tap, chain: testVmId }]);
    expect([state.vmChains, state.egressElements, state.guestElements]).toEqual([[], [], []]);
    expect(agent.firewall.tables.has('hearth')).toBe(false);
    expect((await describeVm(agent.context, testVmId)).resources).toContainEqual(bridgeRule);
  });

  it("writes a new VM's guard in one transaction without reading the table first", async () => {
    const agent = agentWithGuardOnly();

    await applyVm(agent.context, testVmId, guestSpec);

    expect([agent.firewall.vmReadCount, agent.firewall.tableReadCount, agent.firewall.applyCount]).toEqual([0, 0, 1]);
    expect(agent.firewall.lastScript).toMatch(/^create element bridge hearth guard /m);
    const tap = (await agent.records.get(testVmId))?.tap?.name ?? '';
    expect((await agent.firewall.readTable('hearth')).guardElements).toEqual([{ tap, chain: testVmId }]);
  });

  it("a new VM's TAP that the table holds already (another VM's guard left there) is read and its guard replaced", async () => {
    const agent = agentWithGuardOnly();
    const tap = 'fcmnpqrstvwxyz0';
    const leftover = { tap, mac: '06:00:00:00:00:09', sharedSet: null };
    await agent.firewall.apply(
      vmGuardScript('hearth', { vmId: otherVmId, address: '172.30.0.9', guard: leftover }, emptyEgressTableState),
    );

    await applyVm(agent.context, testVmId, guestSpec);

    expect((await agent.records.get(testVmId))?.tap?.name).toBe(tap);
    expect(agent.firewall.vmReadCount).toBe(1);
    const state = await agent.firewall.readTable('hearth');
    expect(state.guardElements).toEqual([{ tap, chain: testVmId }]);
    expect(state.tapElements).toEqual([{ set: 'taps', tap, vmId: testVmId }]);
  });

  it('a second apply of the same VM writes nothing; a policy set on it is kept for the record only', async () => {
    const agent = agentWithGuardOnly();
    await applyVm(agent.context, testVmId, guestSpec);
    const applies = agent.firewall.applyCount;

    await applyVm(agent.context, testVmId, guestSpec);
    expect(await setEgressPolicy(agent.context, testVmId, { mode: 'deny_all' })).toBe(false);

    expect(agent.firewall.applyCount).toBe(applies);
    expect(agent.firewall.tables.has('hearth')).toBe(false);
  });

  it('stop and delete remove the guard; the sweep removes a guard no record names', async () => {
    const agent = agentWithGuardOnly();
    await applyVm(agent.context, testVmId, guestSpec);
    await stopVm(agent.context, testVmId);
    const stopped = await agent.firewall.readTable('hearth');
    expect([stopped.guardChains, stopped.guardElements, stopped.tapElements]).toEqual([[], [], []]);

    await applyVm(agent.context, otherVmId, guestSpec);
    await agent.records.remove(otherVmId);
    const outcome = await sweepUntracked(agent.context, new FakeHostScanner());

    expect(outcome.removed).toContainEqual({ kind: 'nft_rule', ref: `bridge hearth ${otherVmId}`, vmId: otherVmId });
    expect((await agent.firewall.readTable('hearth')).guardChains).toEqual([]);
  });

  it("an Agent restarted without NAT removes a running VM's NAT entry at its next change and keeps its guard", async () => {
    const agent = agentWithEgress();
    await applyVm(agent.context, testVmId, guestSpec);
    const withoutNat = { ...agent.context, settings: { ...agent.context.settings, egress: null, guard: { table: 'hearth' } } };

    expect(await setEgressPolicy(withoutNat, testVmId, { mode: 'deny_all' })).toBe(true);

    const state = await agent.firewall.readTable('hearth');
    expect([state.vmChains, state.egressElements, state.guestElements]).toEqual([[], [], []]);
    expect(state.guardChains).toEqual([testVmId]);
    expect((await agent.records.get(testVmId))?.egress).toMatchObject({ isGuardOnly: true });
  });

  it('without a guard setting and without egress no rule is written', async () => {
    const agent = createFakeAgent();

    const applied = await applyVm(agent.context, testVmId, guestSpec);

    expect(applied.steps.find((step) => step.name === 'egress')).toBeUndefined();
    expect(agent.firewall.applyCount).toBe(0);
  });
});
