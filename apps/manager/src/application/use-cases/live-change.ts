import { isAppError } from '@hearth/errors';
import type { Host } from '../../domain/host.js';
import type { VmState } from '../../domain/vm-state.js';
import type { Vm } from '../../domain/vm.js';
import type { UseCaseDependencies } from '../dependencies.js';
import { hostOf } from './host-queries.js';

type Deps = Pick<UseCaseDependencies, 'hosts' | 'log'>;

/** States whose VMM is up on its host: a change of what it runs under is sent to its Agent at once. */
const vmmUpStates: readonly VmState[] = ['running', 'pausing', 'paused'];

/**
 * The second half of a change a running VM takes live (its egress policy, its rate limits): the
 * change is stored already (`changed`, as the update returned the row); when its VMM is up, `send`
 * gives it to its host's Agent. A failure is logged (`notApplied`, a static message) and thrown:
 * the stored value stays, and the next start applies it, or the same request again.
 */
export async function sendToRunningVm(
  deps: Deps,
  changed: Vm,
  notApplied: string,
  send: (host: Host) => Promise<unknown>,
): Promise<Vm> {
  if (!vmmUpStates.includes(changed.state)) return changed;
  const host = await hostOf(deps, changed.hostId);
  try {
    await send(host);
  } catch (error) {
    deps.log.warn({ vmId: changed.id, hostId: host.id, code: isAppError(error) ? error.code : 'INTERNAL' }, notApplied);
    throw error;
  }
  return changed;
}
