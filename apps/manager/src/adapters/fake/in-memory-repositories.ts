import { AppError } from '@hearth/errors';
import type { ImageFilter, ImagePage, ImageRepository } from '../../application/ports/image-repository.js';
import {
  assertStatesOnlyChange,
  type Admit,
  type VmEgressChange,
  type VmRateLimitsChange,
  type NewVm,
  type VmListFilter,
  type VmPage,
  type VmRepository,
  type VmStateChange,
} from '../../application/ports/vm-repository.js';
import { canSeeProject } from '../../domain/access.js';
import type { ProjectUsage } from '../../domain/project.js';
import type { HostId, ImageId, SnapshotId, VmId } from '../../domain/ids.js';
import type { Image, ImageKind } from '../../domain/image.js';
import type { HostAllocation } from '../../domain/placement.js';
import { whyNotChanged, whyNotUpdated } from '../../domain/vm-errors.js';
import { whyVmNotDeletable } from '../../domain/vm-deletion.js';
import { egressChangeMessage } from '../../domain/egress.js';
import { rateLimitsChangeMessage } from '../../domain/rate-limits.js';
import { resourceHoldingStates, stepsAlong, type ObservedVmState, type VmState } from '../../domain/vm-state.js';
import { guestMacOf, mappedSnapshotAfter, vmListingOf, type Vm } from '../../domain/vm.js';
import { vmNetworkOf, type LeaseRequest } from '../../domain/address-pool.js';
import { chooseAddress } from '../../domain/address-lease.js';
import { hostPortTaken, type PublishedPort, type TakenPort } from '../../domain/published-ports.js';
import { InMemoryAuditLog } from './in-memory-audit-log.js';
import { InMemoryEventFeed, InMemoryEventRepository } from './in-memory-event-repository.js';
import { InMemoryIdempotencyRepository } from './in-memory-idempotency-repository.js';
import { InMemoryHostRepository } from './in-memory-host-repository.js';
import { InMemoryProjectRepository } from './in-memory-project-repository.js';
import { InMemoryReconcileStateRepository } from './in-memory-reconcile-state-repository.js';
import { InMemorySnapshotRepository } from './in-memory-snapshot-repository.js';
import { InMemoryTemplateRepository } from './in-memory-template-repository.js';
import { InMemoryTokenRepository } from './in-memory-token-repository.js';
import { Store } from './in-memory-store.js';
import { InMemoryTrustRepository } from './in-memory-trust-repository.js';
import { InMemoryCertificateAuthorityRepository } from './in-memory-certificate-authority-repository.js';

export { InMemoryHostRepository };

const byId = <T extends { id: string }>(a: T, b: T): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export class InMemoryVmRepository implements VmRepository {
  constructor(private readonly store: Store) {}

  async insert(vm: NewVm, admit?: Admit, lease?: LeaseRequest): Promise<Vm> {
    const [inserted] = await this.insertAll([vm], admit, lease);
    if (inserted === undefined) throw new Error('insertAll answered no VM');
    return inserted;
  }

  async insertAll(newVms: readonly NewVm[], admit?: Admit, lease?: LeaseRequest): Promise<Vm[]> {
    // Serials are taken before any check, as the sequence's are: a refused insert leaves a gap.
    const vms: Vm[] = newVms.map(({ via: _via, ...vm }) => ({ ...vm, guestMac: vm.guestMac ?? this.nextGuestMac() }));
    const [first] = vms;
    if (first === undefined) return [];
    if (vms.some((other) => other.hostId !== first.hostId || other.project !== first.project)) {
      throw new Error('insertAll takes VMs of one host and one project');
    }
    const existing = [...this.store.vms.values()];
    vms.forEach((vm, index) => {
      const earlier = vms.slice(0, index);
      if (this.store.vms.has(vm.id) || earlier.some((v) => v.id === vm.id)) throw new Error(`duplicate VM id ${vm.id}`);
      if ([...existing, ...earlier].some((v) => v.project === vm.project && v.name === vm.name)) {
        throw new AppError('VM_NAME_TAKEN', `A VM named ${vm.name} already exists`, { details: { name: vm.name } });
      }
      if ([...existing, ...earlier].some((v) => v.guestMac === vm.guestMac)) {
        throw new AppError('INTERNAL', 'A database query failed', { details: { guestMac: vm.guestMac } });
      }
      if (!this.store.hosts.has(vm.hostId)) throw new Error(`unknown host ${vm.hostId}`);
      if (!this.store.images.has(vm.kernelImageId) || !this.store.images.has(vm.rootfsImageId)) {
        throw new AppError('IMAGE_NOT_FOUND', 'An image of the VM does not exist');
      }
    });
    const project = this.store.projects.get(first.project);
    if (project === undefined)
      throw new AppError('PROJECT_NOT_FOUND', `No project named ${first.project}`, { details: { project: first.project } });
    const taken = vms.flatMap((vm) => this.takenOn(vm.hostId, vm.ports));
    if (taken.length > 0) throw hostPortTaken(taken);
    if (first.restoredFrom !== null) this.store.assertRestorable(first.restoredFrom.snapshotId);
    // No await between the check and the write: like the placement lock of the real adapter.
    const host = this.store.hosts.get(first.hostId);
    admit?.(
      this.allocationOf(first.hostId),
      { quota: project.quota, usage: this.usageOf(first.project) },
      host === undefined ? null : { status: host.status, isCordoned: host.isCordoned },
    );
    // Every address is chosen before any is leased: a refusal of one leases none, as a rollback would.
    const leases = new Map(this.store.addressLeases);
    const inserted = vms.map((vm) => {
      const chosen = lease === undefined ? undefined : chooseAddress(lease, leases, vm.createdAt);
      if (chosen !== undefined) leases.set(chosen.address, { vmId: vm.id, releasedAt: null });
      return lease === undefined || chosen === undefined ? vm : { ...vm, network: vmNetworkOf(lease.pool, chosen.address) };
    });
    for (const [address, held] of leases) this.store.addressLeases.set(address, held);
    inserted.forEach((vm, index) => {
      this.store.vms.set(vm.id, structuredClone(vm));
      const path = [...(newVms[index]?.via ?? []), vm.state];
      const common = { vmId: vm.id, hostId: vm.hostId, project: vm.project, at: vm.createdAt };
      this.store.recordEvent({
        ...common,
        type: 'vm.created',
        fromState: null,
        toState: path[0] ?? vm.state,
        message: 'created',
      });
      for (const step of stepsAlong(path)) {
        this.store.recordEvent({ ...common, type: 'vm.state_changed', fromState: step.from, toState: step.to, message: '' });
      }
    });
    return inserted.map((vm) => structuredClone(vm));
  }

  async allocateGuestMac(): Promise<string> {
    return this.nextGuestMac();
  }

  private nextGuestMac(): string {
    this.store.guestMacSerial += 1;
    return guestMacOf(this.store.guestMacSerial);
  }

  async takenPorts(ports: readonly PublishedPort[]): Promise<readonly TakenPort[]> {
    return [...this.store.vms.values()].flatMap((vm) => this.takenOn(vm.hostId, ports).filter((port) => port.vmId === vm.id));
  }

  /** The ports of `ports` that a VM on `hostId` publishes. */
  private takenOn(hostId: HostId, ports: readonly PublishedPort[]): TakenPort[] {
    return [...this.store.vms.values()]
      .filter((vm) => vm.hostId === hostId)
      .flatMap((vm) =>
        vm.ports
          .filter((held) => ports.some((port) => port.protocol === held.protocol && port.hostPort === held.hostPort))
          .map((held) => ({ hostId, protocol: held.protocol, hostPort: held.hostPort, vmId: vm.id })),
      );
  }

  async listAwaitingRestore(snapshotId: SnapshotId): Promise<readonly VmId[]> {
    return [...this.store.vms.values()]
      .filter(
        (vm) =>
          (vm.restoredFrom?.snapshotId === snapshotId && vm.totalMs === null) || vm.pendingRestore?.snapshotId === snapshotId,
      )
      .map((vm) => vm.id)
      .sort();
  }

  async findById(id: VmId): Promise<Vm | undefined> {
    const vm = this.store.vms.get(id);
    return vm === undefined ? undefined : structuredClone(vm);
  }

  async findByName(project: string, name: string): Promise<Vm | undefined> {
    const vm = [...this.store.vms.values()].find((v) => v.project === project && v.name === name);
    return vm === undefined ? undefined : structuredClone(vm);
  }

  async list(filter: VmListFilter, options: { limit: number; afterId?: VmId | undefined }): Promise<VmPage> {
    const after = options.afterId;
    const all = [...this.store.vms.values()]
      .sort(byId)
      .filter((vm) => canSeeProject(filter.projects, vm.project))
      .filter((vm) => filter.name === undefined || vm.name === filter.name)
      .filter((vm) => after === undefined || vm.id > after);
    const items = all.slice(0, options.limit).map((vm) => vmListingOf(structuredClone(vm)));
    const last = items.at(-1);
    return { items, nextCursor: all.length > options.limit && last !== undefined ? last.id : null };
  }

  async countByState(): Promise<ReadonlyMap<VmState, number>> {
    const counts = new Map<VmState, number>();
    for (const vm of this.store.vms.values()) counts.set(vm.state, (counts.get(vm.state) ?? 0) + 1);
    return counts;
  }

  async listOnHost(hostId: HostId): Promise<readonly Vm[]> {
    return [...this.store.vms.values()]
      .filter((vm) => vm.hostId === hostId)
      .sort(byId)
      .map((vm) => structuredClone(vm));
  }

  async transitionAll(ids: readonly VmId[], change: VmStateChange): Promise<Vm[]> {
    assertStatesOnlyChange(change);
    const moved: Vm[] = [];
    for (const id of ids) {
      if (this.store.vms.get(id)?.state === change.from) moved.push(await this.transition(id, change));
    }
    return moved;
  }

  async transition(id: VmId, change: VmStateChange): Promise<Vm> {
    const vm = this.store.vms.get(id);
    const isVersionOk = change.ifVersion === undefined || vm?.version === change.ifVersion;
    if (vm === undefined || vm.state !== change.from || !isVersionOk) throw whyNotChanged(id, change, vm);
    const path = [change.from, ...(change.via ?? []), change.to];
    if (change.pendingRestore != null) this.store.assertRestorable(change.pendingRestore.snapshotId);
    if (change.to === 'deleting') {
      const snapshots = [...this.store.snapshots.values()]
        .filter((snapshot) => snapshot.vmId === id && snapshot.state === 'ready')
        .sort((a, b) => a.id.localeCompare(b.id));
      const refusal = whyVmNotDeletable(
        id,
        snapshots.map((snapshot) => ({ snapshotId: snapshot.id, holders: this.store.holdersOf(snapshot.id) })),
      );
      if (refusal !== undefined) throw refusal;
    }
    const mapped = mappedSnapshotAfter(path, change.mappedSnapshotId);
    const updated: Vm = {
      ...vm,
      state: change.to,
      updatedAt: change.at,
      version: vm.version + 1 + (change.via?.length ?? 0),
      ...(change.failureReason === undefined ? {} : { failureReason: change.failureReason }),
      ...(change.steps === undefined ? {} : { steps: change.steps }),
      ...(change.totalMs === undefined ? {} : { totalMs: change.totalMs }),
      ...(change.pendingRestore === undefined ? {} : { pendingRestore: change.pendingRestore }),
      ...(mapped === undefined ? {} : { mappedSnapshotId: mapped }),
      ...(change.observedState === undefined ? {} : { observedState: change.observedState, observedAt: change.at }),
    };
    this.store.vms.set(id, structuredClone(updated));
    for (let step = 1; step < path.length; step++) {
      this.store.recordEvent({
        type: 'vm.state_changed',
        vmId: id,
        hostId: vm.hostId,
        project: vm.project,
        at: change.at,
        fromState: path[step - 1] ?? null,
        toState: path[step] ?? null,
        message: change.message ?? '',
      });
    }
    if (change.observedState !== undefined) this.recordObservedChange(vm, change.observedState, change.at);
    return structuredClone(updated);
  }

  async setEgress(id: VmId, change: VmEgressChange): Promise<Vm> {
    return this.changeWithEvent(id, change, { egress: change.egress }, 'vm.egress_changed', egressChangeMessage(change.egress));
  }

  async setRateLimits(id: VmId, change: VmRateLimitsChange): Promise<Vm> {
    return this.changeWithEvent(
      id,
      change,
      { rateLimits: change.rateLimits },
      'vm.rate_limits_changed',
      rateLimitsChangeMessage(change.rateLimits),
    );
  }

  private changeWithEvent(
    id: VmId,
    change: { readonly at: Date; readonly ifVersion?: number | undefined },
    fields: Partial<Pick<Vm, 'egress' | 'rateLimits'>>,
    type: string,
    message: string,
  ): Vm {
    const vm = this.store.vms.get(id);
    if (vm === undefined || (change.ifVersion !== undefined && vm.version !== change.ifVersion)) {
      throw whyNotUpdated(id, change.ifVersion, vm);
    }
    const updated: Vm = { ...vm, ...fields, updatedAt: change.at, version: vm.version + 1 };
    this.store.vms.set(id, structuredClone(updated));
    this.store.recordEvent({
      type,
      vmId: id,
      hostId: vm.hostId,
      project: vm.project,
      at: change.at,
      fromState: null,
      toState: null,
      message,
    });
    return structuredClone(updated);
  }

  async recordObservation(id: VmId, observed: ObservedVmState, at: Date): Promise<Vm | undefined> {
    const vm = this.store.vms.get(id);
    if (vm === undefined) return undefined;
    const updated: Vm = { ...vm, observedState: observed, observedAt: at };
    this.store.vms.set(id, structuredClone(updated));
    this.recordObservedChange(vm, observed, at);
    return structuredClone(updated);
  }

  /** `vm.observed_state_changed` when `observed` differs from what `vm` (as it was) recorded. */
  private recordObservedChange(vm: Vm, observed: ObservedVmState, at: Date): void {
    if (vm.observedState === observed) return;
    this.store.recordEvent({
      type: 'vm.observed_state_changed',
      vmId: vm.id,
      hostId: vm.hostId,
      project: vm.project,
      at,
      fromState: null,
      toState: null,
      message: `observed ${vm.observedState ?? 'nothing'} → ${observed}`,
    });
  }

  async delete(id: VmId, at: Date): Promise<void> {
    const vm = this.store.vms.get(id);
    if (vm === undefined) throw new AppError('VM_NOT_FOUND', `No VM with id ${id}`, { details: { vmId: id } });
    for (const [address, lease] of this.store.addressLeases) {
      if (lease.vmId === id) this.store.addressLeases.set(address, { vmId: null, releasedAt: at });
    }
    this.store.vms.delete(id);
    // Its snapshots went with its directory on the host (ON DELETE CASCADE in the real table), each with its event.
    const snapshots = [...this.store.snapshots.values()]
      .filter((snapshot) => snapshot.vmId === id)
      .sort((a, b) => (a.id < b.id ? -1 : 1));
    for (const snapshot of snapshots) {
      this.store.removeSnapshot(snapshot.id);
      this.store.recordEvent({
        type: 'snapshot.deleted',
        vmId: id,
        hostId: snapshot.hostId,
        project: snapshot.project,
        objectId: snapshot.id,
        at,
        fromState: null,
        toState: null,
        message: 'deleted with its VM',
      });
    }
    this.store.recordEvent({
      type: 'vm.deleted',
      vmId: id,
      hostId: vm.hostId,
      project: vm.project,
      at,
      fromState: vm.state,
      toState: null,
      message: 'deleted',
    });
  }

  async isImageInUse(imageId: ImageId): Promise<boolean> {
    return [...this.store.vms.values()].some((vm) => vm.kernelImageId === imageId || vm.rootfsImageId === imageId);
  }

  private usageOf(project: string): ProjectUsage {
    const usage = { vms: 0, vcpus: 0, memoryMib: 0 };
    for (const vm of this.store.vms.values()) {
      if (vm.project !== project) continue;
      usage.vms += 1;
      usage.vcpus += vm.vcpuCount;
      usage.memoryMib += vm.memoryMib;
    }
    return usage;
  }

  private allocationOf(hostId: HostId): HostAllocation {
    let vcpuCount = 0;
    let memoryMib = 0;
    for (const vm of this.store.vms.values()) {
      if (vm.hostId !== hostId || !resourceHoldingStates.includes(vm.state)) continue;
      vcpuCount += vm.vcpuCount;
      memoryMib += vm.memoryMib;
    }
    return { vcpuCount, memoryMib };
  }

  async allocationsByHost(hostIds?: readonly HostId[]): Promise<ReadonlyMap<HostId, HostAllocation>> {
    const result = new Map<HostId, HostAllocation>();
    for (const vm of this.store.vms.values()) {
      if (!resourceHoldingStates.includes(vm.state)) continue;
      if (hostIds !== undefined && !hostIds.includes(vm.hostId)) continue;
      const current = result.get(vm.hostId) ?? { vcpuCount: 0, memoryMib: 0 };
      result.set(vm.hostId, { vcpuCount: current.vcpuCount + vm.vcpuCount, memoryMib: current.memoryMib + vm.memoryMib });
    }
    return result;
  }
}

export class InMemoryImageRepository implements ImageRepository {
  constructor(private readonly store: Store) {}

  async insert(image: Image): Promise<void> {
    if (this.store.images.has(image.id)) throw new Error(`duplicate image id ${image.id}`);
    if (
      [...this.store.images.values()].some((i) => i.project === image.project && i.kind === image.kind && i.name === image.name)
    ) {
      throw new AppError('IMAGE_NAME_TAKEN', `A ${image.kind} image named ${image.name} already exists`, {
        details: { kind: image.kind, name: image.name },
      });
    }
    this.store.images.set(image.id, structuredClone(image));
  }

  async findById(id: ImageId): Promise<Image | undefined> {
    const image = this.store.images.get(id);
    return image === undefined ? undefined : structuredClone(image);
  }

  async findByIds(ids: readonly ImageId[]): Promise<Image[]> {
    return [...new Set(ids)].flatMap((id) => {
      const image = this.store.images.get(id);
      return image === undefined ? [] : [structuredClone(image)];
    });
  }

  async findByName(project: string, kind: ImageKind, name: string): Promise<Image | undefined> {
    const image = [...this.store.images.values()].find((i) => i.project === project && i.kind === kind && i.name === name);
    return image === undefined ? undefined : structuredClone(image);
  }

  async list(filter: ImageFilter, page: { limit: number; afterId?: ImageId | undefined }): Promise<ImagePage> {
    const needle = filter.nameContains?.toLowerCase();
    const matching = [...this.store.images.values()]
      .filter((i) => canSeeProject(filter.projects, i.project))
      .filter((i) => filter.kind === undefined || i.kind === filter.kind)
      .filter((i) => needle === undefined || i.name.toLowerCase().includes(needle))
      .filter((i) => page.afterId === undefined || i.id > page.afterId)
      .sort(byId);
    const items = matching.slice(0, page.limit).map((i) => structuredClone(i));
    const last = items.at(-1);
    return { items, nextCursor: matching.length > page.limit && last !== undefined ? last.id : null };
  }

  async delete(id: ImageId): Promise<void> {
    if (!this.store.images.has(id)) throw new AppError('IMAGE_NOT_FOUND', `No image with id ${id}`, { details: { imageId: id } });
    const inUse = [...this.store.vms.values(), ...this.store.templates.values()].some(
      (user) => user.kernelImageId === id || user.rootfsImageId === id,
    );
    if (inUse) throw new AppError('IMAGE_IN_USE', `Image ${id} is used by a VM or a template`, { details: { imageId: id } });
    this.store.images.delete(id);
  }
}

export interface InMemoryRepositories {
  readonly vms: InMemoryVmRepository;
  readonly images: InMemoryImageRepository;
  readonly templates: InMemoryTemplateRepository;
  readonly snapshots: InMemorySnapshotRepository;
  readonly hosts: InMemoryHostRepository;
  readonly events: InMemoryEventRepository;
  readonly eventFeed: InMemoryEventFeed;
  readonly idempotency: InMemoryIdempotencyRepository;
  readonly reconcileStates: InMemoryReconcileStateRepository;
  readonly trust: InMemoryTrustRepository;
  readonly certificateAuthorities: InMemoryCertificateAuthorityRepository;
  readonly tokens: InMemoryTokenRepository;
  readonly projects: InMemoryProjectRepository;
  readonly audit: InMemoryAuditLog;
}

/** Fresh, empty repositories that share one store. */
export function createInMemoryRepositories(
  tokens: InMemoryTokenRepository = new InMemoryTokenRepository(),
): InMemoryRepositories {
  const store = new Store();
  return {
    vms: new InMemoryVmRepository(store),
    images: new InMemoryImageRepository(store),
    templates: new InMemoryTemplateRepository(store),
    snapshots: new InMemorySnapshotRepository(store),
    hosts: new InMemoryHostRepository(store),
    events: new InMemoryEventRepository(store),
    eventFeed: new InMemoryEventFeed(store),
    idempotency: new InMemoryIdempotencyRepository(),
    reconcileStates: new InMemoryReconcileStateRepository(store),
    trust: new InMemoryTrustRepository(store),
    certificateAuthorities: new InMemoryCertificateAuthorityRepository(),
    tokens,
    projects: new InMemoryProjectRepository(store, tokens),
    audit: new InMemoryAuditLog(),
  };
}
