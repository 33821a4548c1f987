import { AppError } from '@hearth/errors';

/** The lifecycle state of a VM record (desired/known by the Manager, not what the VMM reports). */
export const vmStates = ['pending', 'starting', 'running', 'stopping', 'stopped', 'failed', 'deleting'] as const;
export type VmState = (typeof vmStates)[number];

/** The one transition table. A state missing on the right cannot be reached from the left. */
export const vmTransitions: Readonly<Record<VmState, readonly VmState[]>> = Object.freeze({
  pending: ['starting', 'failed', 'deleting'],
  starting: ['running', 'failed'],
  running: ['stopping', 'deleting', 'failed'],
  stopping: ['stopped', 'failed'],
  stopped: ['starting', 'deleting'],
  failed: ['starting', 'deleting'],
  deleting: ['failed'],
});

export function canTransition(from: VmState, to: VmState): boolean {
  return vmTransitions[from].includes(to);
}

/** Throws VM_INVALID_TRANSITION when `from → to` is not in the table. */
export function assertTransition(from: VmState, to: VmState): void {
  if (!canTransition(from, to)) {
    throw new AppError('VM_INVALID_TRANSITION', `A VM in state ${from} cannot become ${to}`, {
      details: { from, to, allowed: vmTransitions[from] },
    });
  }
}

/** States in which a VM holds (or is about to hold) CPU and memory on its host. */
export const resourceHoldingStates: readonly VmState[] = Object.freeze(['pending', 'starting', 'running', 'stopping']);

export function isVmState(value: string): value is VmState {
  return (vmStates as readonly string[]).includes(value);
}
