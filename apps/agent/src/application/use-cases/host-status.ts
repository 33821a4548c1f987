import type { AgentHealth, HostCapacity, HostFacts, HostHeartbeat } from '@hearth/contracts';
import type { Clock } from '../ports/clock.js';
import type { HostProbe } from '../ports/host-probe.js';
import type { VmRecordStore } from '../ports/vm-record-store.js';

export interface HostStatusContext {
  readonly probe: HostProbe;
  readonly records: VmRecordStore;
  readonly clock: Clock;
  readonly hostName: string;
}

/** How long heartbeats may reuse host facts: short enough that a bridge going down shows up soon. */
export const heartbeatFactsTtlMs = 15_000;

/**
 * Host facts reused for `ttlMs` of monotonic time, so a heartbeat does not open /dev/kvm, search
 * PATH for firecracker and read the bridge's link state every time. Callers that
 * arrive while a read is under way share it; a failed read is not kept.
 */
export class HostFactsCache {
  private cached: { readonly facts: HostFacts; readonly readAtMs: number } | null = null;
  private pending: Promise<HostFacts> | null = null;

  constructor(
    private readonly probe: HostProbe,
    private readonly clock: Pick<Clock, 'monotonicMs'>,
    private readonly ttlMs: number = heartbeatFactsTtlMs,
  ) {}

  /** The cached facts while younger than the TTL, otherwise fresh ones. */
  async get(): Promise<HostFacts> {
    if (this.cached !== null && this.clock.monotonicMs() - this.cached.readAtMs < this.ttlMs) return this.cached.facts;
    return this.refresh();
  }

  /** Reads the facts now and keeps them; aged from when the read started. */
  refresh(): Promise<HostFacts> {
    if (this.pending === null) {
      const readAtMs = this.clock.monotonicMs();
      this.pending = this.probe
        .facts()
        .then((facts) => {
          this.cached = { facts, readAtMs };
          return facts;
        })
        .finally(() => {
          this.pending = null;
        });
    }
    return this.pending;
  }
}

/** `/capacity`: resources and VM count, read now. */
export async function readCapacity(context: HostStatusContext): Promise<HostCapacity> {
  const [resources, records] = await Promise.all([context.probe.resources(), context.records.list()]);
  return { ...resources, vmCount: records.length };
}

/** `/health`: always fresh facts, so an operator checking preflight sees the host as it is now. */
export async function readHealth(context: HostStatusContext): Promise<AgentHealth> {
  return {
    status: 'ok',
    hostName: context.hostName,
    time: context.clock.now().toISOString(),
    facts: await context.probe.facts(),
  };
}

/**
 * The heartbeat (and registration) payload, built cheaply: resources (one /proc/meminfo read) and the
 * VM count read once, facts from the cache, which may be up to its TTL old. With `inventoryTag` (the
 * heartbeat, not the registration), the tag the inventory without resources has now: the inventory
 * keeps its last answer while nothing it reports changed, so this builds no entry and hashes nothing
 * on a quiet host. The tag is taken as the heartbeat is built, after the heartbeat before it was
 * answered: what lets the Manager date it (ADR 0086).
 */
export async function readHeartbeat(
  context: HostStatusContext,
  facts: HostFactsCache,
  inventoryTag?: () => Promise<string>,
): Promise<HostHeartbeat> {
  // An inventory that cannot be listed now never holds the heartbeat back: it goes without a tag,
  // and the Manager reads the inventory as it would from an Agent that sends none.
  const tag = inventoryTag?.().catch(() => undefined);
  const [capacity, hostFacts, inventoryTagNow] = await Promise.all([readCapacity(context), facts.get(), tag]);
  return { capacity, facts: hostFacts, ...(inventoryTagNow === undefined ? {} : { inventoryTag: inventoryTagNow }) };
}
