import type { VmId } from '../../domain/ids.js';
import type { VmState } from '../../domain/vm-state.js';
import type { Vm } from '../../domain/vm.js';

/** How a wait ended: the state was reached, the VM failed on the way, or time ran out. */
export type WaitOutcome = 'reached' | 'failed' | 'timed_out';

export interface WaitResult {
  readonly vm: Vm;
  readonly outcome: WaitOutcome;
}

export interface WaitOptions {
  readonly timeoutMs: number;
  /** Ends the wait early (e.g. the client went away); the answer is then `timed_out`. */
  readonly signal?: AbortSignal | undefined;
}

/** The pending waits for VM states of this Manager. */
export interface VmStateWaits {
  /**
   * Waits until the VM is in `state`, or is `failed` (unless `failed` is what was asked for), or
   * `timeoutMs` passed. VM_NOT_FOUND when the VM does not exist or is deleted meanwhile.
   */
  wait(id: VmId, state: VmState, options: WaitOptions): Promise<WaitResult>;
}
