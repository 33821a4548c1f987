import type { VmId } from '../../domain/ids.js';
import { vmNotFound } from '../../domain/vm-errors.js';
import type { VmState } from '../../domain/vm-state.js';
import type { Vm } from '../../domain/vm.js';
import type { UseCaseDependencies } from '../dependencies.js';
import type { TimerHandle } from '../ports/timers.js';
import type { VmStateWaits, WaitOptions, WaitResult } from '../ports/vm-state-waits.js';

export interface VmStateWaitersOptions {
  /** The waited VMs are read again this often even without an event (a lost notification cannot hang a wait). */
  readonly recheckMs: number;
}

export const defaultVmStateWaitersOptions: VmStateWaitersOptions = Object.freeze({ recheckMs: 15_000 });

export type VmStateWaitersDependencies = Pick<UseCaseDependencies, 'vms' | 'eventFeed' | 'timers' | 'log'>;

interface Waiter {
  readonly state: VmState;
  /** The VM as last read for this waiter (the answer when time runs out). */
  lastSeen: Vm | undefined;
  settle(result: WaitResult | Error): void;
}

/**
 * Every pending wait of this Manager. One feed subscription for all of them: the events of a
 * batch mark their VMs, each marked VM is read once, and that one row answers every waiter of the
 * VM. A periodic recheck reads each waited VM once (not once per waiter).
 */
export class VmStateWaiters implements VmStateWaits {
  private readonly byVm = new Map<VmId, Set<Waiter>>();
  private readonly marked = new Set<VmId>();
  private unsubscribe: (() => void) | undefined;
  private recheckTimer: TimerHandle | undefined;
  private isReading = false;

  constructor(
    private readonly deps: VmStateWaitersDependencies,
    private readonly options: VmStateWaitersOptions = defaultVmStateWaitersOptions,
  ) {}

  /** Waits waiting now (tests check that none leak). */
  get waiterCount(): number {
    let count = 0;
    for (const waiters of this.byVm.values()) count += waiters.size;
    return count;
  }

  /**
   * Waits until the VM is in `state`, or is `failed` (a terminal failure, unless `failed` is what
   * was asked for), or `timeoutMs` passed. VM_NOT_FOUND when the VM does not exist or is deleted meanwhile.
   */
  wait(id: VmId, state: VmState, options: WaitOptions): Promise<WaitResult> {
    return new Promise<WaitResult>((resolve, reject) => {
      let isSettled = false;
      const timeout = this.deps.timers.setTimeout(() => timeOut(), options.timeoutMs);
      const timeOut = (): void => {
        if (waiter.lastSeen !== undefined) waiter.settle({ vm: waiter.lastSeen, outcome: 'timed_out' });
        else isTimedOut = true; // answered once the first read comes back
      };
      let isTimedOut = false;
      const waiter: Waiter = {
        state,
        lastSeen: undefined,
        settle: (result) => {
          if (isSettled) return;
          isSettled = true;
          this.deps.timers.clearTimeout(timeout);
          options.signal?.removeEventListener('abort', timeOut);
          this.remove(id, waiter);
          if (result instanceof Error) reject(result);
          else resolve(result);
        },
      };
      options.signal?.addEventListener('abort', timeOut, { once: true });
      // Registered before the first read: an event committed meanwhile marks the VM for another read.
      this.add(id, waiter);
      this.deps.vms.findById(id).then(
        (vm) => {
          if (isSettled) return;
          if (vm === undefined) return waiter.settle(vmNotFound(id));
          this.offer(waiter, vm);
          if (!isSettled && (isTimedOut || options.signal?.aborted === true)) waiter.settle({ vm, outcome: 'timed_out' });
        },
        (error: unknown) => waiter.settle(error instanceof Error ? error : new Error(String(error))),
      );
    });
  }

  private offer(waiter: Waiter, vm: Vm): void {
    waiter.lastSeen = vm;
    if (vm.state === waiter.state) waiter.settle({ vm, outcome: 'reached' });
    else if (vm.state === 'failed') waiter.settle({ vm, outcome: 'failed' });
  }

  private add(id: VmId, waiter: Waiter): void {
    let waiters = this.byVm.get(id);
    if (waiters === undefined) {
      waiters = new Set();
      this.byVm.set(id, waiters);
    }
    waiters.add(waiter);
    if (this.unsubscribe === undefined) {
      this.unsubscribe = this.deps.eventFeed.subscribe((event) => {
        if (event.vmId !== null && this.byVm.has(event.vmId)) this.mark([event.vmId]);
      });
      this.scheduleRecheck();
    }
  }

  private remove(id: VmId, waiter: Waiter): void {
    const waiters = this.byVm.get(id);
    waiters?.delete(waiter);
    if (waiters?.size === 0) this.byVm.delete(id);
    if (this.byVm.size === 0 && this.unsubscribe !== undefined) {
      this.unsubscribe();
      this.unsubscribe = undefined;
      if (this.recheckTimer !== undefined) this.deps.timers.clearTimeout(this.recheckTimer);
      this.recheckTimer = undefined;
    }
  }

  private scheduleRecheck(): void {
    this.recheckTimer = this.deps.timers.setTimeout(() => {
      this.mark([...this.byVm.keys()]);
      this.scheduleRecheck();
    }, this.options.recheckMs);
  }

  /** Marks VMs to read; the events of one dispatch are gathered before the reads start. */
  private mark(ids: readonly VmId[]): void {
    for (const id of ids) this.marked.add(id);
    if (this.isReading) return;
    this.isReading = true;
    queueMicrotask(() => {
      // A failed read of one VM is retried by the recheck; this catches what escapes the loop itself.
      this.readMarked().catch((error: unknown) => this.deps.log.error({ err: error }, 'waited vms could not be checked'));
    });
  }

  private async readMarked(): Promise<void> {
    try {
      while (this.marked.size > 0) {
        const ids = [...this.marked];
        this.marked.clear();
        for (const id of ids) {
          if (!this.byVm.has(id)) continue;
          let vm: Vm | undefined;
          try {
            vm = await this.deps.vms.findById(id);
          } catch (error) {
            // The recheck reads it again.
            this.deps.log.warn({ err: error, vmId: id }, 'waited vm could not be read');
            continue;
          }
          for (const waiter of [...(this.byVm.get(id) ?? [])]) {
            if (vm === undefined) waiter.settle(vmNotFound(id));
            else this.offer(waiter, vm);
          }
        }
      }
    } finally {
      this.isReading = false;
    }
  }
}
