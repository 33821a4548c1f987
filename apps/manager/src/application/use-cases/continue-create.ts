import { everyProject } from '../../domain/access.js';
import { failpoint } from '@hearth/failpoints';
import { isAppError } from '@hearth/errors';
import type { Host } from '../../domain/host.js';
import type { VmId } from '../../domain/ids.js';
import type { Snapshot } from '../../domain/snapshot.js';
import type { Vm } from '../../domain/vm.js';
import type { UseCaseDependencies } from '../dependencies.js';
import { applyVmOnHost, type AgentOutageHandling } from './apply-vm.js';
import { hostOf } from './host-queries.js';
import { getVm } from './vm-queries.js';

type Deps = Pick<UseCaseDependencies, 'vms' | 'snapshots' | 'hosts' | 'agents' | 'clock' | 'log'>;

export interface ContinueCreateOptions {
  /** The row as the caller just wrote it: saves a read. */
  readonly known?: Vm | undefined;
  /** The host placement just chose: saves a read. */
  readonly knownHost?: Host | undefined;
  /** The snapshot the VM is a clone of, as its admission read it: saves a read. */
  readonly knownSnapshot?: Snapshot | undefined;
  /** What an unreachable Agent does to the VM (default: it fails). */
  readonly outage?: AgentOutageHandling;
}

/**
 * Takes a VM from wherever its create (or start) stopped to `running`, one recorded step at a time:
 * `pending → scheduled → starting` (one transaction, an event each), then the Agent applies the spec (idempotent on the host) and
 * the VM becomes `running`, or `failed` with the host cleaned up and the Agent's error thrown.
 *
 * Idempotent and safe to run concurrently: every step is a compare-and-set on the state, a lost
 * race re-reads the row and carries on from there. A VM in any other state is answered as it is.
 * Called by the create request (in the background when it answered 202) and by the reconciler for
 * rows left in pending/scheduled/starting by a crash or by an Agent that could not be reached.
 */
export async function continueCreate(deps: Deps, id: VmId, options: ContinueCreateOptions = {}): Promise<Vm> {
  const { known, knownHost, knownSnapshot, outage } = options;
  // The row as the caller just wrote it (or as the last transition returned it) saves a read, and
  // so does the host that placement just chose.
  let current: Vm | undefined = known?.id === id ? known : undefined;
  for (;;) {
    const vm = current ?? (await getVm(deps, id, everyProject));
    current = undefined;
    try {
      switch (vm.state) {
        case 'pending':
          // Nothing happens on a host between scheduled and starting, so both steps are one
          // statement (each with its event); the failpoints keep their order.
          current = await deps.vms.transition(id, { from: 'pending', via: ['scheduled'], to: 'starting', at: deps.clock.now() });
          failpoint('manager.create.after-scheduled');
          failpoint('manager.create.after-starting');
          continue;
        case 'scheduled':
          current = await deps.vms.transition(id, { from: 'scheduled', to: 'starting', at: deps.clock.now() });
          failpoint('manager.create.after-starting');
          continue;
        case 'starting': {
          const host = knownHost?.id === vm.hostId ? knownHost : await hostOf(deps, vm.hostId);
          // A VM that never ran has nothing worth keeping on the host when its start fails.
          return await applyVmOnHost(deps, vm, host, vm.totalMs === null ? 'delete' : 'stop', outage, knownSnapshot);
        }
        default:
          return vm;
      }
    } catch (error) {
      if (isAppError(error) && error.code === 'VM_BUSY') continue;
      throw error;
    }
  }
}

/**
 * `continueCreate` without waiting for it: the outcome is in the VM row and its events (a failure is
 * logged as a warning, since nobody waits for the error). The create was accepted, so an Agent that
 * cannot be reached (restarting, say) does not fail it: the VM stays `starting` and the reconciler
 * applies it again with backoff, failing it only after its bounded attempts.
 */
export function continueCreateInBackground(deps: Deps, id: VmId, known?: Vm, knownHost?: Host, knownSnapshot?: Snapshot): void {
  continueCreate(deps, id, { known, knownHost, knownSnapshot, outage: { onAgentUnavailable: 'retry' } }).catch(
    (error: unknown) => {
      const code = isAppError(error) ? error.code : 'INTERNAL';
      if (code === 'AGENT_UNAVAILABLE') return; // logged by applyVmOnHost; the reconciler retries
      deps.log.warn({ vmId: id, code, err: error }, 'background create did not reach running');
    },
  );
}

/**
 * `continueCreateInBackground` for VMs accepted together on one host (clones of one request): their
 * first steps, `pending → scheduled → starting`, in one statement for all (`transitionAll`), so that
 * their applies begin together rather than each after a transition of its own, and go to the Agent
 * together, none reading the snapshot their admission read (`snapshot`). A VM that statement
 * did not move (deleted meanwhile, or already moved) is continued from what its row says, as is
 * every VM when the statement fails.
 */
export function continueCreatesInBackground(deps: Deps, vms: readonly Vm[], host: Host, snapshot?: Snapshot): void {
  const pending = vms.filter((vm) => vm.state === 'pending');
  deps.vms
    .transitionAll(
      pending.map((vm) => vm.id),
      { from: 'pending', via: ['scheduled'], to: 'starting', at: deps.clock.now() },
    )
    .catch((error: unknown) => {
      deps.log.warn({ vmIds: pending.map((vm) => vm.id), err: error }, 'the clones’ first steps were not recorded together');
      return [];
    })
    .then((moved) => {
      const starting = new Map(moved.map((vm) => [vm.id, vm]));
      for (const vm of vms)
        continueCreateInBackground(deps, vm.id, starting.get(vm.id) ?? (vm.state === 'pending' ? undefined : vm), host, snapshot);
    })
    .catch((error: unknown) => deps.log.warn({ err: error }, 'background creates did not start'));
}
