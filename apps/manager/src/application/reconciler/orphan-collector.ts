import type { AgentVm } from '@hearth/contracts';
import type { Host } from '../../domain/host.js';
import type { HostId, VmId } from '../../domain/ids.js';
import { decideOrphanRemoval, defaultOrphanGuardPolicy, type OrphanGuardPolicy } from '../../domain/orphan-guard.js';
import type { Vm } from '../../domain/vm.js';
import { ignoreNotFound } from './ignore-not-found.js';
import type { ReconcilerDependencies } from './reconciler-dependencies.js';

/**
 * Removes from a host every VM its Agent holds that has no record (or a record on another host),
 * unless they are too large a share of the host's VMs (see `decideOrphanRemoval`): then none is
 * removed, and a `host.orphans_withheld` event says why (once, until the count changes).
 */
export class OrphanCollector {
  /** Per host, the orphan count last withheld (so its event is written once, not every pass). */
  private readonly withheld = new Map<HostId, number>();
  /**
   * Each inventory last found to hold no orphan, with its host and the rows' departures from it then:
   * while both stay the same it still holds none, and its VMs are not looked up again.
   */
  private readonly withoutOrphans = new WeakMap<object, { readonly hostId: HostId; readonly departures: number }>();

  constructor(
    private readonly deps: Pick<ReconcilerDependencies, 'vms' | 'agents' | 'events' | 'clock' | 'log'>,
    private readonly policy: OrphanGuardPolicy = defaultOrphanGuardPolicy,
  ) {}

  /**
   * Answers how many orphans were removed; stops removing once `isLeading()` turns false. `rows` that
   * count their departures from a host (`departuresFrom`) let an inventory found without orphans be
   * passed over until it or they change (the same inventory object is answered while its Agent
   * reports it unchanged).
   */
  async collect(
    host: Host,
    inventory: { readonly vms: readonly Pick<AgentVm, 'vmId' | 'vmmState'>[] },
    rows: { get(vmId: VmId): Pick<Vm, 'hostId'> | undefined; departuresFrom?(hostId: HostId): number },
    isLeading: () => boolean,
  ): Promise<number> {
    const departures = rows.departuresFrom?.(host.id);
    const checked = this.withoutOrphans.get(inventory);
    if (departures !== undefined && checked?.hostId === host.id && checked.departures === departures) return 0;
    const orphans: VmId[] = [];
    // A VM read from the database was not among the rows: its deletion would not count as a departure.
    let isAllInRows = true;
    for (const agentVm of inventory.vms) {
      // What the Agent cannot read a record for is never deleted: its data may be all that is left.
      if (agentVm.vmmState === 'unreadable') continue;
      let row = rows.get(agentVm.vmId as VmId);
      if (row === undefined) {
        isAllInRows = false;
        row = await this.deps.vms.findById(agentVm.vmId as VmId);
      }
      if (row === undefined || row.hostId !== host.id) orphans.push(agentVm.vmId as VmId);
    }
    if (!isLeading()) return 0;
    if (orphans.length === 0) {
      this.withheld.delete(host.id);
      if (departures !== undefined && isAllInRows) this.withoutOrphans.set(inventory, { hostId: host.id, departures });
      return 0;
    }
    const decision = decideOrphanRemoval(orphans.length, inventory.vms.length, this.policy);
    if (decision.kind === 'withhold') {
      if (this.withheld.get(host.id) !== orphans.length) {
        this.withheld.set(host.id, orphans.length);
        this.deps.log.error({ hostId: host.id, orphans: orphans.length, vms: inventory.vms.length }, 'orphan removal withheld');
        await this.deps.events.append({
          type: 'host.orphans_withheld',
          vmId: null,
          project: null,
          hostId: host.id,
          fromState: null,
          toState: null,
          message: decision.message,
          at: this.deps.clock.now(),
        });
      }
      return 0;
    }
    this.withheld.delete(host.id);
    let removed = 0;
    for (const vmId of orphans) {
      if (!isLeading()) break;
      try {
        const result = await ignoreNotFound(this.deps.agents.deleteVm(host, vmId));
        removed += 1;
        this.deps.log.warn({ hostId: host.id, vmId, removed: result?.removed.length ?? 0 }, 'orphaned host resources removed');
      } catch (error) {
        this.deps.log.warn({ hostId: host.id, vmId, err: error }, 'orphaned host resources could not be removed');
      }
    }
    return removed;
  }
}
