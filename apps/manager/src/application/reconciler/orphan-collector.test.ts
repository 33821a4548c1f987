import { describe, expect, it } from 'vitest';
import { createWorld, createWorldWithVm } from '../../testing/world.js';
import type { HostId, VmId } from '../../domain/ids.js';
import { OrphanCollector } from './orphan-collector.js';

/** The rows a collector looks VMs up in, each look-up counted, and their departures from each host. */
function countedRows(held: Record<string, string>): {
  rows: { get(vmId: VmId): { hostId: HostId } | undefined; departuresFrom(hostId: HostId): number };
  lookUps: () => number;
  depart: (vmId: string) => void;
} {
  let lookUps = 0;
  const departures = new Map<string, number>();
  const byId = new Map(Object.entries(held));
  return {
    rows: {
      get: (vmId) => {
        lookUps += 1;
        const hostId = byId.get(vmId);
        return hostId === undefined ? undefined : { hostId: hostId as HostId };
      },
      departuresFrom: (hostId) => departures.get(hostId) ?? 0,
    },
    lookUps: () => lookUps,
    depart: (vmId) => {
      const hostId = byId.get(vmId);
      if (hostId === undefined) return;
      byId.delete(vmId);
      departures.set(hostId, (departures.get(hostId) ?? 0) + 1);
    },
  };
}

const running = (vmId: string): { vmId: string; vmmState: 'running' } => ({ vmId, vmmState: 'running' });

describe('OrphanCollector', () => {
  it('passes over an inventory it found without orphans until a row leaves its host, then removes the orphan', async () => {
    const world = createWorld();
    const host = await world.addHost();
    const collector = new OrphanCollector(world.deps);
    const inventory = { vms: [running('vm_a'), running('vm_b'), running('vm_c')] };
    const { rows, lookUps, depart } = countedRows({ vm_a: host.id, vm_b: host.id, vm_c: host.id });

    expect(await collector.collect(host, inventory, rows, () => true)).toBe(0);
    expect(lookUps()).toBe(3);
    expect(await collector.collect(host, inventory, rows, () => true)).toBe(0);
    expect(lookUps()).toBe(3);

    depart('vm_b');
    expect(await collector.collect(host, inventory, rows, () => true)).toBe(1);
    expect(lookUps()).toBe(6);
    expect(world.agents.calls.filter((call) => call.operation === 'delete')).toMatchObject([{ vmId: 'vm_b' }]);
  });

  it('looks every VM up again in another inventory of the host, and in the same one for another host', async () => {
    const world = createWorld();
    const host = await world.addHost();
    const other = await world.addHost();
    const collector = new OrphanCollector(world.deps);
    const { rows, lookUps } = countedRows({ vm_a: host.id, vm_b: other.id });

    await collector.collect(host, { vms: [running('vm_a')] }, rows, () => true);
    await collector.collect(host, { vms: [running('vm_a')] }, rows, () => true);
    expect(lookUps()).toBe(2);

    const shared = { vms: [running('vm_b')] };
    await collector.collect(other, shared, rows, () => true);
    expect(await collector.collect(host, shared, rows, () => true)).toBe(1);
    expect(lookUps()).toBe(4);
  });

  it('keeps looking up an inventory whose VM was found in the database only, and with rows that count no departures', async () => {
    const { world, vmId } = await createWorldWithVm();
    const [host] = await world.deps.hosts.list();
    if (host === undefined) throw new Error('the world has no host');
    const collector = new OrphanCollector(world.deps);
    const inventory = { vms: [running(vmId)] };
    const { rows, lookUps } = countedRows({});

    expect(await collector.collect(host, inventory, rows, () => true)).toBe(0);
    expect(await collector.collect(host, inventory, rows, () => true)).toBe(0);
    expect(lookUps()).toBe(2);

    let plainLookUps = 0;
    const plain = {
      get: (): { hostId: HostId } => {
        plainLookUps += 1;
        return { hostId: host.id };
      },
    };
    await collector.collect(host, inventory, plain, () => true);
    await collector.collect(host, inventory, plain, () => true);
    expect(plainLookUps).toBe(2);
    expect(world.agents.calls.filter((call) => call.operation === 'delete')).toHaveLength(0);
  });
});
