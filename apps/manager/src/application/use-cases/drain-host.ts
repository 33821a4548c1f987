import { isAppError } from '@hearth/errors';
import type { HostId, VmId } from '../../domain/ids.js';
import type { VmState } from '../../domain/vm-state.js';
import type { UseCaseDependencies } from '../dependencies.js';
import { cordonHost } from './cordon-host.js';
import type { HostOverview } from './host-queries.js';
import { stopVm } from './stop-vm.js';

type Deps = Pick<UseCaseDependencies, 'hosts' | 'vms' | 'agents' | 'clock' | 'log' | 'settings'>;

/** States of a VM that drain stops. */
const drainedStates: readonly VmState[] = ['running', 'paused'];

export interface DrainReport {
  readonly host: HostOverview;
  /** VMs drain stopped. */
  readonly stopped: readonly VmId[];
  /** VMs it could not stop, with why (they stay as they are: drain again to retry). */
  readonly failed: readonly { readonly vmId: VmId; readonly code: string; readonly message: string }[];
  /**
   * VMs on the host drain left alone (already stopped or failed, or in the middle of an operation),
   * and those whose stop their host did not confirm in time (`stopping`: the reconciler finishes it).
   */
  readonly skipped: readonly { readonly vmId: VmId; readonly state: VmState }[];
}

/**
 * Drains a host: cordons it (no new VMs), then stops each of its running or paused VMs, one after
 * another, and says what happened to each. There is no live migration yet, so a drained VM stays on
 * its host, stopped; it can be started again after `uncordon`. Idempotent: draining again retries.
 */
export async function drainHost(deps: Deps, id: HostId): Promise<DrainReport> {
  const host = await cordonHost(deps, id);
  const vms = await deps.vms.listOnHost(id);
  const stopped: VmId[] = [];
  const failed: { vmId: VmId; code: string; message: string }[] = [];
  const skipped: { vmId: VmId; state: VmState }[] = [];
  for (const vm of vms) {
    if (!drainedStates.includes(vm.state)) {
      skipped.push({ vmId: vm.id, state: vm.state });
      continue;
    }
    try {
      const after = await stopVm(deps, vm.id);
      // A stop its host has not confirmed yet is the reconciler's to finish.
      if (after.state === 'stopping') skipped.push({ vmId: vm.id, state: after.state });
      else stopped.push(vm.id);
    } catch (error) {
      failed.push({
        vmId: vm.id,
        code: isAppError(error) ? error.code : 'INTERNAL',
        message: error instanceof Error ? error.message : String(error),
      });
    }
  }
  deps.log.info({ hostId: id, stopped: stopped.length, failed: failed.length, skipped: skipped.length }, 'host drained');
  return { host, stopped, failed, skipped };
}
