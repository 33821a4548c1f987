import type { Static } from 'typebox';
import type { HostOverview } from '../application/use-cases/host-queries.js';
import type { Image } from '../domain/image.js';
import type { RecordedEvent } from '../domain/event.js';
import type { Vm } from '../domain/vm.js';
import type { EventView } from './schemas/event-schemas.js';
import type { HostView } from './schemas/host-schemas.js';
import type { ImageView } from './schemas/image-schemas.js';
import type { VmView } from './schemas/vm-schemas.js';

export function imageView(image: Image): Static<typeof ImageView> {
  return { ...image, createdAt: image.createdAt.toISOString() };
}

export function hostView({ host, status, allocated }: HostOverview): Static<typeof HostView> {
  return {
    id: host.id,
    name: host.name,
    addr: host.addr,
    status,
    statusChangedAt: host.statusChangedAt === null ? null : host.statusChangedAt.toISOString(),
    isCordoned: host.isCordoned,
    capacity: host.capacity,
    facts: host.facts,
    allocated: { vcpuCount: allocated.vcpuCount, memoryMib: allocated.memoryMib },
    registeredAt: host.registeredAt.toISOString(),
    lastHeartbeatAt: host.lastHeartbeatAt.toISOString(),
  };
}

export function vmView(vm: Vm): Static<typeof VmView> {
  return {
    ...vm,
    failureReason: vm.failureReason === null ? null : { ...vm.failureReason },
    steps: vm.steps.map((step) => ({ name: step.name, durationMs: step.durationMs, at: step.at.toISOString() })),
    createdAt: vm.createdAt.toISOString(),
    updatedAt: vm.updatedAt.toISOString(),
    observedAt: vm.observedAt === null ? null : vm.observedAt.toISOString(),
  };
}

export function eventView(event: RecordedEvent): Static<typeof EventView> {
  return { ...event, at: event.at.toISOString() };
}
