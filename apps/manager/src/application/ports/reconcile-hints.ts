import type { HostId, VmId } from '../../domain/ids.js';

/**
 * Hints to the reconciler that something changed (a create or delete finished, a host came back).
 * Only hints: the reconciler's periodic resync finds every change without them, so a lost hint
 * (another replica leads, the process restarted) costs at most one resync period.
 */
export interface ReconcileHints {
  vmChanged(vmId: VmId): void;
  hostChanged(hostId: HostId): void;
}

/** For Managers that do not reconcile (followers, MANAGER_RECONCILER_DISABLED, tests). */
export const noReconcileHints: ReconcileHints = Object.freeze({
  vmChanged: () => undefined,
  hostChanged: () => undefined,
});
