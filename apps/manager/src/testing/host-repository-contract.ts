import { beforeEach, describe, expect, it } from 'vitest';
import type { SequentialIdGenerator } from '../adapters/fake/sequential-id-generator.js';
import type { Host } from '../domain/host.js';
import { codeOf } from './rejections.js';
import { at, t0, repositoryTestBed, type RepositoryHarness } from './repository-test-bed.js';
import type { TrustRepositoryHarness } from './trust-repository-contract.js';
import { agentIdFor, credentialOf, hostCapacity, hostFacts } from './world.js';

type HostHarness = RepositoryHarness & Pick<TrustRepositoryHarness, 'trust'>;

/** The behaviour every HostRepository shares: run against the fake, PGlite and PostgreSQL. */
export function describeHostRepositoryContract(name: string, open: () => Promise<HostHarness>): void {
  describe(`host repository contract: ${name}`, () => {
    const bed = repositoryTestBed(open);
    const { host, vm } = bed;
    let repos: HostHarness;
    let ids: SequentialIdGenerator;

    beforeEach(() => {
      ({ repos, ids } = bed);
    });

    /** The Agent of `agentId` joins; answers its credential's secret hash. */
    async function joined(agentId: string): Promise<string> {
      const tokenHash = `join-${agentId}`;
      await repos.trust.createJoinToken({ id: `jt_${agentId}`, tokenHash, createdAt: t0, expiresAt: at(3600) });
      const credentialSecretHash = `secret-hash-of-${agentId}`;
      await repos.trust.join({
        tokenHash,
        at: t0,
        publicKeySha256: `key-of-${agentId}`,
        credential: { ...credentialOf(agentId), secretHash: credentialSecretHash },
      });
      return credentialSecretHash;
    }

    it('registers a new host under the given id', async () => {
      const created = await host();
      expect(await repos.hosts.findById(created.id)).toEqual(created);
      expect(created).toMatchObject({ name: 'node-a', registeredAt: t0, lastHeartbeatAt: t0 });
    });

    it('keeps the id and first registration time when the same Agent registers again', async () => {
      const first = await host('node-a', agentIdFor(1));
      const again = await repos.hosts.register({
        newId: ids.hostId(),
        name: 'node-a',
        agentId: agentIdFor(1),
        aliveIfHeartbeatSince: t0,
        addr: 'http://elsewhere:9090',
        capacity: hostCapacity({ cpuCount: 64 }),
        facts: hostFacts(),
        at: at(10),
      });
      expect(again).toMatchObject({ id: first.id, addr: 'http://elsewhere:9090', registeredAt: t0, lastHeartbeatAt: at(10) });
      expect(again.capacity.cpuCount).toBe(64);
      expect(await repos.hosts.list()).toHaveLength(1);
    });

    it('refuses another Agent registering a taken name and leaves the host as it was', async () => {
      const first = await host('node-a', agentIdFor(1));
      const impostor = repos.hosts.register({
        newId: ids.hostId(),
        name: 'node-a',
        agentId: agentIdFor(2),
        aliveIfHeartbeatSince: t0,
        addr: 'http://impostor:9090',
        capacity: hostCapacity({ cpuCount: 4096 }),
        facts: hostFacts(),
        at: at(10),
      });
      expect(await codeOf(impostor)).toBe('HOST_NAME_TAKEN');
      expect(await repos.hosts.list()).toEqual([first]);
    });

    it('refuses an Agent renaming its host to a name another Agent holds', async () => {
      await host('node-a', agentIdFor(1));
      const b = await host('node-b', agentIdFor(2));
      const rename = repos.hosts.register({
        newId: ids.hostId(),
        name: 'node-a',
        agentId: agentIdFor(2),
        aliveIfHeartbeatSince: t0,
        addr: b.addr,
        capacity: hostCapacity(),
        facts: hostFacts(),
        at: at(10),
      });
      expect(await codeOf(rename)).toBe('HOST_NAME_TAKEN');
      expect((await repos.hosts.findById(b.id))?.name).toBe('node-b');
    });

    it('writes host.registered on every registration and host.address_changed when the address changes', async () => {
      const h = await host('node-a', agentIdFor(1));
      const again = (addr: string, seconds: number): Promise<Host> =>
        repos.hosts.register({
          newId: ids.hostId(),
          name: 'node-a',
          agentId: agentIdFor(1),
          aliveIfHeartbeatSince: t0,
          addr,
          capacity: hostCapacity(),
          facts: hostFacts(),
          at: at(seconds),
        });
      await again(h.addr, 5);
      await again('https://10.9.9.9:9090', 10);
      const events = (await repos.events.list({ hostId: h.id }, { limit: 10 })).items;
      expect(events.map((e) => e.type)).toEqual([
        'host.registered',
        'host.registered',
        'host.registered',
        'host.address_changed',
      ]);
      expect(events.at(-1)?.message).toContain('https://10.9.9.9:9090');
    });

    it('refuses a second live process of the same Agent identity at another address (a clone), until the first goes silent', async () => {
      const registration = {
        newId: ids.hostId(),
        name: 'node-a',
        agentId: agentIdFor(1),
        capacity: hostCapacity(),
        facts: hostFacts(),
      };
      const h = await repos.hosts.register({
        ...registration,
        instanceId: 'a'.repeat(32),
        addr: 'https://10.0.0.1:9090',
        aliveIfHeartbeatSince: t0,
        at: t0,
      });
      const clone = { ...registration, instanceId: 'b'.repeat(32), addr: 'https://10.0.0.2:9090' };
      expect(await codeOf(repos.hosts.register({ ...clone, aliveIfHeartbeatSince: t0, at: at(1) }))).toBe('HOST_IDENTITY_IN_USE');
      expect((await repos.hosts.findById(h.id))?.addr).toBe('https://10.0.0.1:9090');
      // The same machine restarted: same address, a new process.
      await repos.hosts.register({ ...clone, addr: 'https://10.0.0.1:9090', aliveIfHeartbeatSince: t0, at: at(2) });
      // Once the holder has been silent long enough, the identity may move.
      const moved = await repos.hosts.register({
        ...clone,
        instanceId: 'c'.repeat(32),
        aliveIfHeartbeatSince: at(10),
        at: at(20),
      });
      expect(moved).toMatchObject({ id: h.id, addr: 'https://10.0.0.2:9090' });
    });

    it('pages hosts by id with a cursor', async () => {
      const created = [await host('node-a'), await host('node-b'), await host('node-c')];
      const first = await repos.hosts.listPage({ limit: 2 });
      expect(first.items.map((h) => h.id)).toEqual(created.slice(0, 2).map((h) => h.id));
      expect(first.nextCursor).toBe(created[1]!.id);
      const second = await repos.hosts.listPage({ limit: 2, afterId: first.nextCursor! });
      expect(second.items.map((h) => h.id)).toEqual([created[2]!.id]);
      expect(second.nextCursor).toBeNull();
    });

    it('removes a host without VMs with a host.removed event, freeing its name and Agent identity', async () => {
      const h = await host('node-a', agentIdFor(1));
      await repos.hosts.remove(h.id, { at: at(30), message: 'gone' });
      expect(await repos.hosts.findById(h.id)).toBeUndefined();
      expect((await repos.events.list({ hostId: h.id, type: 'host.removed' }, { limit: 10 })).items).toHaveLength(1);
      const other = await host('node-a', agentIdFor(2));
      expect(other.id).not.toBe(h.id);
    });

    it('refuses to remove a host while a VM record refers to it, and an unknown host', async () => {
      const v = await vm();
      expect(await codeOf(repos.hosts.remove(v.hostId, { at: at(30), message: 'gone' }))).toBe('HOST_HAS_VMS');
      expect(await repos.hosts.findById(v.hostId)).toBeDefined();
      expect(await codeOf(repos.hosts.remove(ids.hostId(), { at: at(30), message: 'gone' }))).toBe('HOST_NOT_FOUND');
    });

    it('records a heartbeat with the new capacity', async () => {
      const h = await host();
      const recorded = await repos.hosts.recordHeartbeat(h.id, {
        credentialSecretHash: await joined(h.agentId!),
        capacity: hostCapacity({ vmCount: 3 }),
        facts: hostFacts(),
        at: at(5),
      });
      expect(recorded).toEqual({ host: { id: h.id, name: h.name }, hasRecovered: false });
      expect(await repos.hosts.findById(h.id)).toMatchObject({ lastHeartbeatAt: at(5), capacity: { vmCount: 3 } });
    });

    it("records a heartbeat's inventory tag as taken after the heartbeat (or registration) before it; none clears it", async () => {
      const h = await host();
      const credentialSecretHash = await joined(h.agentId!);
      const beat = { credentialSecretHash, capacity: hostCapacity(), facts: hostFacts() };
      expect(h.reportedInventory).toBeNull();

      await repos.hosts.recordHeartbeat(h.id, { ...beat, inventoryTag: '"p-a"', at: at(5) });
      expect((await repos.hosts.findById(h.id))?.reportedInventory).toEqual({ tag: '"p-a"', takenAfter: h.lastHeartbeatAt });
      await repos.hosts.recordHeartbeat(h.id, { ...beat, inventoryTag: '"p-b"', at: at(10) });
      expect((await repos.hosts.list()).find((listed) => listed.id === h.id)?.reportedInventory).toEqual({
        tag: '"p-b"',
        takenAfter: at(5),
      });
      await repos.hosts.recordHeartbeat(h.id, { ...beat, at: at(15) });
      expect((await repos.hosts.findById(h.id))?.reportedInventory).toBeNull();
    });

    it('registers a host healthy and not cordoned, with a host.registered event', async () => {
      const h = await host();
      expect(h).toMatchObject({ status: 'healthy', isCordoned: false });
      const events = await repos.events.list({ hostId: h.id }, { limit: 10 });
      expect(events.items.map((e) => e.type)).toEqual(['host.registered']);
    });

    it('marks a host unhealthy only while its heartbeat is older than asked, with a host.unhealthy event', async () => {
      const h = await host();
      expect(await repos.hosts.markUnhealthy(h.id, { at: at(20), heartbeatBefore: t0, message: 'late' })).toBeUndefined();
      const marked = await repos.hosts.markUnhealthy(h.id, { at: at(20), heartbeatBefore: at(1), message: 'late' });
      expect(marked).toMatchObject({ status: 'unhealthy', statusChangedAt: at(20) });
      expect(await repos.hosts.markUnhealthy(h.id, { at: at(21), heartbeatBefore: at(1), message: 'late' })).toBeUndefined();
      const events = await repos.events.list({ hostId: h.id, type: 'host.unhealthy' }, { limit: 10 });
      expect(events.items).toHaveLength(1);
    });

    it('makes an unhealthy host healthy on its next heartbeat, with a host.recovered event', async () => {
      const h = await host();
      await repos.hosts.markUnhealthy(h.id, { at: at(20), heartbeatBefore: at(1), message: 'late' });
      const recorded = await repos.hosts.recordHeartbeat(h.id, {
        credentialSecretHash: await joined(h.agentId!),
        capacity: hostCapacity(),
        facts: hostFacts(),
        at: at(30),
      });
      expect(recorded).toEqual({ host: { id: h.id, name: h.name }, hasRecovered: true });
      expect(await repos.hosts.findById(h.id)).toMatchObject({ status: 'healthy', statusChangedAt: at(30) });
      const events = await repos.events.list({ hostId: h.id, type: 'host.recovered' }, { limit: 10 });
      expect(events.items).toHaveLength(1);
    });

    it('cordons and uncordons a host, writing an event only when it changes', async () => {
      const h = await host();
      expect((await repos.hosts.setCordoned(h.id, true, at(1))).isCordoned).toBe(true);
      await repos.hosts.setCordoned(h.id, true, at(2));
      expect((await repos.hosts.setCordoned(h.id, false, at(3))).isCordoned).toBe(false);
      const events = await repos.events.list({ hostId: h.id }, { limit: 10 });
      expect(events.items.map((e) => e.type)).toEqual(['host.registered', 'host.cordoned', 'host.uncordoned']);
      expect(await codeOf(repos.hosts.setCordoned(ids.hostId(), true, at(4)))).toBe('HOST_NOT_FOUND');
    });

    it("answers a heartbeat for an unknown host, with an unknown credential or with another Agent's with nothing, changing nothing", async () => {
      const h = await host('node-a', agentIdFor(1));
      const mine = await joined(agentIdFor(1));
      const theirs = await joined(agentIdFor(2));
      const beat = { capacity: hostCapacity({ vmCount: 7 }), facts: hostFacts(), at: at(9) };
      expect(await repos.hosts.recordHeartbeat(ids.hostId(), { ...beat, credentialSecretHash: mine })).toBeUndefined();
      expect(await repos.hosts.recordHeartbeat(h.id, { ...beat, credentialSecretHash: 'never-issued' })).toBeUndefined();
      expect(await repos.hosts.recordHeartbeat(h.id, { ...beat, credentialSecretHash: theirs })).toBeUndefined();
      expect(await repos.hosts.findById(h.id)).toEqual(h);
      expect(await repos.hosts.recordHeartbeat(h.id, { ...beat, credentialSecretHash: mine })).toBeDefined();
    });

    it('lists hosts by id', async () => {
      const a = await host('b-host');
      const b = await host('a-host');
      expect((await repos.hosts.list()).map((h) => h.id)).toEqual([a.id, b.id]);
    });

    it("lists each host's heartbeat view by id, as the full listing has it", async () => {
      const a = await host('b-host');
      await host('a-host');
      const credentialSecretHash = await joined(a.agentId!);
      await repos.hosts.recordHeartbeat(a.id, { credentialSecretHash, capacity: hostCapacity(), facts: hostFacts(), at: at(7) });
      await repos.hosts.markUnhealthy(a.id, { at: at(20), heartbeatBefore: at(8), message: 'late' });
      const views = (await repos.hosts.list()).map(({ id, name, status, lastHeartbeatAt }) => ({
        id,
        name,
        status,
        lastHeartbeatAt,
      }));
      expect(await repos.hosts.listHeartbeats()).toEqual(views);
      expect(views[0]).toMatchObject({ id: a.id, status: 'unhealthy', lastHeartbeatAt: at(7) });
    });
  });
}
