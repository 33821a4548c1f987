import type { VmmProcessRef } from './vmm.js';

/** A warm VMM handed to a VM: its process, and the directory it works in, which is to become the VM's. */
export interface WarmVmm {
  readonly process: VmmProcessRef;
  readonly directory: string;
}

/**
 * Firecracker processes started ahead of need: unconfigured, each answering its API in a directory
 * of its own whose files are named as a VM's (`pathsIn`), with its log there at level Info and no
 * metrics. A VM restored from a snapshot takes one instead of waiting for a process to start; its
 * record is then created from that directory (`VmRecordStore.createFrom`), which becomes the VM's.
 */
export interface VmmPool {
  /**
   * An idle VMM, now the caller's and running at the priority of any other VMM; undefined when none
   * is ready. Until a record names it, the sweep at the Agent's next start removes it with its
   * directory, as any warm VMM.
   */
  take(vmId: string): Promise<WarmVmm | undefined>;
  /** Stops a VMM taken and not used (its VM's record could not be created from it) and removes its directory. */
  discard(warm: WarmVmm): Promise<void>;
}
