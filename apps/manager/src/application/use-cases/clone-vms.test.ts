import { describe, expect, it } from 'vitest';
import { everyProject } from '../../domain/access.js';
import type { Host } from '../../domain/host.js';
import { rejection } from '../../testing/rejections.js';
import { createWorldWithVm } from '../../testing/world.js';
import { RecentHostListing } from '../recent-host-listing.js';
import { acceptClones } from './clone-vms.js';
import { createSnapshot } from './snapshots.js';

/**
 * A ready snapshot of a VM on `origin`, a second host that could restore it (`spare`, which holds
 * no copy of its files, so placement prefers `origin`), and the hosts' listings counted. `onList` runs after each listing
 * has been read, before its caller goes on.
 */
async function snapshotOnTwoHosts() {
  const { world, vmId } = await createWorldWithVm();
  const [origin] = await world.repos.hosts.list();
  if (origin === undefined) throw new Error('the world has no host');
  const spare = await world.addHost({ name: 'spare' });
  const snapshot = await createSnapshot(world.deps, vmId, { afterwards: 'previous_state' }, everyProject);
  let listings = 0;
  const hooks: { onList: (() => Promise<void>) | undefined } = { onList: undefined };
  const list = world.repos.hosts.list.bind(world.repos.hosts);
  world.repos.hosts.list = async () => {
    listings += 1;
    const hosts = await list();
    await hooks.onList?.();
    return hosts;
  };
  const recentHosts = new RecentHostListing(world.repos.hosts, world.clock, 1_000);
  const input = { project: 'default', name: 'clone', snapshotId: snapshot.id, count: 2 };
  return { world, origin, spare, input, hooks, deps: { ...world.deps, recentHosts }, listings: () => listings };
}

const hostIdsOf = (vms: readonly { hostId: Host['id'] }[]): Host['id'][] => vms.map((vm) => vm.hostId);

describe('acceptClones placing the clones', () => {
  it('reads the hosts from the listing shared with the creates of the moment', async () => {
    const { world, origin, input, deps, listings } = await snapshotOnTwoHosts();
    const first = await acceptClones(deps, input);
    world.clock.advance(500);
    const second = await acceptClones(deps, { ...input, name: 'again' });
    expect([...hostIdsOf(first), ...hostIdsOf(second)]).toEqual([origin.id, origin.id, origin.id, origin.id]);
    expect(listings()).toBe(1);
  });

  it('places them on the snapshot host while its heartbeat is late but its Agent still answers', async () => {
    const { world, origin, input } = await snapshotOnTwoHosts();
    world.clock.advance(15_001);
    world.deps.contacts.answered(origin.addr, world.clock.now());
    expect(hostIdsOf(await acceptClones(world.deps, input))).toEqual([origin.id, origin.id]);
  });

  it('places them on another compatible host when the snapshot host was cordoned after the hosts were listed', async () => {
    const { world, origin, spare, input, hooks, deps, listings } = await snapshotOnTwoHosts();
    hooks.onList = async () => {
      hooks.onList = undefined;
      await world.repos.hosts.setCordoned(origin.id, true, world.clock.now());
    };
    expect(hostIdsOf(await acceptClones(deps, input))).toEqual([spare.id, spare.id]);
    // The shared listing, then one of its own after the admission found the cordon.
    expect(listings()).toBe(2);
  });

  it('refuses them, saying why, when a cordon since the listing leaves no host', async () => {
    const { world, origin, spare, input, hooks } = await snapshotOnTwoHosts();
    await world.repos.hosts.setCordoned(spare.id, true, world.clock.now());
    hooks.onList = async () => {
      await world.repos.hosts.setCordoned(origin.id, true, world.clock.now());
    };
    const error = await rejection(acceptClones(world.deps, input));
    expect(error.code).toBe('HOST_NO_CAPACITY');
    expect(error.details).toEqual({ hosts: [{ hostId: origin.id, reason: 'cordoned' }] });
    expect(await world.repos.vms.findByName('default', 'clone-1')).toBeUndefined();
  });
});
