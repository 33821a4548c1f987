import { beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '@hearth/errors';
import type { ProjectHolding } from '../application/ports/vm-repository.js';
import type { SequentialIdGenerator } from '../adapters/fake/sequential-id-generator.js';
import { everyProject } from '../domain/access.js';
import { parseAddressPool, parseIpv4, type AddressPool } from '../domain/address-pool.js';
import type { VmId } from '../domain/ids.js';
import { vmListingOf, type Vm } from '../domain/vm.js';
import { resourceHoldingStates, vmStates, type VmState } from '../domain/vm-state.js';
import { unlimitedQuota } from '../domain/project.js';
import { codeOf, rejection } from './rejections.js';
import { at, t0, repositoryTestBed, type Repositories, type RepositoryHarness } from './repository-test-bed.js';

/** The behaviour every VmRepository shares: run against the fake, PGlite and PostgreSQL. */
export function describeVmRepositoryContract(name: string, open: () => Promise<RepositoryHarness>): void {
  describe(`vm repository contract: ${name}`, () => {
    const bed = repositoryTestBed(open);
    const { host, vm, eventsOf } = bed;
    let repos: Repositories;
    let ids: SequentialIdGenerator;

    beforeEach(() => {
      ({ repos, ids } = bed);
    });

    it('stores a VM and finds it by id and name', async () => {
      const v = await vm();
      expect(await repos.vms.findById(v.id)).toEqual(v);
      expect(await repos.vms.findByName('default', v.name)).toEqual(v);
    });

    it('refuses a second VM with the same name with VM_NAME_TAKEN', async () => {
      const v = await vm();
      expect(
        await codeOf(vm({ name: v.name, hostId: v.hostId, kernelImageId: v.kernelImageId, rootfsImageId: v.rootfsImageId })),
      ).toBe('VM_NAME_TAKEN');
    });

    it('changes state, steps and failure reason and writes an event', async () => {
      const v = await vm();
      await repos.vms.transition(v.id, { from: 'pending', to: 'starting', at: at(1) });
      const steps = [{ name: 'tap', durationMs: 1.5, at: at(1) }];
      const running = await repos.vms.transition(v.id, { from: 'starting', to: 'running', at: at(2), steps, totalMs: 12.25 });
      expect(running).toMatchObject({ state: 'running', steps, totalMs: 12.25, updatedAt: at(2), failureReason: null });
      const failed = await repos.vms.transition(v.id, {
        from: 'running',
        to: 'failed',
        at: at(3),
        failureReason: { code: 'AGENT_UNAVAILABLE', message: 'down' },
        message: 'down',
      });
      expect(failed).toMatchObject({ state: 'failed', steps, failureReason: { code: 'AGENT_UNAVAILABLE', message: 'down' } });
      expect(await repos.vms.findById(v.id)).toEqual(failed);
      const events = await eventsOf(v.id);
      expect(events.map((e) => [e.fromState, e.toState])).toEqual([
        [null, 'pending'],
        ['pending', 'starting'],
        ['starting', 'running'],
        ['running', 'failed'],
      ]);
      expect(events[3]).toMatchObject({ at: at(3), message: 'down' });
    });

    it('passes through the states of `via` in one change, with an event and a version each', async () => {
      const v = await vm();
      const starting = await repos.vms.transition(v.id, { from: 'pending', via: ['scheduled'], to: 'starting', at: at(1) });
      expect(starting).toMatchObject({ state: 'starting', version: 3, updatedAt: at(1) });
      expect(await repos.vms.findById(v.id)).toEqual(starting);
      const events = await eventsOf(v.id);
      expect(events.map((e) => [e.type, e.fromState, e.toState])).toEqual([
        ['vm.created', null, 'pending'],
        ['vm.state_changed', 'pending', 'scheduled'],
        ['vm.state_changed', 'scheduled', 'starting'],
      ]);
      expect(await codeOf(repos.vms.transition(v.id, { from: 'pending', via: ['scheduled'], to: 'starting', at: at(2) }))).toBe(
        'VM_BUSY',
      );
      expect(await eventsOf(v.id)).toHaveLength(3);
    });

    it('inserts a VM through the states of `via`, with their events in order and a version each', async () => {
      const other = await vm();
      const id = ids.vmId();
      const inserted = await repos.vms.insert({
        ...other,
        id,
        name: 'through-via',
        guestMac: undefined,
        state: 'starting',
        via: ['pending', 'scheduled'],
        version: 3,
      });
      expect(inserted).toMatchObject({ id, state: 'starting', version: 3 });
      expect(inserted).not.toHaveProperty('via');
      expect(await repos.vms.findById(id)).toEqual(inserted);
      const events = await eventsOf(id);
      expect(events.map((e) => [e.type, e.fromState, e.toState, e.at])).toEqual([
        ['vm.created', null, 'pending', t0],
        ['vm.state_changed', 'pending', 'scheduled', t0],
        ['vm.state_changed', 'scheduled', 'starting', t0],
      ]);
      const running = await repos.vms.transition(id, { from: 'starting', to: 'running', at: at(1) });
      expect(running.version).toBe(4);
    });

    it('moves several VMs by one change, those still in its first state only, each with its events', async () => {
      const [a, b, c] = [await vm(), await vm(), await vm()] as [Vm, Vm, Vm];
      await repos.vms.transition(c.id, { from: 'pending', to: 'failed', at: at(1) });
      const moved = await repos.vms.transitionAll([a.id, b.id, c.id], {
        from: 'pending',
        via: ['scheduled'],
        to: 'starting',
        at: at(2),
      });
      expect(moved.map((each) => each.id).sort()).toEqual([a.id, b.id].sort());
      for (const each of [a, b]) {
        const read = await repos.vms.findById(each.id);
        expect(read).toMatchObject({ state: 'starting', version: 3, updatedAt: at(2) });
        expect(moved.find((m) => m.id === each.id)).toEqual(read);
        expect((await eventsOf(each.id)).map((e) => [e.fromState, e.toState])).toEqual([
          [null, 'pending'],
          ['pending', 'scheduled'],
          ['scheduled', 'starting'],
        ]);
      }
      expect(await repos.vms.findById(c.id)).toMatchObject({ state: 'failed', version: 2 });
      expect(await eventsOf(c.id)).toHaveLength(2);
      expect(await repos.vms.transitionAll([], { from: 'pending', to: 'scheduled', at: at(3) })).toEqual([]);
    });

    it('stores the restart policy with the VM', async () => {
      const v = await vm({ restartPolicy: 'always' });
      expect((await repos.vms.findById(v.id))?.restartPolicy).toBe('always');
    });

    it('refuses a state change from a state the VM is no longer in with VM_BUSY', async () => {
      const v = await vm();
      await repos.vms.transition(v.id, { from: 'pending', to: 'starting', at: at(1) });
      expect(await codeOf(repos.vms.transition(v.id, { from: 'pending', to: 'starting', at: at(2) }))).toBe('VM_BUSY');
      expect(await eventsOf(v.id)).toHaveLength(2);
    });

    it('increments the version with every state change and types the events', async () => {
      const v = await vm();
      const starting = await repos.vms.transition(v.id, { from: 'pending', to: 'scheduled', at: at(1) });
      expect(starting.version).toBe(2);
      const events = await eventsOf(v.id);
      expect(events.map((e) => [e.type, e.hostId])).toEqual([
        ['vm.created', v.hostId],
        ['vm.state_changed', v.hostId],
      ]);
      expect(events[1]!.id).toBeGreaterThan(events[0]!.id);
    });

    it('changes state only at the version asked for, else PRECONDITION_FAILED and no event', async () => {
      const v = await vm();
      expect(await codeOf(repos.vms.transition(v.id, { from: 'pending', to: 'scheduled', at: at(1), ifVersion: 7 }))).toBe(
        'PRECONDITION_FAILED',
      );
      expect(await eventsOf(v.id)).toHaveLength(1);
      const changed = await repos.vms.transition(v.id, { from: 'pending', to: 'scheduled', at: at(1), ifVersion: 1 });
      expect(changed).toMatchObject({ state: 'scheduled', version: 2 });
    });

    it('stores the egress policy with the VM, allow all unless one was given', async () => {
      const policy = {
        mode: 'allow_list' as const,
        rules: [{ cidr: '203.0.113.0/24', protocol: 'tcp' as const, ports: [80, 443] }, { cidr: '10.0.0.0/8' }],
      };
      const plain = await vm();
      const narrowed = await vm({ egress: policy });
      expect((await repos.vms.findById(plain.id))?.egress).toEqual({ mode: 'allow_all' });
      expect((await repos.vms.findById(narrowed.id))?.egress).toEqual(policy);
    });

    it('stores the shared network with the VM, null unless one was given', async () => {
      const plain = await vm();
      const joined = await vm({ sharedNetwork: 'backend' });
      expect((await repos.vms.findById(plain.id))?.sharedNetwork).toBeNull();
      expect((await repos.vms.findById(joined.id))?.sharedNetwork).toBe('backend');
    });

    it('stores the published ports with the VM and answers which VMs publish a port, on which host', async () => {
      const web = await vm({ ports: [{ protocol: 'tcp', hostPort: 8080, guestPort: 80 }] });
      const dns = await vm({ ports: [{ protocol: 'udp', hostPort: 8080, guestPort: 53 }] });
      expect((await repos.vms.findById(web.id))?.ports).toEqual([{ protocol: 'tcp', hostPort: 8080, guestPort: 80 }]);
      expect(await repos.vms.takenPorts([{ protocol: 'tcp', hostPort: 8080, guestPort: 1 }])).toEqual([
        { hostId: web.hostId, protocol: 'tcp', hostPort: 8080, vmId: web.id },
      ]);
      expect((await repos.vms.takenPorts([{ protocol: 'udp', hostPort: 8080, guestPort: 1 }]))[0]?.vmId).toBe(dns.id);
      expect(await repos.vms.takenPorts([{ protocol: 'tcp', hostPort: 8081, guestPort: 1 }])).toEqual([]);
    });

    it('refuses a host port another VM publishes on the same host (HOST_PORT_TAKEN), not on another host; delete frees it', async () => {
      const port = { protocol: 'tcp' as const, hostPort: 2222, guestPort: 22 };
      const first = await vm({ ports: [port] });
      const again = vm({ hostId: first.hostId, ports: [{ ...port, guestPort: 23 }] });
      expect(await codeOf(again)).toBe('HOST_PORT_TAKEN');
      await vm({ ports: [port] });
      await repos.vms.delete(first.id, at(1));
      const reused = await vm({ hostId: first.hostId, ports: [port] });
      expect((await repos.vms.findById(reused.id))?.ports).toEqual([port]);
    });

    it('replaces the egress policy in any state, with a version and a vm.egress_changed event', async () => {
      const v = await vm({ state: 'running' });
      const changed = await repos.vms.setEgress(v.id, { egress: { mode: 'deny_all' }, at: at(2), ifVersion: 1 });
      expect(changed).toMatchObject({ state: 'running', version: 2, updatedAt: at(2), egress: { mode: 'deny_all' } });
      expect((await repos.vms.findById(v.id))?.egress).toEqual({ mode: 'deny_all' });
      const last = (await eventsOf(v.id)).at(-1);
      expect(last).toMatchObject({
        type: 'vm.egress_changed',
        vmId: v.id,
        hostId: v.hostId,
        project: 'default',
        fromState: null,
        toState: null,
        message: 'egress deny_all',
        at: at(2),
      });
    });

    it('replaces the egress policy only at the version asked for, else PRECONDITION_FAILED and no event; VM_NOT_FOUND when gone', async () => {
      const v = await vm();
      expect(await codeOf(repos.vms.setEgress(v.id, { egress: { mode: 'deny_all' }, at: at(1), ifVersion: 7 }))).toBe(
        'PRECONDITION_FAILED',
      );
      expect(await eventsOf(v.id)).toHaveLength(1);
      expect((await repos.vms.findById(v.id))?.egress).toEqual({ mode: 'allow_all' });
      expect(await codeOf(repos.vms.setEgress(ids.vmId(), { egress: { mode: 'deny_all' }, at: at(1) }))).toBe('VM_NOT_FOUND');
    });

    it('stores the rate limits with the VM and replaces them with a version and a vm.rate_limits_changed event', async () => {
      const limits = { networkRx: { bandwidth: { size: 1_000_000, oneTimeBurst: 0, refillTimeMs: 100 } } };
      const v = await vm({ state: 'running', rateLimits: limits });
      expect((await repos.vms.findById(v.id))?.rateLimits).toEqual(limits);
      const next = { drive: { ops: { size: 100, refillTimeMs: 1000 } } };
      const changed = await repos.vms.setRateLimits(v.id, { rateLimits: next, at: at(2), ifVersion: 1 });
      expect(changed).toMatchObject({ state: 'running', version: 2, updatedAt: at(2), rateLimits: next });
      expect((await repos.vms.findById(v.id))?.rateLimits).toEqual(next);
      expect((await eventsOf(v.id)).at(-1)).toMatchObject({
        type: 'vm.rate_limits_changed',
        vmId: v.id,
        message: 'rate limits on drive',
        at: at(2),
      });
      expect(await codeOf(repos.vms.setRateLimits(v.id, { rateLimits: {}, at: at(3), ifVersion: 1 }))).toBe(
        'PRECONDITION_FAILED',
      );
      expect(await eventsOf(v.id)).toHaveLength(2);
    });

    it('records what the Agent observed without changing the version, with an event only on a change', async () => {
      const v = await vm({ state: 'running' });
      const seen = await repos.vms.recordObservation(v.id, 'running', at(3));
      expect(seen).toMatchObject({ state: 'running', observedState: 'running', observedAt: at(3), version: 1 });
      await repos.vms.recordObservation(v.id, 'running', at(4));
      await repos.vms.recordObservation(v.id, 'exited', at(5));
      expect((await repos.vms.findById(v.id))?.observedAt).toEqual(at(5));
      const types = (await eventsOf(v.id)).map((e) => e.type);
      expect(types).toEqual(['vm.created', 'vm.observed_state_changed', 'vm.observed_state_changed']);
      const observedEvents = (await eventsOf(v.id)).filter((e) => e.type === 'vm.observed_state_changed');
      expect(observedEvents.map((e) => [e.message, e.at, e.hostId, e.project])).toEqual([
        ['observed nothing → running', at(3), v.hostId, v.project],
        ['observed running → exited', at(5), v.hostId, v.project],
      ]);
      expect(await repos.vms.recordObservation(ids.vmId(), 'running', at(6))).toBeUndefined();
    });

    it('records with a state change what the Agent answered of the VMM, its event after the step’s and only on a change', async () => {
      const v = await vm({ state: 'starting' });
      const running = await repos.vms.transition(v.id, { from: 'starting', to: 'running', at: at(3), observedState: 'running' });
      expect(running).toMatchObject({ state: 'running', observedState: 'running', observedAt: at(3), version: v.version + 1 });
      expect(await repos.vms.findById(v.id)).toMatchObject({ observedState: 'running', observedAt: at(3) });
      await repos.vms.transition(v.id, { from: 'running', to: 'pausing', at: at(4) });
      await repos.vms.transition(v.id, { from: 'pausing', to: 'paused', at: at(5), observedState: 'paused' });
      await repos.vms.recordObservation(v.id, 'paused', at(6));
      await repos.vms.transition(v.id, { from: 'paused', to: 'running', at: at(7), observedState: 'running' });
      await repos.vms.transition(v.id, { from: 'running', to: 'stopping', at: at(8), observedState: 'running' });
      const events = (await eventsOf(v.id)).slice(1).map((e) => [e.type, e.toState ?? e.message, e.at]);
      expect(events).toEqual([
        ['vm.state_changed', 'running', at(3)],
        ['vm.observed_state_changed', 'observed nothing → running', at(3)],
        ['vm.state_changed', 'pausing', at(4)],
        ['vm.state_changed', 'paused', at(5)],
        ['vm.observed_state_changed', 'observed running → paused', at(5)],
        ['vm.state_changed', 'running', at(7)],
        ['vm.observed_state_changed', 'observed paused → running', at(7)],
        ['vm.state_changed', 'stopping', at(8)],
      ]);
      // A change refused (the VM is no longer `running`) records no observation either.
      expect(
        await codeOf(repos.vms.transition(v.id, { from: 'running', to: 'stopping', at: at(9), observedState: 'exited' })),
      ).toMatch(/^VM_/);
      expect(await repos.vms.findById(v.id)).toMatchObject({ observedState: 'running', observedAt: at(8) });
    });

    it('names the observation it replaced when two of one VM are recorded at once', async () => {
      const v = await vm({ state: 'running' });
      await Promise.all([
        repos.vms.recordObservation(v.id, 'running', at(3)),
        repos.vms.recordObservation(v.id, 'exited', at(4)),
      ]);
      const messages = (await eventsOf(v.id)).filter((e) => e.type === 'vm.observed_state_changed').map((e) => e.message);
      expect([
        ['observed nothing → running', 'observed running → exited'],
        ['observed nothing → exited', 'observed exited → running'],
      ]).toContainEqual(messages);
    });

    it('records that the Agent cannot read the record of a VM', async () => {
      const v = await vm({ state: 'running' });
      expect(await repos.vms.recordObservation(v.id, 'unreadable', at(3))).toMatchObject({ observedState: 'unreadable' });
      expect((await repos.vms.findById(v.id))?.observedState).toBe('unreadable');
    });

    it('counts VMs by state, leaving out states no VM is in', async () => {
      expect(await repos.vms.countByState()).toEqual(new Map());
      const a = await vm({ state: 'running' });
      const shared = { hostId: a.hostId, kernelImageId: a.kernelImageId, rootfsImageId: a.rootfsImageId };
      await vm({ ...shared, state: 'running' });
      await vm({ ...shared, state: 'failed' });
      expect(await repos.vms.countByState()).toEqual(
        new Map([
          ['running', 2],
          ['failed', 1],
        ]),
      );
    });

    it("lists one host's VMs by id, in every state, and none of another host's", async () => {
      const a = await vm({ state: 'running' });
      const shared = { hostId: a.hostId, kernelImageId: a.kernelImageId, rootfsImageId: a.rootfsImageId };
      const b = await vm({ ...shared, state: 'failed' });
      const other = await host('node-other');
      await vm({ ...shared, hostId: other.id, state: 'running' });
      const onHost = await repos.vms.listOnHost(a.hostId);
      expect(onHost.map((x) => x.id)).toEqual([a.id, b.id]);
      expect(onHost.map((x) => [x.hostId, x.state])).toEqual([
        [a.hostId, 'running'],
        [a.hostId, 'failed'],
      ]);
      expect(await repos.vms.listOnHost(ids.hostId())).toEqual([]);
    });

    it('answers a state change of an unknown VM with VM_NOT_FOUND', async () => {
      expect(await codeOf(repos.vms.transition(ids.vmId(), { from: 'pending', to: 'starting', at: t0 }))).toBe('VM_NOT_FOUND');
    });

    it('deletes a VM, keeps its events and frees its name and images', async () => {
      const v = await vm();
      await repos.vms.delete(v.id, at(9));
      expect(await repos.vms.findById(v.id)).toBeUndefined();
      expect((await eventsOf(v.id)).at(-1)).toMatchObject({
        type: 'vm.deleted',
        hostId: v.hostId,
        fromState: 'pending',
        toState: null,
        message: 'deleted',
      });
      expect(await repos.vms.isImageInUse(v.kernelImageId)).toBe(false);
      await vm({ name: v.name, hostId: v.hostId, kernelImageId: v.kernelImageId, rootfsImageId: v.rootfsImageId });
    });

    it('answers the deletion of an unknown VM with VM_NOT_FOUND', async () => {
      expect(await codeOf(repos.vms.delete(ids.vmId(), t0))).toBe('VM_NOT_FOUND');
    });

    it('allocates a guest MAC no other VM has had: locally administered, unicast', async () => {
      const macs = await Promise.all(Array.from({ length: 20 }, () => repos.vms.allocateGuestMac()));
      expect(new Set(macs).size).toBe(20);
      for (const mac of macs) {
        expect(mac).toMatch(/^06(:[0-9a-f]{2}){5}$/);
        expect(mac.startsWith('06:00:')).toBe(false);
      }
    });

    it('gives a VM inserted without a guest MAC the next one, kept with it and written as allocateGuestMac writes it', async () => {
      const first = await vm();
      const shared = { hostId: first.hostId, kernelImageId: first.kernelImageId, rootfsImageId: first.rootfsImageId };
      const { guestMac: _given, ...template } = await vm(shared);
      const inserted = await repos.vms.insertAll(
        ['mac-a', 'mac-b'].map((name) => ({ ...template, id: ids.vmId(), name })),
        () => undefined,
      );
      const after = await repos.vms.allocateGuestMac();
      const macs = inserted.map((each) => each.guestMac);
      for (const mac of macs) expect(mac).toMatch(/^06(:[0-9a-f]{2}){5}$/);
      // Taken from one sequence: after the MAC allocated before them and before the one allocated after.
      const serial = (mac: string): number => Number.parseInt(mac.replaceAll(':', '').slice(2), 16);
      expect(serial(macs[0]!)).toBeGreaterThan(serial(first.guestMac));
      expect(serial(macs[1]!)).toBeGreaterThan(serial(macs[0]!));
      expect(serial(after)).toBeGreaterThan(serial(macs[1]!));
      for (const each of inserted) expect((await repos.vms.findById(each.id))?.guestMac).toBe(each.guestMac);
    });

    it('refuses a VM whose guest MAC another VM has', async () => {
      const first = await vm();
      const shared = { hostId: first.hostId, kernelImageId: first.kernelImageId, rootfsImageId: first.rootfsImageId };
      expect(await codeOf(vm({ ...shared, guestMac: first.guestMac }))).toBe('INTERNAL');
    });

    it('keeps the guest MAC with the VM', async () => {
      const created = await vm();
      expect((await repos.vms.findById(created.id))?.guestMac).toBe(created.guestMac);
    });

    it('pages VMs by id with a cursor', async () => {
      const first = await vm();
      const shared = { hostId: first.hostId, kernelImageId: first.kernelImageId, rootfsImageId: first.rootfsImageId };
      const created = [first];
      for (let i = 0; i < 4; i += 1) created.push(await vm(shared));
      const allIds = created.map((v) => v.id);
      const page1 = await repos.vms.list({ projects: everyProject }, { limit: 2 });
      expect(page1.items.map((v) => v.id)).toEqual(allIds.slice(0, 2));
      expect(page1.nextCursor).toBe(allIds[1]);
      const page2 = await repos.vms.list({ projects: everyProject }, { limit: 2, afterId: page1.nextCursor as VmId });
      expect(page2.items.map((v) => v.id)).toEqual(allIds.slice(2, 4));
      const page3 = await repos.vms.list({ projects: everyProject }, { limit: 2, afterId: page2.nextCursor as VmId });
      expect(page3).toEqual({ items: [expect.objectContaining({ id: allIds[4] })], nextCursor: null });
    });

    it('lists the VMs of one name only', async () => {
      const web = await vm({ name: 'web' });
      const shared = { hostId: web.hostId, kernelImageId: web.kernelImageId, rootfsImageId: web.rootfsImageId };
      await vm({ ...shared, name: 'web-2' });
      await vm({ ...shared, name: 'db' });
      const named = async (name: string) =>
        (await repos.vms.list({ projects: everyProject, name }, { limit: 10 })).items.map((v) => v.name);
      expect(await named('web')).toEqual(['web']);
      expect(await named('we')).toEqual([]);
      expect(await named('%')).toEqual([]);
    });

    it('shows the admission check what the host already holds', async () => {
      const a = await vm({ vcpuCount: 2, memoryMib: 512, state: 'running' });
      const shared = { hostId: a.hostId, kernelImageId: a.kernelImageId, rootfsImageId: a.rootfsImageId };
      const seen: unknown[] = [];
      const id = ids.vmId();
      await repos.vms.insert(
        {
          ...(await repos.vms.findById(a.id))!,
          ...shared,
          id,
          name: 'admitted',
          guestMac: await repos.vms.allocateGuestMac(),
          state: 'pending',
        },
        (held) => seen.push(held),
      );
      expect(seen).toEqual([{ vcpuCount: 2, memoryMib: 512 }]);
    });

    it("shows the admission check the host's standing as committed when it runs, a cordon since included", async () => {
      const a = await vm({ state: 'running' });
      const template = (await repos.vms.findById(a.id))!;
      const seen: unknown[] = [];
      const insertAs = async (name: string, hostId = a.hostId) =>
        repos.vms.insert(
          { ...template, hostId, id: ids.vmId(), name, guestMac: await repos.vms.allocateGuestMac() },
          (_held, _project, standing) => seen.push(standing),
        );
      await insertAs('before-cordon');
      await repos.hosts.setCordoned(a.hostId, true, t0);
      await insertAs('after-cordon');
      expect(seen).toEqual([
        { status: 'healthy', isCordoned: false },
        { status: 'healthy', isCordoned: true },
      ]);
    });

    it('admits concurrent inserts on one host one at a time, so none overbooks it', async () => {
      const a = await vm({ vcpuCount: 1, memoryMib: 128, state: 'running' });
      const template = (await repos.vms.findById(a.id))!;
      const macs = await Promise.all(Array.from({ length: 6 }, () => repos.vms.allocateGuestMac()));
      const attempts = macs.map((guestMac, index) => {
        const id = ids.vmId();
        return repos.vms.insert({ ...template, id, name: `burst-${index}`, guestMac, state: 'pending' }, (held) => {
          if (held.vcpuCount + 1 > 3) throw new AppError('HOST_NO_CAPACITY', 'full');
        });
      });
      const outcomes = await Promise.allSettled(attempts);
      expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(2);
      expect((await repos.vms.allocationsByHost([a.hostId])).get(a.hostId)).toEqual({ vcpuCount: 3, memoryMib: 384 });
    });

    it('writes nothing when the admission check refuses the VM', async () => {
      const a = await vm();
      const id = ids.vmId();
      const refused = repos.vms.insert({ ...a, id, name: 'refused', guestMac: await repos.vms.allocateGuestMac() }, () => {
        throw new AppError('HOST_NO_CAPACITY', 'full');
      });
      expect(await codeOf(refused)).toBe('HOST_NO_CAPACITY');
      expect(await repos.vms.findById(id)).toBeUndefined();
      expect(await eventsOf(id)).toEqual([]);
    });

    describe('address leases', () => {
      // 172.30.0.0/29: gateway .1, guest addresses .2 to .6.
      const pool = parseAddressPool('172.30.0.0/29') as AddressPool;
      const quarantineMs = 60_000;
      const ip = (text: string): number => parseIpv4(text)!;

      /** Inserts a VM leasing an address (the one given, else the lowest free), created at `createdAt`. */
      async function leased(template: Vm, options: { address?: string; createdAt?: Date; hostId?: Vm['hostId'] } = {}) {
        const id = ids.vmId();
        return repos.vms.insert(
          {
            ...template,
            id,
            name: `leased-${id.slice(-6).toLowerCase()}`,
            guestMac: await repos.vms.allocateGuestMac(),
            hostId: options.hostId ?? template.hostId,
            createdAt: options.createdAt ?? t0,
            updatedAt: options.createdAt ?? t0,
          },
          undefined,
          { pool, quarantineMs, address: options.address === undefined ? undefined : ip(options.address) },
        );
      }

      it('lists each VM as the VM read by id shows in a list, with every field set and with none', async () => {
        const plain = await vm({ createdAt: at(1), updatedAt: at(1) });
        const full = await leased(
          {
            ...plain,
            userData: '#cloud-config',
            bootArgs: 'console=ttyS0 quiet',
            egress: { mode: 'deny_list', rules: [{ cidr: '10.0.0.0/8', protocol: 'udp', ports: [53] }] },
            ports: [{ protocol: 'tcp', hostPort: 8443, guestPort: 443 }],
            sharedNetwork: 'backend',
            rateLimits: { networkRx: { bandwidth: { size: 1_000_000, oneTimeBurst: 0, refillTimeMs: 100 } } },
            isMetricsEnabled: true,
            restartPolicy: 'always',
            templateId: 'tpl_01JABCDEFGHJKMNPQRSTVWXYZ0' as Vm['templateId'],
            templateVersion: 3,
          },
          // A millisecond in each field of the instant, so that none is written short.
          { createdAt: new Date('2026-01-02T03:04:05.006Z') },
        );
        await repos.vms.transition(full.id, { from: 'pending', to: 'starting', at: at(2) });
        await repos.vms.transition(full.id, {
          from: 'starting',
          to: 'failed',
          at: new Date('2026-11-12T13:14:15.999Z'),
          steps: [
            { name: 'tap', durationMs: 1.5, at: new Date('2026-11-12T13:14:15.010Z') },
            { name: 'start', durationMs: 20, at: at(3) },
          ],
          totalMs: 12.25,
          failureReason: { code: 'AGENT_UNAVAILABLE', message: 'down' },
          message: 'down',
        });
        await repos.vms.recordObservation(full.id, 'exited', new Date('2026-11-12T13:14:16.100Z'));
        const read = await Promise.all([plain.id, full.id].map(async (id) => (await repos.vms.findById(id))!));
        const page = await repos.vms.list({ projects: everyProject }, { limit: 10 });
        expect(page.items).toEqual(read.map(vmListingOf));
        expect(page.items.map((listed) => Object.keys(listed).sort())).toEqual(
          read.map((v) => Object.keys(vmListingOf(v)).sort()),
        );
        expect(page.items[1]).toMatchObject({ observedAt: '2026-11-12T13:14:16.100Z', createdAt: '2026-01-02T03:04:05.006Z' });
      });

      it('leases the lowest free address with the gateway and DNS server of the pool, and keeps it with the VM', async () => {
        const template = await vm();
        const first = await leased(template);
        const second = await leased(template);
        expect(first.network).toEqual({
          ipAddress: '172.30.0.2',
          prefixLength: 29,
          gateway: '172.30.0.1',
          dnsServers: ['172.30.0.1'],
        });
        expect(second.network?.ipAddress).toBe('172.30.0.3');
        const moved = await repos.vms.transition(first.id, { from: 'pending', to: 'starting', at: at(1) });
        expect(moved.network).toEqual(first.network);
        expect((await repos.vms.findById(first.id))?.network).toEqual(first.network);
      });

      it('leases a free address asked for, and refuses one another VM holds with ADDRESS_TAKEN', async () => {
        const template = await vm();
        expect((await leased(template, { address: '172.30.0.5' })).network?.ipAddress).toBe('172.30.0.5');
        const refused = await rejection(leased(template, { address: '172.30.0.5' }));
        expect(refused).toMatchObject({ code: 'ADDRESS_TAKEN', details: { ipAddress: '172.30.0.5' } });
        expect((await leased(template)).network?.ipAddress).toBe('172.30.0.2');
      });

      it('leases the addresses never leased in order, around one asked for and after a refused insert', async () => {
        const template = await vm();
        expect((await leased(template)).network?.ipAddress).toBe('172.30.0.2');
        expect((await leased(template, { address: '172.30.0.4' })).network?.ipAddress).toBe('172.30.0.4');
        expect((await leased(template)).network?.ipAddress).toBe('172.30.0.3');
        // Refused after its address was chosen (the name is taken): that address is the next one's.
        const named = await leased(template);
        expect(named.network?.ipAddress).toBe('172.30.0.5');
        const again = { ...named, id: ids.vmId(), guestMac: await repos.vms.allocateGuestMac() };
        expect(await codeOf(repos.vms.insert(again, undefined, { pool, quarantineMs }))).toBe('VM_NAME_TAKEN');
        expect((await leased(template)).network?.ipAddress).toBe('172.30.0.6');
      });

      it('refuses the gateway and addresses outside the pool as invalid', async () => {
        const template = await vm();
        expect(await rejection(leased(template, { address: '172.30.0.1' }))).toMatchObject({
          code: 'VALIDATION_FAILED',
          errors: [expect.objectContaining({ field: 'body/ipAddress' })],
        });
        expect(await codeOf(leased(template, { address: '172.30.0.7' }))).toBe('VALIDATION_FAILED');
        expect(await codeOf(leased(template, { address: '10.0.0.2' }))).toBe('VALIDATION_FAILED');
      });

      it('quarantines a released address: not leased again, even when asked for, until the quarantine is over', async () => {
        const template = await vm();
        const first = await leased(template);
        await repos.vms.delete(first.id, at(10));
        expect((await leased(template, { createdAt: at(20) })).network?.ipAddress).toBe('172.30.0.3');
        expect(await rejection(leased(template, { address: '172.30.0.2', createdAt: at(20) }))).toMatchObject({
          code: 'ADDRESS_TAKEN',
          details: { ipAddress: '172.30.0.2', quarantinedUntil: at(70).toISOString() },
        });
        expect((await leased(template, { address: '172.30.0.2', createdAt: at(70) })).network?.ipAddress).toBe('172.30.0.2');
      });

      it('leases the address released longest ago once every address was leased, and answers ADDRESS_POOL_EXHAUSTED when none is free', async () => {
        const template = await vm();
        const all = [];
        for (let i = 0; i < 5; i += 1) all.push(await leased(template));
        expect(all.map((v) => v.network?.ipAddress)).toEqual(['.2', '.3', '.4', '.5', '.6'].map((end) => `172.30.0${end}`));
        expect(await codeOf(leased(template))).toBe('ADDRESS_POOL_EXHAUSTED');
        await repos.vms.delete(all[3]!.id, at(5));
        await repos.vms.delete(all[1]!.id, at(6));
        expect(await codeOf(leased(template, { createdAt: at(30) }))).toBe('ADDRESS_POOL_EXHAUSTED');
        expect((await leased(template, { createdAt: at(66) })).network?.ipAddress).toBe('172.30.0.5');
        expect((await leased(template, { createdAt: at(66) })).network?.ipAddress).toBe('172.30.0.3');
      });

      it('leases nothing when the admission check refuses the VM', async () => {
        const template = await vm();
        const refused = repos.vms.insert(
          { ...template, id: ids.vmId(), name: 'refused', guestMac: await repos.vms.allocateGuestMac() },
          () => {
            throw new AppError('HOST_NO_CAPACITY', 'full');
          },
          { pool, quarantineMs },
        );
        expect(await codeOf(refused)).toBe('HOST_NO_CAPACITY');
        expect((await leased(template)).network?.ipAddress).toBe('172.30.0.2');
      });

      it('inserts several VMs all or none, each with its own address, and admits them with one look at the host', async () => {
        const template = await vm();
        const batch = async (names: readonly string[]) =>
          Promise.all(
            names.map(async (name) => ({ ...template, id: ids.vmId(), name, guestMac: await repos.vms.allocateGuestMac() })),
          );
        let admissions = 0;
        const inserted = await repos.vms.insertAll(await batch(['a-1', 'a-2', 'a-3']), () => (admissions += 1), {
          pool,
          quarantineMs,
        });
        expect(admissions).toBe(1);
        expect(inserted.map((v) => v.network?.ipAddress)).toEqual(['.2', '.3', '.4'].map((end) => `172.30.0${end}`));
        // Two addresses are left: three VMs are refused together, and none of them is inserted.
        expect(await codeOf(repos.vms.insertAll(await batch(['b-1', 'b-2', 'b-3']), undefined, { pool, quarantineMs }))).toBe(
          'ADDRESS_POOL_EXHAUSTED',
        );
        expect(await repos.vms.findByName(template.project, 'b-1')).toBeUndefined();
        expect((await leased(template)).network?.ipAddress).toBe('172.30.0.5');
      });

      it('never leases one address twice to concurrent inserts on different hosts', async () => {
        const template = await vm();
        const hosts = [template.hostId, (await host('node-b')).id, (await host('node-c')).id];
        const outcomes = await Promise.allSettled(
          Array.from({ length: 7 }, (_, index) => leased(template, { hostId: hosts[index % 3]! })),
        );
        const addresses = outcomes.flatMap((outcome) =>
          outcome.status === 'fulfilled' ? [outcome.value.network?.ipAddress] : [],
        );
        expect([...addresses].sort()).toEqual(['.2', '.3', '.4', '.5', '.6'].map((end) => `172.30.0${end}`));
        const refusals = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason] : []));
        expect(refusals.map((reason: unknown) => (reason as AppError).code)).toEqual([
          'ADDRESS_POOL_EXHAUSTED',
          'ADDRESS_POOL_EXHAUSTED',
        ]);
      });
    });

    it('sums the CPU and memory held per host by VMs that hold resources', async () => {
      const a = await vm({ vcpuCount: 2, memoryMib: 512 });
      const shared = { hostId: a.hostId, kernelImageId: a.kernelImageId, rootfsImageId: a.rootfsImageId };
      await vm({ ...shared, vcpuCount: 1, memoryMib: 256, state: 'running' });
      await vm({ ...shared, vcpuCount: 8, memoryMib: 8192, state: 'stopped' });
      await vm({ ...shared, vcpuCount: 8, memoryMib: 8192, state: 'failed' });
      const allocations = await repos.vms.allocationsByHost();
      expect(allocations.get(a.hostId)).toEqual({ vcpuCount: 3, memoryMib: 768 });
      expect(allocations.size).toBe(1);
    });

    it('counts a VM on its host in exactly the resource-holding states, whether inserted or moved there', async () => {
      const a = await vm({ vcpuCount: 1, memoryMib: 64, state: 'stopped' });
      const shared = { hostId: a.hostId, kernelImageId: a.kernelImageId, rootfsImageId: a.rootfsImageId };
      const held = async () => (await repos.vms.allocationsByHost([a.hostId])).get(a.hostId) ?? { vcpuCount: 0, memoryMib: 0 };
      // Inserted in each state: a VM holds its CPU and memory in the states the domain names, no other.
      let expected = 0;
      for (const [index, state] of vmStates.entries()) {
        await vm({ ...shared, state, vcpuCount: 1, memoryMib: 2 ** index });
        if (resourceHoldingStates.includes(state)) expected += 2 ** index;
        expect({ state, held: await held() }).toEqual({
          state,
          held: { vcpuCount: resourceHoldingStates.filter((s) => vmStates.indexOf(s) <= index).length, memoryMib: expected },
        });
      }
      // Moved through its life: it holds from pending until stopped, again once started, and not once
      // its delete began; its removal leaves the host's other VMs counted as they were.
      const before = await held();
      const moved = await vm({ ...shared, vcpuCount: 4, memoryMib: 4096 });
      const plus = (vcpuCount: number, memoryMib: number) => ({
        vcpuCount: before.vcpuCount + vcpuCount,
        memoryMib: before.memoryMib + memoryMib,
      });
      expect(await held()).toEqual(plus(4, 4096));
      const steps: [VmState, VmState, boolean][] = [
        ['pending', 'starting', true],
        ['starting', 'running', true],
        ['running', 'paused', true],
        ['paused', 'stopping', true],
        ['stopping', 'stopped', false],
        ['stopped', 'starting', true],
        ['starting', 'running', true],
        ['running', 'deleting', false],
      ];
      for (const [index, [from, to, holds]] of steps.entries()) {
        await repos.vms.transition(moved.id, { from, to, at: at(index + 1) });
        expect({ to, held: await held() }).toEqual({ to, held: holds ? plus(4, 4096) : before });
      }
      await repos.vms.delete(moved.id, at(20));
      expect(await held()).toEqual(before);
    });

    describe('projects', () => {
      it('keeps names unique per project, lists by project and records the project on VM events', async () => {
        await repos.projects.insert({ name: 'red', quota: unlimitedQuota, createdAt: t0 });
        const a = await vm({ name: 'web', project: 'default' });
        const b = await vm({ name: 'web', project: 'red' });
        expect(await codeOf(vm({ name: 'web', project: 'red' }))).toBe('VM_NAME_TAKEN');
        expect(await repos.vms.findByName('red', 'web')).toEqual(b);
        const listed = async (names: string[]) =>
          (await repos.vms.list({ projects: { kind: 'some', names } }, { limit: 10 })).items.map((v) => v.id);
        expect(await listed(['red'])).toEqual([b.id]);
        expect(await listed([])).toEqual([]);
        expect((await repos.vms.list({ projects: everyProject }, { limit: 10 })).items.map((v) => v.id)).toEqual([a.id, b.id]);
        const images = async (names: string[]) =>
          (await repos.images.list({ projects: { kind: 'some', names } }, { limit: 10 })).items.map((i) => i.project);
        expect(await images(['red'])).toContain('red');
        expect((await images(['red'])).every((project) => project === 'red')).toBe(true);
        await repos.vms.transition(b.id, { from: 'pending', to: 'scheduled', at: at(1) });
        await repos.vms.delete(b.id, at(2));
        expect((await eventsOf(b.id)).map((e) => e.project)).toEqual(['red', 'red', 'red']);
        const visible = async (names: string[], hostEvents: boolean) =>
          (await repos.events.list({ visibleTo: { projects: { kind: 'some', names }, hostEvents } }, { limit: 100 })).items;
        expect((await visible(['red'], false)).every((e) => e.vmId === b.id)).toBe(true);
        expect((await visible(['red'], false)).length).toBe(3);
        expect((await visible([], true)).every((e) => e.project === null && e.hostId !== null)).toBe(true);
      });

      it("shows admission what the VM's project holds and its quota, and refuses an unknown project", async () => {
        await repos.projects.insert({ name: 'red', quota: { maxVms: 5, maxVcpus: 8, maxMemoryMib: 4096 }, createdAt: t0 });
        const first = await vm({ project: 'red', vcpuCount: 2, memoryMib: 512, state: 'stopped' });
        const seen: ProjectHolding[] = [];
        await repos.vms.insert(
          { ...first, id: ids.vmId(), name: 'second', guestMac: await repos.vms.allocateGuestMac(), state: 'pending' },
          (_host, project) => seen.push(project),
        );
        expect(seen).toEqual([
          { quota: { maxVms: 5, maxVcpus: 8, maxMemoryMib: 4096 }, usage: { vms: 1, vcpus: 2, memoryMib: 512 } },
        ]);
        const refused = repos.vms.insert(
          { ...first, id: ids.vmId(), name: 'third', guestMac: await repos.vms.allocateGuestMac() },
          () => {
            throw new AppError('QUOTA_EXCEEDED', 'over');
          },
        );
        expect(await codeOf(refused)).toBe('QUOTA_EXCEEDED');
        expect((await repos.vms.list({ projects: everyProject }, { limit: 10 })).items).toHaveLength(2);
        // What a removed VM held is no longer the project's.
        await repos.vms.delete(first.id, at(5));
        seen.length = 0;
        await repos.vms.insert(
          { ...first, id: ids.vmId(), name: 'fifth', guestMac: await repos.vms.allocateGuestMac(), state: 'pending' },
          (_host, project) => seen.push(project),
        );
        expect(seen.map((holding) => holding.usage)).toEqual([{ vms: 1, vcpus: 2, memoryMib: 512 }]);
        const elsewhere = repos.vms.insert(
          { ...first, id: ids.vmId(), name: 'fourth', project: 'nowhere', guestMac: await repos.vms.allocateGuestMac() },
          () => undefined,
        );
        expect(['PROJECT_NOT_FOUND', 'IMAGE_NOT_FOUND']).toContain(await codeOf(elsewhere));
      });
    });
  });
}
