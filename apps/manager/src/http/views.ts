import type { Static } from 'typebox';
import type { HostOverview } from '../application/use-cases/host-queries.js';
import { projectNamesOf } from '../domain/access.js';
import type { ApiToken } from '../domain/api-token.js';
import type { Image } from '../domain/image.js';
import type { Project } from '../domain/project.js';
import type { Snapshot } from '../domain/snapshot.js';
import type { Template } from '../domain/template.js';
import type { RecordedEvent } from '../domain/event.js';
import { vmListingOf, type Vm, type VmListing } from '../domain/vm.js';
import type { EventView } from './schemas/event-schemas.js';
import type { HostView } from './schemas/host-schemas.js';
import type { ImageView } from './schemas/image-schemas.js';
import type { TokenView } from './schemas/token-schemas.js';
import type { ProjectView } from './schemas/project-schemas.js';
import type { SnapshotView } from './schemas/snapshot-schemas.js';
import type { TemplateView } from './schemas/template-schemas.js';
import type { VmView } from './schemas/vm-schemas.js';

export function imageView(image: Image): Static<typeof ImageView> {
  return { ...image, createdAt: image.createdAt.toISOString() };
}

export function templateView(template: Template): Static<typeof TemplateView> {
  return { ...template, createdAt: template.createdAt.toISOString(), updatedAt: template.updatedAt.toISOString() };
}

export function snapshotView(snapshot: Snapshot): Static<typeof SnapshotView> {
  return {
    ...snapshot,
    sizes: snapshot.sizes === null ? null : { ...snapshot.sizes },
    fingerprint: snapshot.fingerprint === null ? null : { ...snapshot.fingerprint },
    failureReason: snapshot.failureReason === null ? null : { ...snapshot.failureReason },
    expiresAt: snapshot.expiresAt === null ? null : snapshot.expiresAt.toISOString(),
    createdAt: snapshot.createdAt.toISOString(),
    updatedAt: snapshot.updatedAt.toISOString(),
  };
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
  return vmListingView(vmListingOf(vm));
}

/** What may be read where a view is written: the view's values, none of them changed (the serializer only reads). */
type ReadonlyDeep<T> = T extends readonly (infer E)[]
  ? readonly ReadonlyDeep<E>[]
  : T extends object
    ? { readonly [K in keyof T]: ReadonlyDeep<T[K]> }
    : T;

/**
 * A VM as a list shows it is its view as it is, not a copy: the compiler checks that it holds
 * every field of the view, with the view's types; only its readonly arrays are not the view's.
 */
export function vmListingView(listing: VmListing): Static<typeof VmView> {
  const view: ReadonlyDeep<Static<typeof VmView>> = listing;
  return view as Static<typeof VmView>;
}

export function eventView(event: RecordedEvent): Static<typeof EventView> {
  return { ...event, objectId: event.objectId ?? null, at: event.at.toISOString() };
}

export function tokenView(token: ApiToken): Static<typeof TokenView> {
  const iso = (at: Date | undefined): string | null => (at === undefined ? null : at.toISOString());
  return {
    id: token.id,
    name: token.name,
    scopes: [...token.scopes],
    projects: [...projectNamesOf(token.projects)],
    createdAt: token.createdAt.toISOString(),
    createdBy: token.createdBy ?? null,
    expiresAt: iso(token.expiresAt),
    lastUsedAt: iso(token.lastUsedAt),
    revokedAt: iso(token.revokedAt),
  };
}

export function projectView(project: Project): Static<typeof ProjectView> {
  return {
    name: project.name,
    quota: {
      maxVms: project.quota.maxVms ?? null,
      maxVcpus: project.quota.maxVcpus ?? null,
      maxMemoryMib: project.quota.maxMemoryMib ?? null,
    },
    createdAt: project.createdAt.toISOString(),
  };
}
