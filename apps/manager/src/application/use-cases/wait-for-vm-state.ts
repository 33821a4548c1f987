import type { VmId } from '../../domain/ids.js';
import type { VmState } from '../../domain/vm-state.js';
import type { Vm } from '../../domain/vm.js';
import type { UseCaseDependencies } from '../dependencies.js';
import { getVm } from './vm-queries.js';

export const waitTimeoutSeconds = { default: 30, maximum: 300 } as const;

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
  /** Reads the row again this often even without an event (a lost notification cannot hang a wait). */
  readonly recheckMs?: number;
}

const defaultRecheckMs = 5_000;

/**
 * Waits until the VM is in `state`, or is `failed` (a terminal failure, unless `failed` is what was
 * asked for), or `timeoutMs` passed. Woken by the VM's events, not by polling. VM_NOT_FOUND when
 * the VM does not exist or is deleted meanwhile.
 */
export async function waitForVmState(
  deps: Pick<UseCaseDependencies, 'vms' | 'eventFeed'>,
  id: VmId,
  state: VmState,
  options: WaitOptions,
): Promise<WaitResult> {
  let isDirty = false;
  let wake: () => void = () => undefined;
  const unsubscribe = deps.eventFeed.subscribe((event) => {
    if (event.vmId !== id) return;
    isDirty = true;
    wake();
  });
  let isOver = false;
  const end = (): void => {
    isOver = true;
    wake();
  };
  const timer = setTimeout(end, options.timeoutMs);
  options.signal?.addEventListener('abort', end, { once: true });
  try {
    for (;;) {
      isDirty = false;
      const vm = await getVm(deps, id);
      if (vm.state === state) return { vm, outcome: 'reached' };
      if (vm.state === 'failed') return { vm, outcome: 'failed' };
      if (isOver || options.signal?.aborted === true) return { vm, outcome: 'timed_out' };
      if (isDirty) continue;
      await new Promise<void>((resolve) => {
        const recheck = setTimeout(resolve, options.recheckMs ?? defaultRecheckMs);
        wake = () => {
          clearTimeout(recheck);
          resolve();
        };
      });
      wake = () => undefined;
    }
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', end);
    unsubscribe();
  }
}
