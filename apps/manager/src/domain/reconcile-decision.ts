import { isSameEgressPolicy, isSameRateLimits } from '@hearth/contracts';
import type { EgressPolicy } from './egress.js';
import type { HostStatus } from './host.js';
import type { RateLimits } from './rate-limits.js';
import { decideRestart, type CrashWindow, type RestartDecision, type RestartPolicy, type RetryPolicy } from './restart-policy.js';
import { canTransition, createInProgressStates, transientStates, type ObservedVmState, type VmState } from './vm-state.js';

/** What the host's Agent holds for one VM, read from its inventory just before deciding. */
export interface VmObservation {
  /** `no_record`: the Agent has nothing for this VM. */
  readonly vmmState: ObservedVmState | 'no_record';
  /** A process, TAP, socket or FIFO is still recorded (what a stopped VM must not hold). */
  readonly holdsRuntimeResources: boolean;
  /** How an `exited` VMM ended, when its Agent saw it end. */
  readonly vmmExit?: { readonly code: number | null; readonly signal: string | null } | undefined;
  /** For a running VM whose Agent writes rules: the policy it holds and whether its rules are all in place. */
  readonly egress?: { readonly policy: EgressPolicy; readonly isInPlace: boolean } | undefined;
  /** The rate limits the Agent holds for the VM (absent from older Agents). */
  readonly rateLimits?: RateLimits | undefined;
}

/** The reconciler's retry memory, kept in the VM row. */
export interface RetryState {
  readonly restartPolicy: RestartPolicy;
  /** Attempts in a row so far (0 when the last one succeeded). */
  readonly attempt: number;
  /** Null: nothing scheduled (or, for a failed VM, nothing left to retry). */
  readonly nextAttemptAt: Date | null;
  /** The VMM deaths counted by the crash-loop guard (not reset by a successful start). */
  readonly crashWindow: CrashWindow;
}

export interface ReconcileInput {
  readonly state: VmState;
  readonly updatedAt: Date;
  readonly hostStatus: HostStatus;
  /** Undefined when the host's inventory could not be read: then nothing is done on the host. */
  readonly observed: VmObservation | undefined;
  readonly retry: RetryState;
  readonly now: Date;
  /** Transient states younger than this belong to the request that is moving the VM. */
  readonly graceMs: number;
  readonly retryPolicy: RetryPolicy;
  /** What the VM should run under, compared with what its host holds while it runs. */
  readonly desired?: { readonly egress: EgressPolicy; readonly rateLimits: RateLimits } | undefined;
}

export type ReconcileAction =
  /** Nothing to do: the record and the host agree. */
  | { readonly kind: 'none' }
  /** Not now: within the grace window, before the next attempt, or without an inventory. */
  | { readonly kind: 'wait'; readonly why: 'grace' | 'backoff' | 'no_inventory' | 'host_unhealthy' | 'record_unreadable' }
  /** The host is unhealthy: the VM's real state is unknown (never deleted for that). */
  | { readonly kind: 'mark_unknown' }
  /**
   * The host holds the VM's files but cannot read its record: the VM becomes `unknown` and is left
   * alone (never restarted on a fresh disk, never deleted) until the record is repaired.
   */
  | { readonly kind: 'quarantine' }
  /** An `unknown` VM is seen again as it should be: take the observed state back. */
  | { readonly kind: 'adopt'; readonly to: 'running' | 'paused' }
  /** The VMM of a VM that should run is gone: record why, then restart it (now or later) or leave it failed. */
  | { readonly kind: 'vmm_gone'; readonly restart: RestartDecision }
  /**
   * The guest rebooted (its VMM exited with code 0 after running a while): start it again at
   * once, under every restart policy. Not a failure, and not counted by the crash-loop guard.
   */
  | { readonly kind: 'guest_reboot' }
  /** A failed VM whose restart is due. */
  | { readonly kind: 'retry_start' }
  /**
   * A create interrupted before the VM ran (a Manager crash, an Agent that could not be reached).
   * On the last attempt an unreachable Agent fails the VM; before it, the create is tried again.
   */
  | { readonly kind: 'continue_create'; readonly isLastAttempt: boolean }
  /**
   * A pause its request left unconfirmed (the Agent did not answer, a Manager crash): the VMM is
   * paused again if it still runs, and the VM recorded `paused`.
   */
  | { readonly kind: 'finish_pause' }
  /**
   * A `paused` VM whose VMM runs, past the grace: a resume whose answer was lost (the Agent did not
   * answer in time, or a Manager crash between its answer and the record) was carried out. The
   * record follows the host (`running`); the VMM is never paused again behind the user's resume.
   */
  | { readonly kind: 'record_resumed' }
  | { readonly kind: 'finish_stop' }
  | { readonly kind: 'finish_delete' }
  /** A stopped or failed VM still holds a process or TAP on its host. */
  | { readonly kind: 'release_runtime_resources' }
  /**
   * A running VM's host holds another egress policy or rate limits than the record, or its rules
   * are not all in place (removed behind the Agent's back): the record's are sent again.
   */
  | { readonly kind: 'repair_drift'; readonly egress: boolean; readonly rateLimits: boolean };

const markableUnknown: readonly VmState[] = ['scheduled', 'starting', 'running', 'pausing', 'paused'];

/**
 * The reconciler's decision for one VM, level-triggered: it depends only on the record, the host's
 * status and what the host holds now, never on what happened before. Pure.
 */
export function decideReconcileAction(input: ReconcileInput): ReconcileAction {
  const { state, observed, retry, now } = input;
  const isInGrace = isInRequestsGrace(input);
  if (input.hostStatus === 'unhealthy') {
    if (markableUnknown.includes(state) && !isInGrace) return { kind: 'mark_unknown' };
    return { kind: 'wait', why: 'host_unhealthy' };
  }
  if (isInGrace) return { kind: 'wait', why: 'grace' };
  if (observed === undefined) return { kind: 'wait', why: 'no_inventory' };
  if (observed.vmmState === 'unreadable') {
    return state !== 'unknown' && canTransition(state, 'unknown')
      ? { kind: 'quarantine' }
      : { kind: 'wait', why: 'record_unreadable' };
  }
  const isDue = retry.nextAttemptAt === null || retry.nextAttemptAt.getTime() <= now.getTime();
  const isVmmUp = observed.vmmState === 'running' || observed.vmmState === 'paused';

  switch (state) {
    case 'running':
      return isVmmUp ? driftAction(input, observed) : vmmGone(input);
    case 'paused':
      if (!isVmmUp) return vmmGone(input);
      if (observed.vmmState === 'running')
        return isPastGrace(input) ? { kind: 'record_resumed' } : { kind: 'wait', why: 'grace' };
      return driftAction(input, observed);
    case 'pausing':
      if (!isVmmUp) return vmmGone(input);
      return isDue ? { kind: 'finish_pause' } : { kind: 'wait', why: 'backoff' };
    case 'unknown':
      if (observed.vmmState === 'running') return { kind: 'adopt', to: 'running' };
      if (observed.vmmState === 'paused') return { kind: 'adopt', to: 'paused' };
      return vmmGone(input);
    case 'stopping':
      return isDue ? { kind: 'finish_stop' } : { kind: 'wait', why: 'backoff' };
    case 'deleting':
      return isDue ? { kind: 'finish_delete' } : { kind: 'wait', why: 'backoff' };
    case 'failed':
      if (retry.nextAttemptAt !== null) return isDue ? { kind: 'retry_start' } : { kind: 'wait', why: 'backoff' };
      return observed.holdsRuntimeResources ? { kind: 'release_runtime_resources' } : { kind: 'none' };
    case 'stopped':
      return observed.holdsRuntimeResources ? { kind: 'release_runtime_resources' } : { kind: 'none' };
    default:
      if (!createInProgressStates.includes(state)) return { kind: 'none' };
      if (!isDue) return { kind: 'wait', why: 'backoff' };
      // Bounded like restarts: `maxRestartAttempts` failed attempts in a row, then the reason stands.
      return { kind: 'continue_create', isLastAttempt: retry.attempt + 1 >= input.retryPolicy.maxRestartAttempts };
  }
}

/**
 * `repair_drift` when what the host holds for a running VM differs from the record; else `none`.
 * A record changed within the grace waits: the request that changed it is sending the change to
 * the host (the host may have been read before it got it), and a repair beside it would only make
 * that request wait for the VM behind the repair.
 */
function driftAction(input: ReconcileInput, observed: VmObservation): ReconcileAction {
  const { desired } = input;
  if (desired === undefined) return { kind: 'none' };
  const egress =
    observed.egress !== undefined && (!observed.egress.isInPlace || !isSameEgressPolicy(observed.egress.policy, desired.egress));
  const rateLimits = observed.rateLimits !== undefined && !isSameRateLimits(observed.rateLimits, desired.rateLimits);
  if (!egress && !rateLimits) return { kind: 'none' };
  if (!isPastGrace(input)) return { kind: 'wait', why: 'grace' };
  return { kind: 'repair_drift', egress, rateLimits };
}

/** Whether the record changed longer ago than the grace: a request that changed it is done with the host. */
function isPastGrace({ now, updatedAt, graceMs }: ReconcileInput): boolean {
  return now.getTime() - updatedAt.getTime() >= graceMs;
}

function vmmGone({ state, updatedAt, observed, retry, now, retryPolicy }: ReconcileInput): ReconcileAction {
  const isGuestReboot =
    (state === 'running' || state === 'paused') &&
    observed?.vmmState === 'exited' &&
    observed.vmmExit?.code === 0 &&
    // Firecracker exits 0 on any guest reset, a kernel panic at boot with reboot=k included.
    now.getTime() - updatedAt.getTime() >= retryPolicy.guestRebootMinUptimeMs;
  if (isGuestReboot) return { kind: 'guest_reboot' };
  return { kind: 'vmm_gone', restart: decideRestart(retry.restartPolicy, retry.attempt, retry.crashWindow, now, retryPolicy) };
}

/** The observed state a VM record keeps for what its host holds. */
export function observedStateOf(vmmState: VmObservation['vmmState']): ObservedVmState {
  return vmmState === 'no_record' ? 'absent' : vmmState;
}

/**
 * Whether an action of `none` still has work to do: a VM that is fine again (not failed) forgets
 * the attempts it needed. Failed VMs keep theirs, which count toward giving up.
 */
export function clearsRetry(state: VmState, retry: RetryState): boolean {
  return retry.attempt !== 0 && state !== 'failed';
}

/** A VM in a transient state younger than the grace: the request that is moving it is still at it. */
function isInRequestsGrace(input: ReconcileInput): boolean {
  return transientStates.includes(input.state) && !isPastGrace(input);
}

/**
 * Whether reconciling a VM would do anything: act, record a new observation, or clear a retry.
 * A periodic pass queues only those, so an idle installation costs a few reads per pass, not a
 * reconcile per VM; the queued ones are reconciled from scratch. Pure.
 *
 * A VM that a request is moving (a transient state within the grace) is left to it, whatever its
 * host holds: its reconcile would only wait, and what the host holds is recorded by the request's
 * own change (a create's or start's `running` records what the Agent answered) or, when it still
 * differs, by the comparison `reconsiderAt` schedules for the grace's end. A wave of creates
 * meets its VMs `starting` with their host's inventory already showing them (or not yet): queued
 * for that alone, each cost a reconcile of five statements and a read of its Agent.
 */
export function needsReconcile(input: ReconcileInput & { readonly observedState: ObservedVmState | null }): boolean {
  if (isInRequestsGrace(input)) return false;
  if (input.observed !== undefined && observedStateOf(input.observed.vmmState) !== input.observedState) return true;
  const action = decideReconcileAction(input);
  switch (action.kind) {
    case 'wait':
      return false;
    case 'none':
      return clearsRetry(input.state, input.retry);
    default:
      return true;
  }
}

/**
 * The first moment after `now` at which the decision for the same record, host status and
 * observation could differ, or undefined when it never would: a transient state's grace (and a
 * drift repair's) ending, a retry coming due, a VM old enough for a clean VMM exit to be a guest
 * reboot, a crash-loop window closing. Every comparison with `now` in `decideReconcileAction` is
 * against one of these moments. A resync need not compare the VM again before then unless its
 * record, its host's status or its host's inventory changes. Pure.
 */
export function reconsiderAt(input: ReconcileInput): Date | undefined {
  const { updatedAt, now, graceMs, retry, retryPolicy } = input;
  const nowMs = now.getTime();
  let earliest: number | undefined;
  for (const moment of [
    updatedAt.getTime() + graceMs,
    updatedAt.getTime() + retryPolicy.guestRebootMinUptimeMs,
    retry.nextAttemptAt?.getTime(),
    retry.crashWindow.startedAt === null ? undefined : retry.crashWindow.startedAt.getTime() + retryPolicy.crashLoopWindowMs,
  ]) {
    if (moment !== undefined && moment > nowMs && (earliest === undefined || moment < earliest)) earliest = moment;
  }
  return earliest === undefined ? undefined : new Date(earliest);
}
