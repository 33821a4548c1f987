import { describe, expect, it } from 'vitest';
import { createFakeAgent, type FakeAgent } from '../../adapters/fake/fake-agent-context.js';
import { otherVmId, testSpec, testVmId } from '../../adapters/fake/fake-fixtures.js';
import { applyVm } from './apply-vm.js';
import { InventoryEntries } from './inventory-entries.js';
import { listInventory } from './list-inventory.js';
import { stopVm } from './stop-vm.js';

async function twoRunningVms(): Promise<FakeAgent> {
  const agent = createFakeAgent();
  await applyVm(agent.context, testVmId, testSpec);
  await applyVm(agent.context, otherVmId, testSpec);
  return agent;
}

/** The entries listed with `entries` held, beside a listing that builds every entry afresh. */
async function listBoth(agent: FakeAgent, entries: InventoryEntries) {
  const query = entries.isWithResources ? {} : { resources: 'none' as const };
  const held = await listInventory(agent.context, 'host-a', query, entries);
  const fresh = await listInventory(agent.context, 'host-a', query);
  return { held, fresh };
}

describe('InventoryEntries: an inventory of a host where nothing changed builds no entry', () => {
  it.each([true, false])(
    'lists the very objects it listed before (with resources: %s), equal to entries built afresh',
    async (isWithResources) => {
      const agent = await twoRunningVms();
      const entries = new InventoryEntries(isWithResources);

      const first = await listBoth(agent, entries);
      const second = await listBoth(agent, entries);

      expect(first.held).toEqual(first.fresh);
      expect(second.held.vms).toHaveLength(2);
      second.held.vms.forEach((vm, index) => expect(vm).toBe(first.held.vms[index]));
      expect(second.held).toEqual(second.fresh);
    },
  );

  it("builds again the entry of a VM whose record changed, and only that VM's", async () => {
    const agent = await twoRunningVms();
    const entries = new InventoryEntries(false);
    const before = (await listBoth(agent, entries)).held;

    await stopVm(agent.context, testVmId);
    const { held, fresh } = await listBoth(agent, entries);

    expect(held).toEqual(fresh);
    expect(held.vms.find((vm) => vm.vmId === testVmId)).toMatchObject({ vmmState: 'absent' });
    expect(held.vms.find((vm) => vm.vmId === otherVmId)).toBe(before.vms.find((vm) => vm.vmId === otherVmId));
  });

  it('builds again the entry of a VM whose VMM ended behind the Agent (its record unchanged)', async () => {
    const agent = await twoRunningVms();
    const entries = new InventoryEntries(false);
    const pid = (await listBoth(agent, entries)).held.vms.find((vm) => vm.vmId === testVmId)?.pid;

    agent.vmm.exitProcess(pid as number, { code: 1, signal: null });
    const { held, fresh } = await listBoth(agent, entries);

    expect(held).toEqual(fresh);
    expect(held.vms.find((vm) => vm.vmId === testVmId)).toMatchObject({ vmmState: 'exited', vmmExit: { code: 1, signal: null } });
  });

  it('builds again the entry of a VM with a snapshot asked for, and again once it is answered', async () => {
    const agent = await twoRunningVms();
    const entries = new InventoryEntries(false);
    await listBoth(agent, entries);

    let whileAsked: Awaited<ReturnType<typeof listBoth>> | undefined;
    await agent.context.snapshotsAsked.during(testVmId, 'snap_1', async () => {
      whileAsked = await listBoth(agent, entries);
    });
    const after = await listBoth(agent, entries);

    expect(whileAsked?.held).toEqual(whileAsked?.fresh);
    expect(whileAsked?.held.vms.find((vm) => vm.vmId === testVmId)?.snapshots).toEqual([{ id: 'snap_1', state: 'creating' }]);
    expect(after.held).toEqual(after.fresh);
    expect(after.held.vms.find((vm) => vm.vmId === testVmId)?.snapshots).toEqual([]);
  });

  it('forgets a VM whose record is gone', async () => {
    const agent = await twoRunningVms();
    const entries = new InventoryEntries(false);
    await listBoth(agent, entries);

    await agent.records.remove(testVmId);
    const { held, fresh } = await listBoth(agent, entries);

    expect(held).toEqual(fresh);
    expect(held.vms.map((vm) => vm.vmId)).toEqual([otherVmId]);
  });

  it('holds the entry of a VM whose record is unreadable like the others', async () => {
    const agent = await twoRunningVms();
    const entries = new InventoryEntries(true);
    agent.records.markUnreadable(testVmId, '/run/hearth/vms/x', 'torn');

    const first = await listBoth(agent, entries);
    const second = await listBoth(agent, entries);

    expect(second.held).toEqual(second.fresh);
    expect(second.held.vms.find((vm) => vm.vmId === testVmId)).toMatchObject({ vmmState: 'unreadable' });
    second.held.vms.forEach((vm, index) => expect(vm).toBe(first.held.vms[index]));
  });
});
