import { describe, expect, it } from 'vitest';
import { AppError } from '@hearth/errors';
import { createWorld, type World } from '../../testing/world.js';
import { vmIdFromUlid } from '../../domain/ids.js';
import { acceptVm, createVm, type CreateVmInput } from './create-vm.js';
import { rejection } from '../../testing/rejections.js';
import { RecentHostListing } from '../recent-host-listing.js';

async function setUp(): Promise<{ world: World; input: CreateVmInput }> {
  const world = createWorld();
  await world.addHost();
  const { kernel, rootfs } = await world.addImages();
  return {
    world,
    input: {
      project: 'default',
      name: 'web-1',
      vcpuCount: 1,
      memoryMib: 256,
      kernelImageId: kernel.id,
      rootfsImageId: rootfs.id,
    },
  };
}

describe('createVm', () => {
  it('creates a running VM with the steps the Agent reported', async () => {
    const { world, input } = await setUp();
    const vm = await createVm(world.deps, input);
    expect(vm.state).toBe('running');
    expect(vm.steps.map((s) => s.name)).toEqual(['tap', 'rootfs', 'spawn', 'start']);
    expect(vm.totalMs).toBe(0);
    expect(await world.repos.vms.findById(vm.id)).toMatchObject({ state: 'running' });
  });

  it('writes the row as pending before asking the Agent', async () => {
    const { world, input } = await setUp();
    let stateSeenByAgent: string | undefined;
    const apply = world.agents.applyVm.bind(world.agents);
    world.agents.applyVm = async (target, vmId, spec) => {
      stateSeenByAgent = (await world.repos.vms.findById(vmId))?.state;
      return apply(target, vmId, spec);
    };
    const vm = await createVm(world.deps, input);
    expect(stateSeenByAgent).toBe('starting');
    const events = await world.repos.events.list({ vmId: vm.id }, { limit: 100 });
    // Then what the Agent answered of the VMM, recorded with `running`.
    expect(events.items.map((e) => e.toState ?? e.type)).toEqual([
      'pending',
      'scheduled',
      'starting',
      'running',
      'vm.observed_state_changed',
    ]);
    expect(vm).toMatchObject({ state: 'running', observedState: 'running', observedAt: vm.updatedAt });
  });

  it('sends the Agent the resolved paths, the default boot args, the MAC, the address allocated to the VM and its egress policy', async () => {
    const { world, input } = await setUp();
    const vm = await createVm(world.deps, input);
    expect(world.agents.calls[0]?.spec).toEqual({
      vcpuCount: 1,
      memoryMib: 256,
      kernelPath: '/srv/images/vmlinux',
      rootfsSourcePath: '/srv/images/rootfs.ext4',
      bootArgs: 'console=ttyS0 reboot=k panic=1 pci=off',
      guestMac: vm.guestMac,
      isMetricsEnabled: false,
      egress: { mode: 'allow_all' },
      guest: {
        ipAddress: '172.30.0.2',
        prefixLength: 16,
        gateway: '172.30.0.1',
        dnsServers: ['172.30.0.1'],
        hostname: input.name,
      },
    });
    expect(vm.guestMac).toMatch(/^06(:[0-9a-f]{2}){5}$/);
  });

  it('gives two VMs different MACs even when a 32-bit hash of their ids collides', async () => {
    const { world, input } = await setUp();
    // These two ids have the same FNV-1a hash, which once was the MAC's last 4 bytes.
    const colliding = ['01JABCDEFG0000000000004A0Z', '01JABCDEFG000000000000X2TA'].map(vmIdFromUlid);
    const ids = {
      vmId: () => colliding.shift()!,
      imageId: () => world.deps.ids.imageId(),
      hostId: () => world.deps.ids.hostId(),
      credentialId: () => world.deps.ids.credentialId(),
      joinTokenId: () => world.deps.ids.joinTokenId(),
      tokenId: () => world.deps.ids.tokenId(),
      templateId: () => world.deps.ids.templateId(),
      snapshotId: () => world.deps.ids.snapshotId(),
    };
    const deps = { ...world.deps, ids };
    const a = await acceptVm(deps, { ...input, name: 'a' });
    const b = await acceptVm(deps, { ...input, name: 'b' });
    expect(a.guestMac).not.toBe(b.guestMac);
  });

  it('asks for a metrics FIFO when metrics are enabled', async () => {
    const world = createWorld({ isMetricsEnabled: true });
    await world.addHost();
    const { kernel, rootfs } = await world.addImages();
    let isMetricsAsked: boolean | undefined;
    const apply = world.agents.applyVm.bind(world.agents);
    world.agents.applyVm = async (target, vmId, spec) => {
      isMetricsAsked = spec.isMetricsEnabled;
      return apply(target, vmId, spec);
    };
    const vm = await createVm(world.deps, {
      project: 'default',
      name: 'm',
      vcpuCount: 1,
      memoryMib: 128,
      kernelImageId: kernel.id,
      rootfsImageId: rootfs.id,
    });
    expect(vm.isMetricsEnabled).toBe(true);
    expect(isMetricsAsked).toBe(true);
  });

  it('marks the VM failed with the reason and asks the Agent to clean up when the Agent fails', async () => {
    const { world, input } = await setUp();
    world.agents.failNext(
      'apply',
      new AppError('FIRECRACKER_REJECTED', 'Invalid kernel', { details: { faultMessage: 'Invalid kernel' } }),
    );
    const error = await rejection(createVm(world.deps, input));
    expect(error.code).toBe('FIRECRACKER_REJECTED');
    const vmId = error.details?.['vmId'] as string;
    const vm = await world.repos.vms.findByName('default', 'web-1');
    expect(vm?.id).toBe(vmId);
    expect(vm?.state).toBe('failed');
    expect(vm?.failureReason).toEqual({ code: 'FIRECRACKER_REJECTED', message: 'Invalid kernel' });
    expect(world.agents.calls.map((c) => c.operation)).toEqual(['apply', 'delete']);
  });

  it('records the failure before it cleans up, so a cleanup that fails too leaves the reason as the apply gave it', async () => {
    const { world, input } = await setUp();
    world.agents.failNext('apply', new AppError('AGENT_UNAVAILABLE', 'agent down'));
    world.agents.failNext('delete', new AppError('AGENT_UNAVAILABLE', 'still down'));
    let stateAtCleanup: string | undefined;
    const deleteVm = world.agents.deleteVm.bind(world.agents);
    world.agents.deleteVm = async (target, vmId) => {
      stateAtCleanup = (await world.repos.vms.findById(vmId))?.state;
      return deleteVm(target, vmId);
    };
    await rejection(createVm(world.deps, input));
    const vm = await world.repos.vms.findByName('default', 'web-1');
    expect(stateAtCleanup).toBe('failed');
    expect(vm?.failureReason).toEqual({ code: 'AGENT_UNAVAILABLE', message: 'agent down' });
  });

  it('undoes nothing, and answers the VM running, when another worker took it to running while its own apply failed', async () => {
    const { world, input } = await setUp();
    world.agents.failNext('apply', new AppError('VMM_SPAWN_FAILED', 'Firecracker exited before its API answered'));
    // The other worker (a reconciler past the grace, whose apply of the same VM succeeded) records
    // `running` just before this one records its failure.
    const transition = world.repos.vms.transition.bind(world.repos.vms);
    world.repos.vms.transition = async (id, change) => {
      if (change.to === 'failed') await transition(id, { from: 'starting', to: 'running', at: world.clock.now() });
      return transition(id, change);
    };
    const vm = await createVm(world.deps, input);
    expect(vm).toMatchObject({ state: 'running', failureReason: null });
    expect(world.agents.calls.map((c) => c.operation)).toEqual(['apply']);
  });

  it('rejects when no host has capacity, saying why for each host', async () => {
    const { world, input } = await setUp();
    const error = await rejection(createVm(world.deps, { ...input, vcpuCount: 32 }));
    expect(error.code).toBe('HOST_NO_CAPACITY');
    expect(error.details).toEqual({ hosts: [{ hostId: expect.stringMatching(/^host_/) as string, reason: 'insufficient_cpu' }] });
    expect(await world.repos.vms.findByName('default', 'web-1')).toBeUndefined();
    expect(world.agents.calls).toEqual([]);
  });

  it('counts the VMs already placed when checking capacity', async () => {
    const world = createWorld();
    await world.addHost({ capacity: { memoryMibTotal: 1024 } });
    const { kernel, rootfs } = await world.addImages();
    const base = { project: 'default', vcpuCount: 1, memoryMib: 512, kernelImageId: kernel.id, rootfsImageId: rootfs.id };
    await createVm(world.deps, { ...base, name: 'a' });
    await createVm(world.deps, { ...base, name: 'b' });
    expect((await rejection(createVm(world.deps, { ...base, name: 'c' }))).code).toBe('HOST_NO_CAPACITY');
  });

  it('does not let two concurrent creates overbook a host', async () => {
    const world = createWorld();
    await world.addHost({ capacity: { memoryMibTotal: 1024 } });
    const { kernel, rootfs } = await world.addImages();
    const base = { project: 'default', vcpuCount: 1, memoryMib: 768, kernelImageId: kernel.id, rootfsImageId: rootfs.id };
    const results = await Promise.allSettled([
      createVm(world.deps, { ...base, name: 'a' }),
      createVm(world.deps, { ...base, name: 'b' }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const rejected = results.find((r) => r.status === 'rejected');
    expect((rejected?.reason as AppError).code).toBe('HOST_NO_CAPACITY');
  });

  it('does not place VMs on a host whose heartbeat is stale', async () => {
    const { world, input } = await setUp();
    world.clock.advance(15_001);
    const error = await rejection(createVm(world.deps, input));
    expect(error.details).toMatchObject({ hosts: [{ reason: 'heartbeat_stale' }] });
  });

  it('places a VM on a host whose heartbeat is late while its Agent still answers', async () => {
    const { world, input } = await setUp();
    const [host] = await world.repos.hosts.list();
    world.clock.advance(15_001);
    world.deps.contacts.answered(host?.addr ?? '', world.clock.now());

    expect((await createVm(world.deps, input)).state).toBe('running');
  });

  it('refuses a host whose heartbeat is stale and whose Agent has not answered since either', async () => {
    const { world, input } = await setUp();
    const [host] = await world.repos.hosts.list();
    world.deps.contacts.answered(host?.addr ?? '', world.clock.now());
    world.clock.advance(15_001);

    const error = await rejection(createVm(world.deps, input));
    expect(error.details).toMatchObject({ hosts: [{ reason: 'heartbeat_stale' }] });
  });

  it('names the field of an unknown image', async () => {
    const { world, input } = await setUp();
    const error = await rejection(createVm(world.deps, { ...input, kernelImageId: 'img_01J00000000000000000000ZZZ' as never }));
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.errors).toEqual([{ field: 'body/kernelImageId', message: expect.stringContaining('no image') as string }]);
  });

  it('refuses a rootfs image given as the kernel', async () => {
    const { world, input } = await setUp();
    const error = await rejection(createVm(world.deps, { ...input, kernelImageId: input.rootfsImageId }));
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.errors?.[0]?.field).toBe('body/kernelImageId');
  });

  it('refuses a name already taken', async () => {
    const { world, input } = await setUp();
    await createVm(world.deps, input);
    expect((await rejection(createVm(world.deps, input))).code).toBe('VM_NAME_TAKEN');
  });

  it('refuses a name with shell metacharacters', async () => {
    const { world, input } = await setUp();
    const error = await rejection(createVm(world.deps, { ...input, name: 'a;reboot' }));
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(world.agents.calls).toEqual([]);
  });
});

describe('createVm with a host listing shared by the creates of one moment', () => {
  /** Two hosts, `roomy` chosen first (the most free memory), and creates that share listings up to a second old. */
  async function twoHosts() {
    const world = createWorld();
    const roomy = await world.addHost({ name: 'roomy', capacity: { memoryMibTotal: 65_536 } });
    const other = await world.addHost({ name: 'other' });
    const { kernel, rootfs } = await world.addImages();
    let listings = 0;
    const list = world.repos.hosts.list.bind(world.repos.hosts);
    world.repos.hosts.list = async () => {
      listings += 1;
      return list();
    };
    const recentHosts = new RecentHostListing(world.repos.hosts, world.clock, 1_000);
    const base = { project: 'default', vcpuCount: 1, memoryMib: 256, kernelImageId: kernel.id, rootfsImageId: rootfs.id };
    return { world, roomy, other, base, recentHosts, deps: { ...world.deps, recentHosts }, listings: () => listings };
  }

  it('lists the hosts once for creates that follow each other within its age', async () => {
    const { world, roomy, base, deps, listings } = await twoHosts();
    const a = await createVm(deps, { ...base, name: 'a' });
    world.clock.advance(500);
    const b = await createVm(deps, { ...base, name: 'b' });
    expect([a.hostId, b.hostId]).toEqual([roomy.id, roomy.id]);
    expect(listings()).toBe(1);
    world.clock.advance(501);
    await createVm(deps, { ...base, name: 'c' });
    expect(listings()).toBe(2);
  });

  it('places a VM elsewhere when the host it chose from the shared listing was cordoned since', async () => {
    const { world, roomy, other, base, deps, recentHosts, listings } = await twoHosts();
    await recentHosts.list();
    await world.repos.hosts.setCordoned(roomy.id, true, world.clock.now());
    const vm = await createVm(deps, { ...base, name: 'a' });
    expect(vm.hostId).toBe(other.id);
    // The shared listing, then one of its own after the admission found the cordon.
    expect(listings()).toBe(2);
    expect(world.agents.calls.map((call) => call.addr)).toEqual([other.addr]);
  });

  it('places a VM elsewhere when the host it chose from the shared listing was marked unhealthy since', async () => {
    const { world, roomy, other, base, deps, recentHosts } = await twoHosts();
    await recentHosts.list();
    const now = world.clock.now();
    const marked = await world.repos.hosts.markUnhealthy(roomy.id, {
      at: now,
      heartbeatBefore: new Date(now.getTime() + 1),
      message: 'no heartbeat',
    });
    expect(marked?.status).toBe('unhealthy');
    expect((await createVm(deps, { ...base, name: 'a' })).hostId).toBe(other.id);
  });

  it('refuses the VM, saying why, when no host takes it once the listing is read again', async () => {
    const { world, roomy, other, base, deps, recentHosts } = await twoHosts();
    await recentHosts.list();
    await world.repos.hosts.setCordoned(roomy.id, true, world.clock.now());
    await world.repos.hosts.setCordoned(other.id, true, world.clock.now());
    const error = await rejection(createVm(deps, { ...base, name: 'a' }));
    expect(error.code).toBe('HOST_NO_CAPACITY');
    expect(error.details).toEqual({
      hosts: [
        { hostId: roomy.id, reason: 'cordoned' },
        { hostId: other.id, reason: 'cordoned' },
      ],
    });
    expect(await world.repos.vms.findByName('default', 'a')).toBeUndefined();
  });
});
