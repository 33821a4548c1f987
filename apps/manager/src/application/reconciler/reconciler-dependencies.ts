import type { OrphanGuardPolicy } from '../../domain/orphan-guard.js';
import type { RetryPolicy } from '../../domain/restart-policy.js';
import type { UseCaseDependencies } from '../dependencies.js';

export type ReconcilerDependencies = Pick<
  UseCaseDependencies,
  | 'vms'
  | 'hosts'
  | 'events'
  | 'agents'
  | 'contacts'
  | 'clock'
  | 'log'
  | 'reconcileStates'
  | 'metrics'
  | 'snapshots'
  | 'images'
  | 'metrics'
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
  /**
   * Every this many resyncs one reads every VM row and compares every VM, as a backstop to the
   * passes between, which read and compare only what changed; default `defaultFullResyncEvery`.
   */
  readonly fullResyncEvery?: number;
  /** Longest stretch a resync runs without letting the event loop turn; default `resyncSliceMs`. */
  readonly sliceMs?: number;
  /** How many of a host's VMs one pass may remove as orphans; default `defaultOrphanGuardPolicy`. */
  readonly orphanGuard?: OrphanGuardPolicy;
}
