import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { holdsRuntimeResources, type AgentVm, type Inventory } from '@hearth/contracts';
import { isAppError } from '@hearth/errors';
import type { Host, HostStatus } from '../../domain/host.js';
import type { HostId, VmId } from '../../domain/ids.js';
import {
  decideReconcileAction,
  needsReconcile,
  observedStateOf,
  type ReconcileAction,
  type ReconcileInput,
  type RetryState,
  type VmObservation,
} from '../../domain/reconcile-decision.js';
import { vmStates } from '../../domain/vm-state.js';
import type { Vm } from '../../domain/vm.js';
import type { ReconcileHints } from '../ports/reconcile-hints.js';
import { expireSnapshots } from '../use-cases/expire-snapshots.js';
import type { VmResyncView } from '../ports/reconcile-state-repository.js';
import { settleSnapshotCopies } from '../use-cases/snapshot-copies.js';
import { listCreatingSnapshots, settleSnapshots } from '../use-cases/snapshots.js';
import type { Snapshot, SnapshotCopy } from '../../domain/snapshot.js';
import { HostHealth } from './host-health.js';
import { InventoryCache } from './inventory-cache.js';
import { KeyedWorkQueue } from './keyed-work-queue.js';
import { OrphanCollector } from './orphan-collector.js';
import type { ReconcilerDependencies, ReconcilerSettings } from './reconciler-dependencies.js';
import { Restarts } from './restarts.js';
import { Retries } from './retries.js';
import { VmActions } from './vm-actions.js';

/** The reconciler's backlog: VMs waiting or being reconciled, and how long the oldest has waited. */
export interface ReconcileQueueStats {
  readonly depth: number;
  /** 0 when nothing waits. */
  readonly oldestWaitMs: number;
}

/** What one resync found and did, for logs and tests. */
export interface ResyncReport {
  readonly hostsMarkedUnhealthy: number;
  readonly hostsWithoutInventory: number;
  readonly orphansRemoved: number;
  readonly vmsQueued: number;
}

/**
 * Hosts whose inventory a resync reads at once. Every host at once meant, at 1,000 hosts, 1,000 TLS
 * handshakes and answers arriving together: the leader's event loop stalled past the reads' own
 * timeout, every read failed, heartbeats waited behind them and hosts were marked unhealthy.
 */
export const inventoryReadsInFlight = 32;

/**
 * VMs a resync compares between two turns of the event loop. A resync's comparisons of 100,000 VMs
 * (and each host's orphan check) would otherwise run as one block of the leader's event loop, with
 * every heartbeat and API request arriving meanwhile waiting for its end.
 */
const vmsBetweenYields = 1_000;

/** Reads of one host's inventory for one VM whose record changed after each read was asked for. */
const maxInventoryReads = 3;

/**
 * The level-triggered reconciler: it compares every VM record with what its host's Agent holds and
 * moves one toward the other. Triggers are only hints (a resync at start, a periodic resync, a
 * create or delete, a host coming back): each VM is reconciled from scratch, by one worker at a
 * time (a de-duplicating queue keyed by VM id), and nothing is done on a host before its inventory
 * has been read. Retry state lives in the VM row, never in a sleeping promise.
 *
 * Only the leader runs it (see ReconcileLoop): until `activate()`, hints are ignored. Each unit of
 * work belongs to the term (one `activate()` to the next `deactivate()`) it started in, and checks
 * that this term still runs before each step: a reconciler that has lost leadership, even one that
 * has led again since, never acts on what it read while leading before.
 */
export class Reconciler implements ReconcileHints {
  private readonly queue: KeyedWorkQueue<VmId>;
  private readonly inventories: InventoryCache;
  private readonly hostHealth: HostHealth;
  private readonly orphans: OrphanCollector;
  private readonly actions: VmActions;
  private isActive = false;
  /** Counts `activate()` and `deactivate()` calls: work started in an earlier term stops acting. */
  private term = 0;
  /** Host reconciles under way, so `idle()` and a stop wait for them too. */
  private readonly hostWork = new Set<Promise<void>>();

  constructor(
    private readonly deps: ReconcilerDependencies,
    private readonly settings: ReconcilerSettings,
  ) {
    this.inventories = new InventoryCache(deps, settings.inventoryMaxAgeMs);
    this.hostHealth = new HostHealth(deps, settings.heartbeatIntervalMs);
    this.orphans = new OrphanCollector(deps, settings.orphanGuard);
    const retries = new Retries(deps, settings.retry);
    this.actions = new VmActions(deps, new Restarts(deps, settings.retry, retries), retries);
    this.queue = new KeyedWorkQueue<VmId>(async (vmId) => void (await this.reconcileVm(vmId)), {
      concurrency: settings.concurrency,
      nowMs: () => deps.clock.now().getTime(),
      onError: (vmId, error) =>
        deps.log.warn({ vmId, code: isAppError(error) ? error.code : 'INTERNAL', err: error }, 'vm reconcile failed'),
    });
  }

  /** Starts acting on hints (this Manager leads). */
  activate(): void {
    if (this.isActive) return;
    this.hostHealth.startedLeading();
    this.isActive = true;
    this.term += 1;
  }

  /**
   * Stops taking work (leadership lost or shutting down): queued work is dropped, and work under
   * way stops before its next step (see `idle()` to wait for it).
   */
  deactivate(): void {
    if (this.isActive) this.term += 1;
    this.isActive = false;
    this.queue.clear();
    this.inventories.clear();
  }

  /** Resolves once no host and no VM is being reconciled. */
  async idle(): Promise<void> {
    while (this.hostWork.size > 0 || this.queue.size > 0) {
      await Promise.all(this.hostWork);
      await this.queue.idle();
    }
  }

  queueStats(): ReconcileQueueStats {
    const since = this.queue.oldestWaitingSinceMs();
    return { depth: this.queue.size, oldestWaitMs: since === undefined ? 0 : this.deps.clock.now().getTime() - since };
  }

  vmChanged(vmId: VmId): void {
    if (this.isActive) this.queue.add(vmId);
  }

  hostChanged(hostId: HostId): void {
    if (!this.isActive) return;
    this.inventories.forget(hostId);
    const work = this.reconcileHost(hostId)
      .catch((error: unknown) => this.deps.log.warn({ hostId, err: error }, 'host reconcile failed'))
      .finally(() => this.hostWork.delete(work));
    this.hostWork.add(work);
  }

  /**
   * One full pass: hosts whose heartbeat timed out become unhealthy, every reachable host's
   * inventory is read and its orphans removed, snapshots past their expiry are removed (see
   * `expireSnapshots`), and every VM that a reconcile would change is
   * queued (see `needsReconcile`). Resolves once the work is queued (not done: see `idle()`).
   */
  async resync(): Promise<ResyncReport> {
    const term = this.term;
    if (!this.isActive) return { hostsMarkedUnhealthy: 0, hostsWithoutInventory: 0, orphansRemoved: 0, vmsQueued: 0 };
    const now = this.deps.clock.now();
    const hosts = await this.deps.hosts.list();
    let hostsMarkedUnhealthy = 0;
    const current: Host[] = [];
    for (const host of hosts) {
      if (!this.isLeadingIn(term)) return { hostsMarkedUnhealthy, hostsWithoutInventory: 0, orphansRemoved: 0, vmsQueued: 0 };
      const marked = await this.hostHealth.markUnhealthyIfOverdue(host, now);
      if (marked !== undefined) hostsMarkedUnhealthy += 1;
      current.push(marked ?? host);
    }
    this.inventories.clear();
    const reachable = current.filter((host) => this.hostHealth.statusOf(host, now) === 'healthy');
    const inventories = await mapInFlight(reachable, inventoryReadsInFlight, async (host) => {
      const { at, read } = this.inventories.readOf(host, false);
      return { host, inventory: await read, askedAt: new Date(at) };
    });
    // Rows are read after the inventories: a VM on a host always has its row written first.
    const views = await this.deps.reconcileStates.listForResync(vmStates);
    const rows = new Map(views.map((view) => [view.vm.id, view.vm]));
    let orphansRemoved = 0;
    let hostsWithoutInventory = current.length - reachable.length;
    // Read once for every host, not once per host: most passes find none.
    const snapshotsOnRecord = await Promise.all([listCreatingSnapshots(this.deps), this.deps.snapshots.listAllCopies()]).catch(
      (error: unknown) => {
        this.deps.log.warn({ err: error }, 'snapshots unreadable; next pass settles them');
        return undefined;
      },
    );
    const copiesByHost = new Map<HostId, SnapshotCopy[]>();
    for (const copy of snapshotsOnRecord?.[1] ?? []) {
      const onHost = copiesByHost.get(copy.hostId);
      if (onHost === undefined) copiesByHost.set(copy.hostId, [copy]);
      else onHost.push(copy);
    }
    for (const { host, inventory, askedAt } of inventories) {
      if (inventory === undefined) {
        hostsWithoutInventory += 1;
        continue;
      }
      await yieldToEventLoop();
      orphansRemoved += await this.orphans.collect(host, inventory, rows, () => this.isLeadingIn(term));
      if (!this.isLeadingIn(term)) break;
      if (snapshotsOnRecord !== undefined) {
        await this.settleSnapshotsOf(host, { inventory, askedAt }, snapshotsOnRecord[0], copiesByHost.get(host.id) ?? []);
      }
    }
    if (!this.isLeadingIn(term)) return { hostsMarkedUnhealthy, hostsWithoutInventory, orphansRemoved, vmsQueued: 0 };
    await expireSnapshots(this.deps, () => this.isLeadingIn(term)).catch((error: unknown) => {
      this.deps.log.warn({ err: error }, 'expired snapshots not removed; next pass tries again');
    });
    if (!this.isLeadingIn(term)) return { hostsMarkedUnhealthy, hostsWithoutInventory, orphansRemoved, vmsQueued: 0 };
    const hostsById = new Map(current.map((host) => [host.id, host]));
    // Each inventory indexed by VM once, not searched once per VM.
    const inventoriesByHost = new Map(
      inventories.map(({ host, inventory }) => [
        host.id,
        inventory === undefined ? undefined : new Map(inventory.vms.map((agentVm) => [agentVm.vmId, agentVm])),
      ]),
    );
    const decidedAt = this.deps.clock.now();
    let vmsQueued = 0;
    for (const [index, { vm, retry }] of views.entries()) {
      if (index % vmsBetweenYields === vmsBetweenYields - 1) await yieldToEventLoop();
      if (!this.wouldChange(vm, hostsById.get(vm.hostId), inventoriesByHost, retry, decidedAt)) continue;
      this.queue.add(vm.id);
      vmsQueued += 1;
    }
    return { hostsMarkedUnhealthy, hostsWithoutInventory, orphansRemoved, vmsQueued };
  }

  /**
   * Reconciles one host now: its orphans, then each of its VMs (queued). Does nothing, and stops
   * between steps, unless this reconciler leads.
   */
  async reconcileHost(hostId: HostId): Promise<void> {
    const term = this.term;
    if (!this.isLeadingIn(term)) return;
    const host = await this.deps.hosts.findById(hostId);
    if (host === undefined || !this.isLeadingIn(term)) return;
    const inventory = await this.inventories.of(host);
    if (!this.isLeadingIn(term)) return;
    const vms = await this.deps.vms.listOnHost(host.id);
    if (!this.isLeadingIn(term)) return;
    if (inventory !== undefined) {
      await this.orphans.collect(host, inventory, new Map(vms.map((vm) => [vm.id, vm])), () => this.isLeadingIn(term));
    }
    if (!this.isLeadingIn(term)) return;
    for (const vm of vms) this.queue.add(vm.id);
  }

  /**
   * Reconciles one VM from scratch. Exposed for tests; normally run by the queue. Answers undefined,
   * having changed nothing, unless this reconciler leads from start to action.
   */
  async reconcileVm(vmId: VmId): Promise<ReconcileAction | undefined> {
    const term = this.term;
    if (!this.isLeadingIn(term)) return undefined;
    const before = await this.deps.vms.findById(vmId);
    if (before === undefined) return undefined;
    const host = await this.deps.hosts.findById(before.hostId);
    if (host === undefined) return undefined;
    const hostStatus = this.hostHealth.statusOf(host, this.deps.clock.now());
    let inventory: Inventory | undefined;
    let vm: Vm | undefined;
    for (let read = 1; ; read += 1) {
      const inventoryRead = hostStatus === 'healthy' ? this.inventories.readOf(host, read > 1) : undefined;
      inventory = await inventoryRead?.read;
      // Read again after the inventory, so the record is at least as new as what the host said.
      vm = await this.deps.vms.findById(vmId);
      // A record changed after the inventory was asked for (this reconciler's own restart, a request
      // that just started the VM) may be newer than what the host said: acting on the older answer
      // would take a VM that was just started for one whose VMM is gone, and restart it again.
      if (inventoryRead === undefined || vm === undefined || vm.updatedAt.getTime() <= inventoryRead.at) break;
      if (read === maxInventoryReads) {
        inventory = undefined; // it keeps changing under us: wait for the next hint or resync
        break;
      }
    }
    const retry = await this.deps.reconcileStates.get(vmId);
    if (vm === undefined || retry === undefined) return undefined;
    // Everything above only read; from here on it writes. A former leader leaves that to the new one.
    if (!this.isLeadingIn(term)) return undefined;
    const observed = inventory === undefined ? undefined : observationOf(inventory.vms.find((agentVm) => agentVm.vmId === vmId));
    if (observed !== undefined) await this.recordObservation(vm, observed.vmmState);
    const action = decideReconcileAction(this.decisionInput(vm, hostStatus, observed, retry, this.deps.clock.now()));
    if (action.kind !== 'none' && action.kind !== 'wait') {
      this.deps.log.info(
        { vmId, hostId: host.id, state: vm.state, observed: observed?.vmmState, action: action.kind },
        'reconcile action',
      );
    }
    await this.actions.act(action, vm, host, retry, observed);
    return action;
  }

  /** What reconciling the VM would do, from what has been read: the one decision both paths use. */
  private decisionInput(
    vm: VmResyncView['vm'],
    hostStatus: HostStatus,
    observed: VmObservation | undefined,
    retry: RetryState,
    now: Date,
  ): ReconcileInput & { readonly observedState: Vm['observedState'] } {
    return {
      state: vm.state,
      updatedAt: vm.updatedAt,
      observedState: vm.observedState,
      hostStatus,
      observed,
      retry,
      now,
      graceMs: this.settings.graceMs,
      retryPolicy: this.settings.retry,
      desired: { egress: vm.egress, rateLimits: vm.rateLimits },
    };
  }

  /** Whether reconciling the VM now would do anything (see `needsReconcile`), from a resync's reads. */
  private wouldChange(
    vm: VmResyncView['vm'],
    host: Host | undefined,
    inventories: ReadonlyMap<HostId, ReadonlyMap<string, AgentVm> | undefined>,
    retry: RetryState,
    now: Date,
  ): boolean {
    if (host === undefined) return false;
    const hostStatus = this.hostHealth.statusOf(host, now);
    const inventory = hostStatus === 'healthy' ? inventories.get(host.id) : undefined;
    const observed = inventory === undefined ? undefined : observationOf(inventory.get(vm.id));
    return needsReconcile(this.decisionInput(vm, hostStatus, observed, retry, now));
  }

  /**
   * Snapshots a Manager's crash or a lost answer left unsettled (see settleSnapshots), and copies of
   * snapshots whose records are gone (see settleSnapshotCopies); a failure waits for the next pass.
   */
  private async settleSnapshotsOf(
    host: Host,
    { inventory, askedAt }: { readonly inventory: Inventory; readonly askedAt: Date },
    creating: readonly Snapshot[],
    copiesHere: readonly SnapshotCopy[],
  ): Promise<void> {
    try {
      await settleSnapshots(this.deps, host, inventory, askedAt, this.settings.graceMs, creating);
      await settleSnapshotCopies(this.deps, host, inventory, askedAt, this.settings.graceMs, copiesHere);
    } catch (error) {
      this.deps.log.warn({ hostId: host.id, err: error }, 'settling snapshots failed; next pass retries');
    }
  }

  /** Whether this reconciler leads, in the term the work was started in. */
  private isLeadingIn(term: number): boolean {
    return this.isActive && this.term === term;
  }

  private async recordObservation(vm: Vm, vmmState: VmObservation['vmmState']): Promise<void> {
    const observed = observedStateOf(vmmState);
    if (vm.observedState === observed) return;
    await this.deps.vms.recordObservation(vm.id, observed, this.deps.clock.now());
  }
}

function observationOf(agentVm: AgentVm | undefined): VmObservation {
  if (agentVm === undefined) return { vmmState: 'no_record', holdsRuntimeResources: false };
  return {
    vmmState: agentVm.vmmState,
    holdsRuntimeResources: agentVm.holdsRuntimeResources ?? holdsRuntimeResources(agentVm.resources),
    vmmExit: agentVm.vmmExit,
    egress: agentVm.egress,
    rateLimits: agentVm.rateLimits,
  };
}

/** `items.map(job)`, in order, with at most `limit` jobs in flight. */
async function mapInFlight<T, R>(items: readonly T[], limit: number, job: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await job(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
