import type { VmId } from '../../domain/vm-id.js';

/** Where the per-VM Firecracker counters go (`firecrackerCounters`, index for index). */
export interface VmCounterSink {
  add(vmId: VmId, increments: readonly number[]): void;
  /** Forgets every series of the VM (it is gone). */
  remove(vmId: VmId): void;
}
