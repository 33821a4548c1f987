import { everyProject } from '../../domain/access.js';
import { egressPolicyErrors, type EgressPolicy } from '../../domain/egress.js';
import type { VmId } from '../../domain/ids.js';
import { invalidBody } from '../../domain/template.js';
import type { Vm } from '../../domain/vm.js';
import { vmBusy } from '../../domain/vm-errors.js';
import type { UseCaseDependencies } from '../dependencies.js';
import { versionToMatch, type MutationOptions } from './if-match.js';
import { sendToRunningVm } from './live-change.js';
import { getVm } from './vm-queries.js';

type Deps = Pick<UseCaseDependencies, 'vms' | 'hosts' | 'agents' | 'clock' | 'log'>;

/**
 * Replaces a VM's egress policy: stored with a new version and a `vm.egress_changed` event, then,
 * when the VM runs (or is paused), sent to its host's Agent, which rewrites the VM's chain in one
 * transaction. Every later start, on any host, applies the stored policy. When the Agent fails its
 * error is thrown and the stored policy stays: the next start applies it, or the same request
 * again. A VM being deleted is VM_BUSY.
 */
export async function setVmEgress(deps: Deps, id: VmId, egress: EgressPolicy, options: MutationOptions = {}): Promise<Vm> {
  const errors = egressPolicyErrors(egress, 'body');
  if (errors.length > 0) throw invalidBody(errors);
  const vm = await getVm(deps, id, options.projects ?? everyProject);
  const ifVersion = versionToMatch(vm, options.ifMatch);
  if (vm.state === 'deleting') throw vmBusy(id, vm.state);
  // The state the update returns is the row's at the moment of the change: a start that ends just
  // before it is seen here, one that ends after it sends the new policy itself (applyVmOnHost).
  const changed = await deps.vms.setEgress(id, { egress, at: deps.clock.now(), ifVersion });
  deps.log.info({ vmId: id, mode: egress.mode, state: changed.state }, 'vm egress changed');
  return sendToRunningVm(deps, changed, 'vm egress stored but not applied on its host', (host) =>
    deps.agents.setVmEgress(host, id, egress),
  );
}
