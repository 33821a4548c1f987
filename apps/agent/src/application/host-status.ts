import type { AgentHealth, HostCapacity } from '@hearth/contracts';
import type { Clock } from './ports/clock.js';
import type { HostProbe } from './ports/host-probe.js';
import type { VmRecordStore } from './ports/vm-record-store.js';

export interface HostStatusContext {
  readonly probe: HostProbe;
  readonly records: VmRecordStore;
  readonly clock: Clock;
  readonly hostName: string;
}

export async function readCapacity(context: HostStatusContext): Promise<HostCapacity> {
  const [resources, records] = await Promise.all([context.probe.resources(), context.records.list()]);
  return { ...resources, vmCount: records.length };
}

export async function readHealth(context: HostStatusContext): Promise<AgentHealth> {
  return {
    status: 'ok',
    hostName: context.hostName,
    time: context.clock.now().toISOString(),
    facts: await context.probe.facts(),
  };
}
