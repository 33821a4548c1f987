import type { AgentVm, Inventory } from '@hearth/contracts';
import { isAppError } from '@hearth/errors';
import { effectiveHostStatus, heartbeatToleranceIntervals, type Host, type HostStatus } from '../../domain/host.js';
import type { HostId, VmId } from '../../domain/ids.js';
import {
  decideReconcileAction,
  type ReconcileAction,
  type RetryState,
  type VmObservation,
} from '../../domain/reconcile-decision.js';
import { decideOrphanRemoval, defaultOrphanGuardPolicy, type OrphanGuardPolicy } from '../../domain/orphan-guard.js';
import {
  backoffMs,
  isPermanentFailure,
  shouldRestart,
  type RestartDecision,
  type RetryPolicy,
} from '../../domain/restart-policy.js';
import { vmStates, type ObservedVmState, type VmState } from '../../domain/vm-state.js';
import type { FailureReason, Vm } from '../../domain/vm.js';
import type { UseCaseDependencies } from '../dependencies.js';
import type { ReconcileHints } from '../ports/reconcile-hints.js';
import { applyVmOnHost, failureReasonOf, type AgentOutageHandling } from '../use-cases/apply-vm.js';
import { continueCreate } from '../use-cases/continue-create.js';
import { settleSnapshots } from '../use-cases/snapshots.js';
import { KeyedWorkQueue } from './keyed-work-queue.js';

export type ReconcilerDependencies = Pick<
  UseCaseDependencies,
  'vms' | 'hosts' | 'events' | 'agents' | 'clock' | 'log' | 'reconcileStates' | 'snapshots' | 'images'
>;

export interface ReconcilerSettings {
  readonly heartbeatIntervalMs: number;
  /** Transient states younger than this are left to the request that is moving the VM. */
  readonly graceMs: number;
  /** VMs reconciled side by side. */
  readonly concurrency: number;
  /** How long an inventory read stays good enough to act on. */
  readonly inventoryMaxAgeMs: number;
  readonly retry: RetryPolicy;
  /** How many of a host's VMs one pass may remove as orphans; default `defaultOrphanGuardPolicy`. */
  readonly orphanGuard?: OrphanGuardPolicy;
}

/** What one resync found and did, for logs and tests. */
export interface ResyncReport {
  readonly hostsMarkedUnhealthy: number;
  readonly hostsWithoutInventory: number;
  readonly orphansRemoved: number;
  readonly vmsQueued: number;
}

const runtimeKinds = new Set(['process', 'tap', 'socket', 'fifo']);
const createStates: ReadonlySet<VmState> = new Set(['pending', 'scheduled', 'starting']);

/** Reads of one host's inventory for one VM whose record changed after each read was asked for. */
const maxInventoryReads = 3;

/** An inventory read and when it was asked for (ms since the epoch, on the reconciler's clock). */
interface InventoryRead {
  readonly at: number;
  readonly read: Promise<Inventory | undefined>;
}

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
  private readonly inventories = new Map<HostId, InventoryRead>();
  private isActive = false;
  /** Counts `activate()` and `deactivate()` calls: work started in an earlier term stops acting. */
  private term = 0;
  /** Host reconciles under way, so `idle()` and a stop wait for them too. */
  private readonly hostWork = new Set<Promise<void>>();
  /** Per host, the orphan count last withheld (so its event is written once, not every pass). */
  private readonly withheldOrphans = new Map<HostId, number>();
  /** When this reconciler last started leading (ms since the epoch), for the heartbeat grace. */
  private activeSinceMs = 0;

  constructor(
    private readonly deps: ReconcilerDependencies,
    private readonly settings: ReconcilerSettings,
  ) {
    this.queue = new KeyedWorkQueue<VmId>(async (vmId) => void (await this.reconcileVm(vmId)), {
      concurrency: settings.concurrency,
      onError: (vmId, error) =>
        deps.log.warn({ vmId, code: isAppError(error) ? error.code : 'INTERNAL', err: error }, 'vm reconcile failed'),
    });
  }

  /** Starts acting on hints (this Manager leads). */
  activate(): void {
    if (this.isActive) return;
    this.activeSinceMs = this.deps.clock.now().getTime();
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

  vmChanged(vmId: VmId): void {
    if (this.isActive) this.queue.add(vmId);
  }

  hostChanged(hostId: HostId): void {
    if (!this.isActive) return;
    this.inventories.delete(hostId);
    const work = this.reconcileHost(hostId)
      .catch((error: unknown) => this.deps.log.warn({ hostId, err: error }, 'host reconcile failed'))
      .finally(() => this.hostWork.delete(work));
    this.hostWork.add(work);
  }

  /**
   * One full pass: hosts whose heartbeat timed out become unhealthy, every reachable host's
   * inventory is read and its orphans removed, and every VM that a reconcile would change is
   * queued (see `wouldChange`). Resolves once the work is queued (not done: see `idle()`).
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
      const marked = await this.markUnhealthyIfOverdue(host, now);
      if (marked !== undefined) hostsMarkedUnhealthy += 1;
      current.push(marked ?? host);
    }
    this.inventories.clear();
    const reachable = current.filter((host) => this.hostStatusOf(host, now) === 'healthy');
    const inventories = await Promise.all(reachable.map(async (host) => ({ host, inventory: await this.inventoryOf(host) })));
    // Rows are read after the inventories: a VM on a host always has its row written first.
    const vms = await this.deps.vms.listInStates(vmStates);
    const rows = new Map(vms.map((vm) => [vm.id, vm]));
    let orphansRemoved = 0;
    let hostsWithoutInventory = current.length - reachable.length;
    for (const { host, inventory } of inventories) {
      if (inventory === undefined) {
        hostsWithoutInventory += 1;
        continue;
      }
      orphansRemoved += await this.removeOrphans(host, inventory, rows, term);
      if (!this.isLeadingIn(term)) break;
      await this.settleSnapshotsOf(host, inventory);
    }
    if (!this.isLeadingIn(term)) return { hostsMarkedUnhealthy, hostsWithoutInventory, orphansRemoved, vmsQueued: 0 };
    const hostsById = new Map(current.map((host) => [host.id, host]));
    // Each inventory indexed by VM once, not searched once per VM.
    const inventoriesByHost = new Map(
      inventories.map(({ host, inventory }) => [
        host.id,
        inventory === undefined ? undefined : new Map(inventory.vms.map((agentVm) => [agentVm.vmId, agentVm])),
      ]),
    );
    const retries = await this.deps.reconcileStates.getMany(vms.map((vm) => vm.id));
    const decidedAt = this.deps.clock.now();
    let vmsQueued = 0;
    if (!this.isLeadingIn(term)) return { hostsMarkedUnhealthy, hostsWithoutInventory, orphansRemoved, vmsQueued };
    for (const vm of vms) {
      if (!this.wouldChange(vm, hostsById.get(vm.hostId), inventoriesByHost, retries.get(vm.id), decidedAt)) continue;
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
    const inventory = await this.inventoryOf(host);
    if (!this.isLeadingIn(term)) return;
    const vms = await this.deps.vms.listOnHost(host.id);
    if (!this.isLeadingIn(term)) return;
    if (inventory !== undefined) await this.removeOrphans(host, inventory, new Map(vms.map((vm) => [vm.id, vm])), term);
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
    const hostStatus = this.hostStatusOf(host, this.deps.clock.now());
    let inventory: Inventory | undefined;
    let vm: Vm | undefined;
    for (let read = 1; ; read += 1) {
      const inventoryRead = hostStatus === 'healthy' ? this.inventoryReadOf(host, read > 1) : undefined;
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
    const action = this.decide(vm, hostStatus, observed, retry, this.deps.clock.now());
    if (action.kind !== 'none' && action.kind !== 'wait') {
      this.deps.log.info(
        { vmId, hostId: host.id, state: vm.state, observed: observed?.vmmState, action: action.kind },
        'reconcile action',
      );
    }
    await this.act(action, vm, host, retry, observed);
    return action;
  }

  /** What reconciling the VM would do, from what has been read: the one decision both paths use. */
  private decide(
    vm: Vm,
    hostStatus: HostStatus,
    observed: VmObservation | undefined,
    retry: RetryState,
    now: Date,
  ): ReconcileAction {
    return decideReconcileAction({
      state: vm.state,
      updatedAt: vm.updatedAt,
      hostStatus,
      observed,
      retry,
      now,
      graceMs: this.settings.graceMs,
      retryPolicy: this.settings.retry,
    });
  }

  /**
   * Whether reconciling the VM now would do anything: act, record a new observation, or clear a
   * retry. A resync queues only those, so an idle installation costs a few reads per pass, not a
   * reconcile per VM; the queued ones are reconciled from scratch as before.
   */
  private wouldChange(
    vm: Vm,
    host: Host | undefined,
    inventories: ReadonlyMap<HostId, ReadonlyMap<string, AgentVm> | undefined>,
    retry: RetryState | undefined,
    now: Date,
  ): boolean {
    if (host === undefined || retry === undefined) return false;
    const hostStatus = this.hostStatusOf(host, now);
    const inventory = hostStatus === 'healthy' ? inventories.get(host.id) : undefined;
    const observed = inventory === undefined ? undefined : observationOf(inventory.get(vm.id));
    if (observed !== undefined && observedStateOf(observed.vmmState) !== vm.observedState) return true;
    const action = this.decide(vm, hostStatus, observed, retry, now);
    switch (action.kind) {
      case 'wait':
        return false;
      case 'none':
        return retry.attempt !== 0 && vm.state !== 'failed';
      default:
        return true;
    }
  }

  private async act(
    action: ReconcileAction,
    vm: Vm,
    host: Host,
    retry: RetryState,
    observed: VmObservation | undefined,
  ): Promise<void> {
    const { vms, agents, clock, reconcileStates } = this.deps;
    switch (action.kind) {
      case 'none':
        if (retry.attempt !== 0 && vm.state !== 'failed') await reconcileStates.clearRetry(vm.id);
        return;
      case 'wait':
        return;
      case 'mark_unknown':
        await vms.transition(vm.id, {
          from: vm.state,
          to: 'unknown',
          at: clock.now(),
          message: `host ${host.name} is unreachable (no heartbeat for ${heartbeatToleranceIntervals} intervals)`,
        });
        return;
      case 'quarantine':
        await vms.transition(vm.id, {
          from: vm.state,
          to: 'unknown',
          at: clock.now(),
          message: `host ${host.name} cannot read the record of the VM (VM_RECORD_UNREADABLE); its files are left on the host and the VM is left alone until an operator repairs the record`,
        });
        this.deps.log.error({ vmId: vm.id, hostId: host.id, from: vm.state, to: 'unknown' }, 'vm record unreadable on its host');
        return;
      case 'adopt':
        await vms.transition(vm.id, {
          from: 'unknown',
          to: action.to,
          at: clock.now(),
          message: `seen ${action.to} again on host ${host.name}`,
        });
        await reconcileStates.clearRetry(vm.id);
        return;
      case 'vmm_gone':
        await this.handleVmmGone(vm, host, retry, observed, action.restart);
        return;
      case 'guest_reboot':
        await this.restartAfterGuestReboot(vm, host, retry);
        return;
      case 'retry_start':
        await this.restart(vm, host, retry);
        return;
      case 'continue_create':
        await this.withRetry(vm, retry, async () => {
          const outage: AgentOutageHandling = action.isLastAttempt
            ? { onAgentUnavailable: 'fail', retries: retry.attempt + 1 }
            : { onAgentUnavailable: 'retry' };
          await continueCreate(this.deps, vm.id, { outage }).catch(async (error: unknown) => {
            if (isAppError(error) && error.code === 'AGENT_UNAVAILABLE' && !action.isLastAttempt) {
              // Still being created: the next attempt comes with backoff. Another worker (the
              // request) may have failed it meanwhile: a failed create is not retried as a restart.
              const current = await this.deps.vms.findById(vm.id);
              if (current !== undefined && createStates.has(current.state)) throw error;
              return undefined;
            }
            // The create is over: the VM is `failed` with the reason. Nothing more to retry here.
            if (isAppError(error) && error.code !== 'DATABASE_UNAVAILABLE' && error.code !== 'VM_BUSY') return undefined;
            throw error;
          });
        });
        return;
      case 'finish_stop':
        await this.withRetry(vm, retry, async () => {
          await ignoreNotFound(agents.stopVm(host, vm.id));
          await vms.transition(vm.id, {
            from: 'stopping',
            to: 'stopped',
            at: clock.now(),
            message: 'stop finished by the reconciler',
          });
        });
        return;
      case 'finish_delete':
        await this.withRetry(vm, retry, async () => {
          await ignoreNotFound(agents.deleteVm(host, vm.id));
          await vms.delete(vm.id, clock.now());
          this.deps.log.info({ vmId: vm.id, hostId: host.id }, 'vm deleted by the reconciler');
        });
        return;
      case 'release_runtime_resources':
        await ignoreNotFound(agents.stopVm(host, vm.id));
        this.deps.log.info({ vmId: vm.id, hostId: host.id, state: vm.state }, 'runtime resources of a non-running vm released');
        return;
    }
  }

  /**
   * Records why the VM stopped running, then restarts it at once, leaves the restart to a later
   * reconcile (crash-loop backoff; the VM holds nothing meanwhile), or leaves it failed.
   */
  private async handleVmmGone(
    vm: Vm,
    host: Host,
    retry: RetryState,
    observed: VmObservation | undefined,
    decision: RestartDecision,
  ): Promise<void> {
    const { clock, reconcileStates } = this.deps;
    const now = clock.now();
    const what =
      observed?.vmmState === 'no_record'
        ? `host ${host.name} has no record of the VM`
        : `the Firecracker process of the VM is ${observed?.vmmState ?? 'gone'}`;
    let reason: FailureReason = { code: 'VMM_NOT_RUNNING', message: what };
    let next: string;
    switch (decision.kind) {
      case 'restart': {
        const count = `restart ${decision.window.restarts} of ${this.settings.retry.crashLoopMaxRestarts} within ${seconds(this.settings.retry.crashLoopWindowMs)}`;
        next =
          decision.delayMs === 0
            ? `restarting (restart policy ${retry.restartPolicy}, ${count})`
            : `restarting in ${seconds(decision.delayMs)} (restart policy ${retry.restartPolicy}, ${count})`;
        // Counted before the VM is marked failed: a Manager crash in between leaves a restart that is due.
        await reconcileStates.recordCrash(vm.id, {
          window: decision.window,
          nextAttemptAt: new Date(now.getTime() + decision.delayMs),
        });
        break;
      }
      case 'crash_loop':
        reason = {
          code: 'VM_CRASH_LOOP',
          message: `${what}; it died after ${decision.restarts} restarts within ${seconds(decision.windowMs)}`,
        };
        next = `crash loop (VM_CRASH_LOOP): not restarted again (restart policy ${retry.restartPolicy}, ${decision.restarts} restarts within ${seconds(decision.windowMs)})`;
        break;
      case 'give_up':
        next = `not restarted (restart policy ${retry.restartPolicy})`;
        break;
    }
    const failed = await this.deps.vms.transition(vm.id, {
      from: vm.state,
      to: 'failed',
      at: now,
      failureReason: reason,
      message: `${what}; ${next}`,
    });
    this.deps.log.warn(
      {
        vmId: vm.id,
        hostId: host.id,
        from: vm.state,
        to: 'failed',
        restartPolicy: retry.restartPolicy,
        code: reason.code,
        decision: decision.kind,
      },
      decision.kind === 'crash_loop' ? 'vm crash loop: not restarted' : 'vmm gone',
    );
    if (decision.kind === 'restart' && decision.delayMs === 0) {
      await this.restart(failed, host, retry);
      return;
    }
    if (decision.kind !== 'restart') await reconcileStates.scheduleRetry(vm.id, { attempt: retry.attempt, nextAttemptAt: null });
    // A failed VM holds no process or TAP, also while it waits for a delayed restart.
    if (observed?.holdsRuntimeResources === true) await ignoreNotFound(this.deps.agents.stopVm(host, vm.id));
  }

  /**
   * `running → starting → running` on the same host after a reboot from inside the guest: no
   * failure recorded, nothing counted by the crash-loop guard. A failed start leaves the VM
   * `failed` (apply-vm) with its next attempt scheduled as for any restart.
   */
  private async restartAfterGuestReboot(vm: Vm, host: Host, retry: RetryState): Promise<void> {
    const { clock, reconcileStates } = this.deps;
    const starting = await this.deps.vms.transition(vm.id, {
      from: vm.state,
      to: 'starting',
      at: clock.now(),
      message: 'the guest rebooted (its Firecracker process exited with code 0): starting it again',
    });
    this.deps.log.info({ vmId: vm.id, hostId: host.id, from: vm.state, to: 'starting' }, 'vm restarting after a guest reboot');
    try {
      await applyVmOnHost(this.deps, starting, host, 'stop');
      await reconcileStates.clearRetry(vm.id);
    } catch (error) {
      const attempt = retry.attempt + 1;
      await reconcileStates.scheduleRetry(vm.id, { attempt, nextAttemptAt: this.nextAttemptAt(retry, attempt) });
      this.deps.log.warn(
        { vmId: vm.id, hostId: host.id, attempt, code: isAppError(error) ? error.code : 'INTERNAL' },
        'vm restart after a guest reboot failed',
      );
    }
  }

  /** `failed → starting → running` on the same host; a failure schedules the next attempt (or gives up). */
  private async restart(vm: Vm, host: Host, retry: RetryState): Promise<void> {
    const attempt = retry.attempt + 1;
    const { clock, reconcileStates } = this.deps;
    // Counted before trying: a Manager crash in the middle still uses up the attempt.
    await reconcileStates.scheduleRetry(vm.id, { attempt, nextAttemptAt: this.nextAttemptAt(retry, attempt) });
    try {
      const starting = await this.deps.vms.transition(vm.id, {
        from: 'failed',
        to: 'starting',
        at: clock.now(),
        message: `restart attempt ${attempt} by the reconciler`,
      });
      await applyVmOnHost(this.deps, starting, host, 'stop');
      await reconcileStates.clearRetry(vm.id);
      this.deps.log.info({ vmId: vm.id, hostId: host.id, attempt }, 'vm restarted');
    } catch (error) {
      const code = isAppError(error) ? error.code : 'INTERNAL';
      if (isPermanentFailure(code)) {
        // The VM is failed with this reason (applyVmOnHost wrote it): no retry can fix it.
        await reconcileStates.scheduleRetry(vm.id, { attempt, nextAttemptAt: null });
        this.deps.log.warn({ vmId: vm.id, hostId: host.id, attempt, code }, 'vm restart failed for good: not retried');
        return;
      }
      this.deps.log.warn({ vmId: vm.id, hostId: host.id, attempt, code }, 'vm restart failed');
    }
  }

  private nextAttemptAt(retry: RetryState, attempt: number): Date | null {
    if (!shouldRestart(retry.restartPolicy, attempt, this.settings.retry)) return null;
    return new Date(this.deps.clock.now().getTime() + Math.max(backoffMs(attempt + 1, this.settings.retry), 1));
  }

  /** Runs a step that may fail for a while (the Agent down): failures schedule a retry with backoff. */
  private async withRetry(vm: Vm, retry: RetryState, step: () => Promise<void>): Promise<void> {
    try {
      await step();
      await this.deps.reconcileStates.clearRetry(vm.id);
    } catch (error) {
      const attempt = retry.attempt + 1;
      const delayMs = Math.max(backoffMs(attempt + 1, this.settings.retry), 1);
      await this.deps.reconcileStates.scheduleRetry(vm.id, {
        attempt,
        nextAttemptAt: new Date(this.deps.clock.now().getTime() + delayMs),
      });
      const reason = failureReasonOf(error);
      this.deps.log.warn(
        { vmId: vm.id, state: vm.state, attempt, delayMs, code: reason.code },
        'vm reconcile step failed; will retry',
      );
    }
  }

  /**
   * A host's status as this reconciler may act on it. For one heartbeat timeout after it starts
   * leading, a late heartbeat proves nothing: no Manager may have been up to receive it (a restart,
   * a failover). Until then a host is judged by its stored status only, so a Manager restart does
   * not mark every host unhealthy and every VM unknown.
   */
  private hostStatusOf(host: Host, now: Date): HostStatus {
    const graceMs = heartbeatToleranceIntervals * this.settings.heartbeatIntervalMs;
    if (now.getTime() - this.activeSinceMs < graceMs) return host.status;
    return effectiveHostStatus(host, now, this.settings.heartbeatIntervalMs);
  }

  private async markUnhealthyIfOverdue(host: Host, now: Date): Promise<Host | undefined> {
    // Stored healthy, judged unhealthy: the heartbeat is overdue (and the grace is over).
    if (host.status !== 'healthy' || this.hostStatusOf(host, now) === 'healthy') return undefined;
    const heartbeatBefore = new Date(now.getTime() - heartbeatToleranceIntervals * this.settings.heartbeatIntervalMs);
    const marked = await this.deps.hosts.markUnhealthy(host.id, {
      at: now,
      heartbeatBefore,
      message: `no heartbeat since ${host.lastHeartbeatAt.toISOString()}`,
    });
    if (marked !== undefined) {
      this.deps.log.warn({ hostId: host.id, hostName: host.name, lastHeartbeatAt: host.lastHeartbeatAt }, 'host unhealthy');
    }
    return marked;
  }

  /**
   * Removes from the host every VM its Agent holds that has no record (or a record on another
   * host), unless they are too large a share of the host's VMs (see `decideOrphanRemoval`): then
   * none is removed, and a `host.orphans_withheld` event says why (once, until the count changes).
   */
  /** Snapshots a Manager's crash or a lost answer left unsettled (see settleSnapshots); a failure waits for the next pass. */
  private async settleSnapshotsOf(host: Host, inventory: Inventory): Promise<void> {
    try {
      await settleSnapshots(this.deps, host, inventory, this.settings.graceMs);
    } catch (error) {
      this.deps.log.warn({ hostId: host.id, err: error }, 'settling snapshots failed; next pass retries');
    }
  }

  private async removeOrphans(host: Host, inventory: Inventory, rows: ReadonlyMap<VmId, Vm>, term: number): Promise<number> {
    const orphans: VmId[] = [];
    for (const agentVm of inventory.vms) {
      // What the Agent cannot read a record for is never deleted: its data may be all that is left.
      if (agentVm.vmmState === 'unreadable') continue;
      const row = rows.get(agentVm.vmId as VmId) ?? (await this.deps.vms.findById(agentVm.vmId as VmId));
      if (row === undefined || row.hostId !== host.id) orphans.push(agentVm.vmId as VmId);
    }
    if (!this.isLeadingIn(term)) return 0;
    if (orphans.length === 0) {
      this.withheldOrphans.delete(host.id);
      return 0;
    }
    const decision = decideOrphanRemoval(
      orphans.length,
      inventory.vms.length,
      this.settings.orphanGuard ?? defaultOrphanGuardPolicy,
    );
    if (decision.kind === 'withhold') {
      if (this.withheldOrphans.get(host.id) !== orphans.length) {
        this.withheldOrphans.set(host.id, orphans.length);
        this.deps.log.error({ hostId: host.id, orphans: orphans.length, vms: inventory.vms.length }, 'orphan removal withheld');
        await this.deps.events.append({
          type: 'host.orphans_withheld',
          vmId: null,
          project: null,
          hostId: host.id,
          fromState: null,
          toState: null,
          message: decision.message,
          at: this.deps.clock.now(),
        });
      }
      return 0;
    }
    this.withheldOrphans.delete(host.id);
    let removed = 0;
    for (const vmId of orphans) {
      if (!this.isLeadingIn(term)) break;
      try {
        const result = await ignoreNotFound(this.deps.agents.deleteVm(host, vmId));
        removed += 1;
        this.deps.log.warn({ hostId: host.id, vmId, removed: result?.removed.length ?? 0 }, 'orphaned host resources removed');
      } catch (error) {
        this.deps.log.warn({ hostId: host.id, vmId, err: error }, 'orphaned host resources could not be removed');
      }
    }
    return removed;
  }

  /** Whether this reconciler leads, in the term the work was started in. */
  private isLeadingIn(term: number): boolean {
    return this.isActive && this.term === term;
  }

  /** The host's inventory, read at most `inventoryMaxAgeMs` ago; undefined when the Agent cannot answer. */
  private inventoryOf(host: Host): Promise<Inventory | undefined> {
    return this.inventoryReadOf(host, false).read;
  }

  /** The host's inventory read and when it was asked for: a cached one unless `isFresh`. */
  private inventoryReadOf(host: Host, isFresh: boolean): InventoryRead {
    const nowMs = this.deps.clock.now().getTime();
    const cached = this.inventories.get(host.id);
    if (!isFresh && cached !== undefined && nowMs - cached.at < this.settings.inventoryMaxAgeMs) return cached;
    const read = this.deps.agents.inventory(host).catch((error: unknown) => {
      this.deps.log.warn({ hostId: host.id, code: isAppError(error) ? error.code : 'INTERNAL' }, 'host inventory unreadable');
      return undefined;
    });
    const started: InventoryRead = { at: nowMs, read };
    this.inventories.set(host.id, started);
    return started;
  }

  private async recordObservation(vm: Vm, vmmState: VmObservation['vmmState']): Promise<void> {
    const observed = observedStateOf(vmmState);
    if (vm.observedState === observed) return;
    await this.deps.vms.recordObservation(vm.id, observed, this.deps.clock.now());
  }
}

function observedStateOf(vmmState: VmObservation['vmmState']): ObservedVmState {
  return vmmState === 'no_record' ? 'absent' : vmmState;
}

function observationOf(agentVm: AgentVm | undefined): VmObservation {
  if (agentVm === undefined) return { vmmState: 'no_record', holdsRuntimeResources: false };
  return {
    vmmState: agentVm.vmmState,
    holdsRuntimeResources: agentVm.resources.some((resource) => runtimeKinds.has(resource.kind)),
    vmmExit: agentVm.vmmExit,
  };
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

async function ignoreNotFound<T>(operation: Promise<T>): Promise<T | undefined> {
  try {
    return await operation;
  } catch (error) {
    if (isAppError(error) && error.code === 'VM_NOT_FOUND') return undefined;
    throw error;
  }
}
