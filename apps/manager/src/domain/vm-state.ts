import { AppError } from '@hearth/errors';

/**
 * The lifecycle state of a VM record: what the Manager has decided and done, not what the VMM
 * process reports (that is the VM's `observedState`). docs/vm-lifecycle.md explains each state.
 */
export const vmStates = [
  'pending',
  'scheduled',
  'starting',
  'running',
  'pausing',
  'paused',
  'stopping',
  'stopped',
  'failed',
  'deleting',
  'unknown',
] as const;
export type VmState = (typeof vmStates)[number];

/**
 * The one transition table. A state missing on the right cannot be reached from the left.
 * `unknown` is entered when the host cannot be reached and left when it is observed again.
 */
export const vmTransitions: Readonly<Record<VmState, readonly VmState[]>> = Object.freeze({
  pending: ['scheduled', 'failed', 'deleting'],
  scheduled: ['starting', 'failed', 'deleting', 'unknown'],
  // starting → paused: a restore asked to leave the guest paused.
  starting: ['running', 'paused', 'failed', 'unknown'],
  // running/paused → starting: the guest rebooted, and the VM is started again.
  running: ['starting', 'pausing', 'stopping', 'deleting', 'failed', 'unknown'],
  pausing: ['paused', 'running', 'failed', 'unknown'],
  paused: ['starting', 'running', 'stopping', 'deleting', 'failed', 'unknown'],
  stopping: ['stopped', 'failed', 'unknown'],
  stopped: ['starting', 'deleting', 'unknown'],
  failed: ['starting', 'deleting'],
  deleting: ['failed', 'unknown'],
  unknown: ['starting', 'running', 'paused', 'stopped', 'failed', 'deleting'],
});

export function canTransition(from: VmState, to: VmState): boolean {
  return vmTransitions[from].includes(to);
}

/**
 * The steps of a path of states, in order: throws when the state machine does not allow one (a
 * programming error: the paths are the Manager's own, never a request's).
 */
export function stepsAlong(path: readonly VmState[]): { readonly from: VmState; readonly to: VmState }[] {
  return path.slice(1).map((to, index) => {
    const from = path[index] as VmState;
    if (!canTransition(from, to)) throw new Error(`a VM in state ${from} cannot become ${to}`);
    return { from, to };
  });
}

/** Transitions only the reconciler makes: starting a VM again after a reboot from inside its guest. */
const reconcilerOnlyTransitions: Readonly<Partial<Record<VmState, readonly VmState[]>>> = Object.freeze({
  running: ['starting'],
  paused: ['starting'],
});

/** The states a user's request may move a VM in `from` to: the table without the reconciler's own. */
export function requestableTransitions(from: VmState): readonly VmState[] {
  const reconcilerOnly = reconcilerOnlyTransitions[from] ?? [];
  return vmTransitions[from].filter((to) => !reconcilerOnly.includes(to));
}

/** Throws VM_INVALID_TRANSITION (with `from`, `to` and `allowed`) when a request may not move `from → to`. */
export function assertTransition(from: VmState, to: VmState): void {
  if (!requestableTransitions(from).includes(to)) throw invalidTransition(from, to);
}

/** VM_INVALID_TRANSITION for `from → to`, naming the states a request may move `from` to. */
export function invalidTransition(from: VmState, to: VmState): AppError {
  return new AppError('VM_INVALID_TRANSITION', `A VM in state ${from} cannot become ${to}`, {
    details: { from, to, allowed: requestableTransitions(from) },
  });
}

/** States in which a VM holds (or is about to hold) CPU and memory on its host. */
export const resourceHoldingStates: readonly VmState[] = Object.freeze([
  'pending',
  'scheduled',
  'starting',
  'running',
  'pausing',
  'paused',
  'stopping',
  'unknown',
]);

/** States a create (or start) passes through before the VM runs; `continueCreate` picks them up. */
export const createInProgressStates: readonly VmState[] = Object.freeze(['pending', 'scheduled', 'starting']);

/** States in which the Manager is in the middle of an operation on the host. */
export const transientStates: readonly VmState[] = Object.freeze([
  'pending',
  'scheduled',
  'starting',
  'pausing',
  'stopping',
  'deleting',
]);

export function isVmState(value: string): value is VmState {
  return (vmStates as readonly string[]).includes(value);
}

/**
 * What the VMM process of a VM looked like to its Agent (the Agent API's `vmmState`); `unreadable`:
 * the Agent holds the VM's files but cannot read its record, and leaves them in place.
 */
export const observedVmStates = ['not_started', 'running', 'paused', 'exited', 'absent', 'unreadable'] as const;
export type ObservedVmState = (typeof observedVmStates)[number];
