import { isAppError } from '@hearth/errors';
import { everyProject } from '../../domain/access.js';
import type { VmId } from '../../domain/ids.js';
import { patchedRateLimits, rateLimiterNames, type RateLimitsPatch } from '../../domain/rate-limits.js';
import type { Vm } from '../../domain/vm.js';
import { vmBusy } from '../../domain/vm-errors.js';
import type { UseCaseDependencies } from '../dependencies.js';
import { versionToMatch, type MutationOptions } from './if-match.js';
import { sendToRunningVm } from './live-change.js';
import { getVm } from './vm-queries.js';

type Deps = Pick<UseCaseDependencies, 'vms' | 'hosts' | 'agents' | 'clock' | 'log'>;

/**
 * Changes a VM's rate limits (each limiter given replaces its own, `null` removes it, one left out
 * stays): stored with a new version and a `vm.rate_limits_changed` event, then, when the VM runs
 * (or is paused), sent to its host's Agent, which changes its devices at once. Every later start
 * applies the stored limits. When the Agent fails its error is thrown and the stored limits stay.
 * A VM being deleted is VM_BUSY.
 */
export async function updateVmRateLimits(
  deps: Deps,
  id: VmId,
  patch: RateLimitsPatch,
  options: MutationOptions = {},
): Promise<Vm> {
  const changed = await storeMerged(deps, id, patch, options);
  deps.log.info(
    { vmId: id, limited: rateLimiterNames.filter((name) => changed.rateLimits[name] !== undefined), state: changed.state },
    'vm rate limits changed',
  );
  return sendToRunningVm(deps, changed, 'vm rate limits stored but not applied on its host', (host) =>
    deps.agents.setVmRateLimits(host, id, changed.rateLimits),
  );
}

/** A change that lost a race to another without `If-Match` merges again onto the newer limits, a few times. */
const mergeAttempts = 3;

/**
 * The merge is written at the version it was made from, so that a concurrent change is never
 * overwritten by it; without `If-Match` a lost race merges again, with it the race is the caller's
 * PRECONDITION_FAILED.
 */
async function storeMerged(deps: Deps, id: VmId, patch: RateLimitsPatch, options: MutationOptions): Promise<Vm> {
  for (let attempt = 1; ; attempt += 1) {
    const vm = await getVm(deps, id, options.projects ?? everyProject);
    const ifVersion = versionToMatch(vm, options.ifMatch);
    if (vm.state === 'deleting') throw vmBusy(id, vm.state);
    const rateLimits = patchedRateLimits(vm.rateLimits, patch);
    try {
      return await deps.vms.setRateLimits(id, { rateLimits, at: deps.clock.now(), ifVersion: ifVersion ?? vm.version });
    } catch (error) {
      const isLostRace = ifVersion === undefined && isAppError(error) && error.code === 'PRECONDITION_FAILED';
      if (!isLostRace || attempt >= mergeAttempts) throw error;
    }
  }
}
