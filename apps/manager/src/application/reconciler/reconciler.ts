import { isAppError } from '@hearth/errors';
import { heartbeatToleranceIntervals, type Host, type HostStatus } from '../../domain/host.js';
import type { HostId, VmId } from '../../domain/ids.js';
import {
  decideReconcileAction,
  needsReconcile,
  observedStateOf,
  reconsiderAt,
  type ReconcileAction,
  type ReconcileInput,
  type RetryState,
  type VmObservation,
} from '../../domain/reconcile-decision.js';
import type { Vm } from '../../domain/vm.js';
import type { ReconcileHints } from '../ports/reconcile-hints.js';
import { expireSnapshots } from '../use-cases/expire-snapshots.js';
import type { VmResyncView } from '../ports/reconcile-state-repository.js';
import { settleSnapshotCopies } from '../use-cases/snapshot-copies.js';
import { listCreatingSnapshots, settleSnapshots } from '../use-cases/snapshots.js';
import type { Snapshot, SnapshotCopy } from '../../domain/snapshot.js';
import { EventLoopSlices } from './event-loop-slices.js';
import { FollowerInventoryReads } from './follower-inventory-reads.js';
import type { HeldAgentVm, HeldInventory } from './held-inventory.js';
import { HostHealth } from './host-health.js';
import { InventoryCache } from './inventory-cache.js';
import { KeyedWorkQueue } from './keyed-work-queue.js';
import { OrphanCollector } from './orphan-collector.js';
import type { ReconcilerDependencies, ReconcilerSettings } from './reconciler-dependencies.js';
import { Restarts } from './restarts.js';
import { ResyncRows } from './resync-rows.js';
import { ResyncSchedule, type HostBasis } from './resync-schedule.js';
import { Retries } from './retries.js';
import { VmActions } from './vm-actions.js';
import { VmEntryReads } from './vm-entry-reads.js';

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
  /**
   * Whether it compared every VM (else only what could have changed): a pass that read every row
   * (every `fullResyncEvery`-th, or nothing held) and one whose schedule was not whole (a term's
   * first pass with nothing followed, or after a comparison cut short). A term's first pass after
   * following compares only what could have changed since the follower's last comparison (ADR 0111).
   */
  readonly isFull: boolean;
  /** VM rows read from the database. */
  readonly vmsRead: number;
  /** VMs whose decision it worked out again. */
  readonly vmsCompared: number;
  /** Hosts whose inventory it asked their Agent for (a read answered 304 included). */
  readonly inventoriesRead: number;
  /** Hosts whose inventory it took as held, their last heartbeat having reported its tag. */
  readonly inventoriesHeld: number;
}

/**
 * How old, in heartbeat intervals, what a resync takes as a host's inventory without reading it may
 * be (ADR 0086): its earliest time is the heartbeat before the last one, between one and two
 * intervals old when heartbeats arrive on time. Two left no room for a heartbeat late by a few
 * hundred ms, and at load about two hosts in five were read again every pass, over HTTPS, by a
 * leader already short of a CPU; three is the tolerance a host's heartbeats have before it is
 * unhealthy, so a host is read again once its heartbeats are late by an interval (ADR 0103).
 */
export const heldInventoryMaxAgeIntervals = heartbeatToleranceIntervals;

/** Passes between two full ones: about a minute at the default interval of 5 s. */
export const defaultFullResyncEvery = 12;

/** What a follower read and compared in one interval (see `follow`). */
export interface FollowReport {
  /** VM rows read from the database (every row on the first, or after a failed check). */
  readonly vmsRead: number;
  /** Inventory reads it planned (started over the interval, a few at a time). */
  readonly inventoriesPlanned: number;
  /** VMs whose decision it worked out again (every VM the first time), queueing none. */
  readonly vmsCompared: number;
}

const nothingFollowed: FollowReport = { vmsRead: 0, inventoriesPlanned: 0, vmsCompared: 0 };

/**
 * A follower's inventory reads at once (see `FollowerInventoryReads`): few, so that a follower that
 * warms up beside a leader's first pass takes little of the cores they share.
 */
export const followerInventoryReadsInFlight = 2;

const nothingDone = {
  hostsMarkedUnhealthy: 0,
  hostsWithoutInventory: 0,
  orphansRemoved: 0,
  vmsQueued: 0,
  vmsRead: 0,
  vmsCompared: 0,
  inventoriesRead: 0,
  inventoriesHeld: 0,
};

/**
 * Hosts whose inventory a resync reads at once. Every host at once meant, at 1,000 hosts, 1,000 TLS
 * handshakes and answers arriving together: the leader's event loop stalled past the reads' own
 * timeout, every read failed, heartbeats waited behind them and hosts were marked unhealthy.
 */
export const inventoryReadsInFlight = 32;

/** Reads of what a host holds for one VM whose record changed after each read was asked for. */
const maxHostReads = 3;

/**
 * The level-triggered reconciler: it compares every VM record with what its host's Agent holds and
 * moves one toward the other. Triggers are only hints (a resync at start, a periodic resync, a
 * create or delete, a host coming back): each VM is reconciled from scratch, by one worker at a
 * time (a de-duplicating queue keyed by VM id), and nothing is done on a host before what it holds
 * has been read: by a resync or a host's reconcile, the host's whole inventory; by the reconcile
 * of one VM, that VM's entry (see `VmEntryReads`). Retry state lives in the VM row, never in a
 * sleeping promise.
 *
 * Only the leader runs it (see ReconcileLoop): until `activate()`, hints are ignored. Each unit of
 * work belongs to the term (one `activate()` to the next `deactivate()`) it started in, and checks
 * that this term still runs before each step: a reconciler that has lost leadership, even one that
 * has led again since, never acts on what it read while leading before. A follower keeps the rows
 * and inventories a pass compares warm, and the schedule of which VMs to compare (`follow`), and
 * acts on nothing.
 */
export class Reconciler implements ReconcileHints {
  private readonly queue: KeyedWorkQueue<VmId>;
  private readonly inventories: InventoryCache;
  private readonly entries: VmEntryReads;
  private readonly hostHealth: HostHealth;
  private readonly orphans: OrphanCollector;
  private readonly actions: VmActions;
  private readonly rows: ResyncRows;
  private readonly schedule = new ResyncSchedule();
  private readonly followerReads: FollowerInventoryReads;
  private isActive = false;
  /** The term's first pass has not compared yet: its refresh of the rows is checked. */
  private isFirstPassOfTerm = false;
  /** Counts `activate()` and `deactivate()` calls: work started in an earlier term stops acting. */
  private term = 0;
  /**
   * Each inventory held, indexed by VM once (only for the hosts compared), as long as it is held: a
   * full pass indexed all 100,000 VMs again, garbage for the next mark-compact (ADR 0091).
   */
  private readonly entriesIndexes = new WeakMap<HeldInventory, ReadonlyMap<string, HeldAgentVm>>();
  /** Host reconciles under way, so `idle()` and a stop wait for them too. */
  private readonly hostWork = new Set<Promise<void>>();

  constructor(
    private readonly deps: ReconcilerDependencies,
    private readonly settings: ReconcilerSettings,
  ) {
    this.inventories = new InventoryCache(
      deps,
      settings.inventoryMaxAgeMs,
      heldInventoryMaxAgeIntervals * settings.heartbeatIntervalMs,
    );
    this.entries = new VmEntryReads(deps, this.inventories);
    this.followerReads = new FollowerInventoryReads(this.inventories, followerInventoryReadsInFlight);
    this.hostHealth = new HostHealth(deps, settings.heartbeatIntervalMs);
    this.orphans = new OrphanCollector(deps, settings.orphanGuard);
    this.rows = new ResyncRows(deps.reconcileStates, settings.fullResyncEvery ?? defaultFullResyncEvery, (refresh) =>
      this.schedule.rowsRead(refresh),
    );
    const retries = new Retries(deps, settings.retry);
    this.actions = new VmActions(deps, new Restarts(deps, settings.retry, retries), retries);
    this.queue = new KeyedWorkQueue<VmId>(async (vmId) => void (await this.reconcileVm(vmId)), {
      concurrency: settings.concurrency,
      nowMs: () => deps.clock.now().getTime(),
      onError: (vmId, error) =>
        deps.log.warn({ vmId, code: isAppError(error) ? error.code : 'INTERNAL', err: error }, 'vm reconcile failed'),
    });
  }

  /**
   * Starts acting on hints (this Manager leads). The rows and inventories held while following (or
   * while leading before) are kept: rows are database state tracked by watermark, and a held
   * inventory is taken only when its host's last heartbeat names its tag (ADR 0107). So is the
   * schedule of which VMs to compare (ADR 0111): the term's first pass compares the VMs whose row,
   * host status or inventory changed since the last comparison, those it found needing work and
   * those come due (every VM when the schedule is not whole). The reads a reconcile may reuse start
   * empty.
   */
  activate(): void {
    if (this.isActive) return;
    this.followerReads.stop();
    this.hostHealth.startedLeading();
    this.isActive = true;
    this.term += 1;
    this.isFirstPassOfTerm = true;
    this.inventories.expireReads();
  }

  /**
   * Stops taking work (leadership lost or shutting down): queued work is dropped, and work under
   * way stops before its next step (see `idle()` to wait for it). What was held stays, to follow from.
   */
  deactivate(): void {
    if (this.isActive) this.term += 1;
    this.isActive = false;
    // Queued VMs stay on the schedule (found needing work), for the next comparison to find again.
    this.queue.clear();
    // No read of this term feeds a reconcile of another.
    this.inventories.expireReads();
  }

  /**
   * A follower's interval (ADR 0107): brings the rows' views up to date by watermark (every row the
   * first time) and plans the reads of the inventories whose tag, as the hosts' last heartbeats
   * report it, is not the one held: at most a `fullResyncEvery`-th of the hosts an interval, a few
   * at a time, so a follower warms up within about a minute. Then it compares, as a pass between
   * full ones does, the VMs that could have changed (every VM the first time) against each host's
   * status and the inventory a resync would take unread now (none when its tag is not held), and
   * keeps each outcome in the schedule (ADR 0111): the first pass of its term then compares only
   * what changed since. It queues nothing and writes nothing, to the database or to an Agent. Does
   * nothing while this reconciler leads.
   */
  async follow(): Promise<FollowReport> {
    if (this.isActive) return nothingFollowed;
    const hosts = await this.deps.hosts.list();
    if (this.isActive) return nothingFollowed;
    const budget = Math.ceil(hosts.length / (this.settings.fullResyncEvery ?? defaultFullResyncEvery));
    const inventoriesPlanned = this.followerReads.plan(hosts, budget);
    const slices = new EventLoopSlices(this.settings.sliceMs);
    const { read } = await this.rows.follow(slices);
    if (this.isActive) return { ...nothingFollowed, vmsRead: read.length, inventoriesPlanned };
    const decidedAt = this.deps.clock.now();
    const bases = hosts.map((host): HostBasis => {
      const status = this.hostHealth.statusOf(host, decidedAt);
      return {
        hostId: host.id,
        status,
        inventory: status === 'healthy' ? this.inventories.heldCurrent(host)?.inventory : undefined,
      };
    });
    const { vmsCompared } = await this.compare(bases, decidedAt, slices, () => !this.isActive);
    return { vmsRead: read.length, inventoriesPlanned, vmsCompared };
  }

  /** Resolves once no host and no VM is being reconciled, and no follower's read is under way. */
  async idle(): Promise<void> {
    await this.followerReads.idle();
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
   * One pass: hosts whose heartbeat timed out become unhealthy, every reachable host's inventory is
   * had (held, when the host's last heartbeat reported the tag of the one held; else read, a
   * conditional read: an Agent whose inventory has not changed answers 304) and its orphans removed, snapshots past their expiry are removed (see `expireSnapshots`), and every VM that a
   * reconcile would change is queued (see `needsReconcile`). Resolves once the work is queued (not
   * done: see `idle()`).
   *
   * Every `fullResyncEvery`-th pass reads every VM row and compares every VM, as does a first pass
   * with no rows held (a follower holds them, ADR 0107) or whose schedule is not whole (nothing
   * followed, a comparison cut short). The others, a term's first pass after following included
   * (ADR 0111), read only the rows written or deleted since the last refresh (see `ResyncRows`) and
   * compare only what could have changed since the last comparison, by either role (see
   * `ResyncSchedule`): VMs whose rows were read, the VMs of hosts whose status or inventory changed,
   * VMs whose time-based decision has come due, and those found needing work.
   */
  async resync(): Promise<ResyncReport> {
    const term = this.term;
    if (!this.isActive) return { ...nothingDone, isFull: false };
    const now = this.deps.clock.now();
    const hosts = await this.deps.hosts.list();
    let hostsMarkedUnhealthy = 0;
    const current: Host[] = [];
    for (const host of hosts) {
      if (!this.isLeadingIn(term)) return { ...nothingDone, isFull: false, hostsMarkedUnhealthy };
      const marked = await this.hostHealth.markUnhealthyIfOverdue(host, now);
      if (marked !== undefined) hostsMarkedUnhealthy += 1;
      current.push(marked ?? host);
    }
    this.inventories.expireReads();
    const reachable = current.filter((host) => this.hostHealth.statusOf(host, now) === 'healthy');
    // A host whose last heartbeat reported the tag of the inventory held is not read (ADR 0086).
    const inventories = await mapInFlight(reachable, inventoryReadsInFlight, async (host) => {
      const { at, read, isHeld } = this.inventories.forResync(host);
      return { host, inventory: await read, askedAt: new Date(at), isHeld };
    });
    const inventoriesHeld = inventories.filter(({ isHeld }) => isHeld).length;
    const inventoryCounts = { inventoriesRead: inventories.length - inventoriesHeld, inventoriesHeld };
    if (!this.isLeadingIn(term)) return { ...nothingDone, isFull: false, hostsMarkedUnhealthy, ...inventoryCounts };
    // The pass's long loops (rows applied, hosts' orphans, VMs compared) let the event loop turn every
    // few ms: run as one block, 100,000 VMs held every heartbeat and API request arriving meanwhile.
    const slices = new EventLoopSlices(this.settings.sliceMs);
    // Rows are read after the inventories: a VM on a host always has its row written first. The
    // term's first pass reads what changed since the rows held while following, counted.
    const { read, isFull } = await this.rows.refresh(slices, { isChecked: this.isFirstPassOfTerm });
    if (!this.isLeadingIn(term))
      return { ...nothingDone, isFull, hostsMarkedUnhealthy, vmsRead: read.length, ...inventoryCounts };
    const done = { hostsMarkedUnhealthy, isFull, vmsRead: read.length, ...inventoryCounts };
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
      await slices.turnIfDue();
      orphansRemoved += await this.orphans.collect(host, inventory, this.rows, () => this.isLeadingIn(term));
      if (!this.isLeadingIn(term)) break;
      if (snapshotsOnRecord !== undefined) {
        await this.settleSnapshotsOf(host, { inventory, askedAt }, snapshotsOnRecord[0], copiesByHost.get(host.id) ?? []);
      }
    }
    const found = { ...done, hostsWithoutInventory, orphansRemoved };
    if (!this.isLeadingIn(term)) return { ...found, vmsQueued: 0, vmsCompared: 0 };
    await expireSnapshots(this.deps, () => this.isLeadingIn(term)).catch((error: unknown) => {
      this.deps.log.warn({ err: error }, 'expired snapshots not removed; next pass tries again');
    });
    if (!this.isLeadingIn(term)) return { ...found, vmsQueued: 0, vmsCompared: 0 };
    const decidedAt = this.deps.clock.now();
    // Each host is judged by its heartbeats as they are when its VMs are compared: a pass over many
    // VMs can outlast the heartbeat tolerance, and hosts as listed at its start would then look
    // silent though they beat all along (every VM of theirs queued to be marked unknown).
    const judged =
      decidedAt.getTime() - now.getTime() < this.settings.heartbeatIntervalMs ? current : await this.deps.hosts.list();
    if (!this.isLeadingIn(term)) return { ...found, vmsQueued: 0, vmsCompared: 0 };
    // What each host's VMs are compared against: its status, and its inventory while it is healthy.
    const inventoryOf = new Map(inventories.map(({ host, inventory }) => [host.id, inventory]));
    const bases: HostBasis[] = judged.map((host) => {
      const status = this.hostHealth.statusOf(host, decidedAt);
      return { hostId: host.id, status, inventory: status === 'healthy' ? inventoryOf.get(host.id) : undefined };
    });
    this.isFirstPassOfTerm = false;
    // A VM queued by an earlier comparison that this one finds needing no work is taken back before
    // it starts: a host back from a silence would otherwise have each of its VMs, queued while it
    // was silent, reconciled (and read from its Agent) one by one ahead of any VM that needs work.
    const compared = await this.compare(
      bases,
      decidedAt,
      slices,
      () => this.isLeadingIn(term),
      (vmId, needsWork) => {
        if (needsWork) this.queue.add(vmId, { isRevocable: true });
        else this.queue.revoke(vmId);
      },
    );
    return { ...found, isFull: compared.isFull, vmsQueued: compared.vmsNeedingWork, vmsCompared: compared.vmsCompared };
  }

  /**
   * Works out again the decision of the VMs that could have changed (see `vmsToCompare`) against the
   * hosts' `bases` as of `decidedAt`, and keeps each outcome in the schedule; `decided` is told of
   * each VM a reconcile would change, and of each VM compared with its host's inventory that a
   * reconcile would leave as it is (not of one left waiting for want of an inventory). Every VM is
   * compared when the schedule is not whole (every row was read, nothing compared yet, a comparison
   * cut short). Stops, the schedule left not whole, once `isOn()` turns false.
   */
  private async compare(
    bases: readonly HostBasis[],
    decidedAt: Date,
    slices: EventLoopSlices,
    isOn: () => boolean,
    decided: (vmId: VmId, needsWork: boolean) => void = () => undefined,
  ): Promise<{ readonly isFull: boolean; readonly vmsCompared: number; readonly vmsNeedingWork: number }> {
    const started = this.schedule.startComparing();
    const isFull = !started.isWhole;
    const changedHosts = this.schedule.changedHosts(bases);
    const basisOf = new Map(bases.map((basis) => [basis.hostId, basis]));
    let vmsNeedingWork = 0;
    let vmsCompared = 0;
    for (const vmId of this.vmsToCompare(isFull, changedHosts, decidedAt)) {
      const view = this.rows.viewOf(vmId);
      if (view === undefined) continue; // deleted since it was scheduled
      if ((await slices.turnIfDue()) && !isOn()) return { isFull, vmsCompared, vmsNeedingWork };
      vmsCompared += 1;
      const basis = basisOf.get(view.vm.hostId);
      if (basis === undefined) {
        // No such host: nothing to compare with until it registers (its first pass compares its VMs).
        this.schedule.compared(vmId, { needsWork: false, reconsiderAtMs: undefined });
        continue;
      }
      const entries = basis.inventory === undefined ? undefined : this.entriesIndexOf(basis.inventory);
      const observed = entries === undefined ? undefined : observationOf(entries.get(vmId));
      const input = this.decisionInput(view.vm, basis.status, observed, view.retry, decidedAt);
      const isNeeded = needsReconcile(input);
      this.schedule.compared(vmId, {
        needsWork: isNeeded,
        reconsiderAtMs: isNeeded ? undefined : reconsiderAt(input)?.getTime(),
      });
      if (isNeeded || entries !== undefined) decided(vmId, isNeeded);
      if (isNeeded) vmsNeedingWork += 1;
    }
    if (isOn()) this.schedule.finished(started.epoch);
    return { isFull, vmsCompared, vmsNeedingWork };
  }

  /**
   * Every VM on a full comparison; else the VMs of rows read since the last one, found needing work by
   * it or come due (see `ResyncSchedule.takeDue`), and the VMs of the hosts that changed.
   */
  private vmsToCompare(isFull: boolean, changedHosts: readonly HostId[], now: Date): Iterable<VmId> {
    if (isFull) {
      this.schedule.forgetVms();
      // Not a copy of 100,000 ids made in one block: a change of term ends the iteration, as the
      // comparison ends then, and a refresh the other role starts meanwhile only adds or removes ids.
      return this.rows.ids();
    }
    const vmIds = new Set<VmId>(this.schedule.takeDue(now.getTime()));
    for (const hostId of changedHosts) for (const vmId of this.rows.vmsOn(hostId)) vmIds.add(vmId);
    return vmIds;
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
    let observed: VmObservation | undefined;
    let vm: Vm | undefined;
    // A held inventory serves when it was asked for after the record's last change; else the VM's own entry.
    let sinceMs = before.updatedAt.getTime();
    for (let read = 1; ; read += 1) {
      const entryRead = hostStatus === 'healthy' ? this.entries.readOf(host, vmId, sinceMs) : undefined;
      const answer = await entryRead?.read;
      observed = answer === undefined ? undefined : observationOf(answer.entry);
      // Read again after the host, so the record is at least as new as what the host said.
      vm = await this.deps.vms.findById(vmId);
      // A record changed after the host was asked (this reconciler's own restart, a request that just
      // started the VM) may be newer than what the host said: acting on the older answer would take a
      // VM that was just started for one whose VMM is gone, and restart it again.
      if (entryRead === undefined || vm === undefined || vm.updatedAt.getTime() <= entryRead.at) break;
      if (read === maxHostReads) {
        observed = undefined; // it keeps changing under us: wait for the next hint or resync
        break;
      }
      sinceMs = vm.updatedAt.getTime();
    }
    const retry = await this.deps.reconcileStates.get(vmId);
    if (vm === undefined || retry === undefined) return undefined;
    // A host silent when this reconcile started may have beaten since (the queue or a slow statement
    // held it up): acting on that status would mark its VM unknown just after it came back. The
    // heartbeat's hint, or the next pass (the host's status changed), reconciles the VM again.
    if (hostStatus !== 'healthy' && (await this.isBack(host))) return undefined;
    // Everything above only read; from here on it writes. A former leader leaves that to the new one.
    if (!this.isLeadingIn(term)) return undefined;
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

  /**
   * Snapshots a Manager's crash or a lost answer left unsettled (see settleSnapshots), and copies of
   * snapshots whose records are gone (see settleSnapshotCopies); a failure waits for the next pass.
   */
  private async settleSnapshotsOf(
    host: Host,
    { inventory, askedAt }: { readonly inventory: HeldInventory; readonly askedAt: Date },
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

  private entriesIndexOf(inventory: HeldInventory): ReadonlyMap<string, HeldAgentVm> {
    let entries = this.entriesIndexes.get(inventory);
    if (entries === undefined) {
      entries = new Map(inventory.vms.map((agentVm) => [agentVm.vmId, agentVm]));
      this.entriesIndexes.set(inventory, entries);
    }
    return entries;
  }

  /** Whether `host`, judged not healthy before, is healthy as it is stored now. */
  private async isBack(host: Host): Promise<boolean> {
    const stored = await this.deps.hosts.findById(host.id);
    return stored !== undefined && this.hostHealth.statusOf(stored, this.deps.clock.now()) === 'healthy';
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

function observationOf(agentVm: HeldAgentVm | undefined): VmObservation {
  if (agentVm === undefined) return { vmmState: 'no_record', holdsRuntimeResources: false };
  return {
    vmmState: agentVm.vmmState,
    holdsRuntimeResources: agentVm.holdsRuntimeResources,
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
