import { canSeeProject, hasScope, type Principal, type ProjectSet } from './access.js';
import type { HostId, VmId } from './ids.js';
import type { VmState } from './vm-state.js';

/**
 * What happened, written in the same transaction as the change it describes. Types are
 * `<aggregate>.<what_happened>`; new types may be added without a migration.
 */
export type EventType =
  | 'vm.created'
  | 'vm.state_changed'
  | 'vm.observed_state_changed'
  | 'vm.egress_changed'
  | 'vm.rate_limits_changed'
  | 'vm.deleted'
  | 'host.registered'
  | 'host.address_changed'
  | 'host.removed'
  | 'host.orphans_withheld'
  | 'host.unhealthy'
  | 'host.recovered'
  | 'host.cordoned'
  | 'host.uncordoned'
  | 'template.created'
  | 'template.updated'
  | 'template.deleted'
  | 'snapshot.created'
  | 'snapshot.ready'
  | 'snapshot.failed'
  | 'snapshot.deleted'
  | (string & { readonly eventType?: never });

export const eventTypePattern = '^[a-z]+\\.[a-z_]+$';
const eventTypeRegExp = new RegExp(eventTypePattern);

export function isEventType(value: string): value is EventType {
  return eventTypeRegExp.test(value);
}

/** An event as recorded: ids grow with every event (in the order the rows were inserted). */
export interface RecordedEvent {
  readonly id: number;
  readonly type: EventType;
  readonly vmId: VmId | null;
  readonly hostId: HostId | null;
  /** The project of the VM (or template) the event is about; null for host events (shared infrastructure). */
  readonly project: string | null;
  /** The template or snapshot the event is about (a snapshot's events name its VM too). */
  readonly objectId?: string | undefined;
  readonly fromState: VmState | null;
  readonly toState: VmState | null;
  readonly message: string;
  readonly at: Date;
}

/** An event about to be recorded (its id is given by the store). */
export type NewEvent = Omit<RecordedEvent, 'id'>;

/** Which events a reader wants; every given field must match. */
export interface EventFilter {
  /** Who reads: events of other projects (and host events, unless `hostEvents`) are not there for it. */
  readonly visibleTo?: EventVisibility | undefined;
  readonly vmId?: VmId | undefined;
  readonly hostId?: HostId | undefined;
  readonly type?: EventType | undefined;
}

export interface EventVisibility {
  readonly projects: ProjectSet;
  /** Host events too (for administrators of the hosts). */
  readonly hostEvents: boolean;
}

/** What `principal` may read: its projects' events, and host events when it administers hosts. */
export function eventVisibilityOf(principal: Principal): EventVisibility {
  return { projects: principal.projects, hostEvents: hasScope(principal, 'hosts:admin') };
}

export function isEventVisible(event: Pick<RecordedEvent, 'project'>, visibility: EventVisibility): boolean {
  return event.project === null ? visibility.hostEvents : canSeeProject(visibility.projects, event.project);
}

export function matchesEventFilter(event: RecordedEvent, filter: EventFilter): boolean {
  return (
    (filter.visibleTo === undefined || isEventVisible(event, filter.visibleTo)) &&
    (filter.vmId === undefined || event.vmId === filter.vmId) &&
    (filter.hostId === undefined || event.hostId === filter.hostId) &&
    (filter.type === undefined || event.type === filter.type)
  );
}
