import { canSeeProject } from '../../domain/access.js';
import { AppError } from '@hearth/errors';
import type { EventFilter, EventVisibility } from '../../domain/event.js';
import type { VmId } from '../../domain/ids.js';
import { vmNotFound } from '../../domain/vm-errors.js';
import type { UseCaseDependencies } from '../dependencies.js';
import type { EventPage } from '../ports/event-repository.js';

export const eventPageSize = { default: 100, maximum: 1000 } as const;

/**
 * Event ids a client may send back (as `cursor` or `Last-Event-ID`): ids are PostgreSQL bigints
 * handled as JS numbers, so anything past the largest exact integer is refused, not sent to the database.
 */
export const eventIdRange = { minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;

export interface EventPageOptions {
  readonly limit?: number | undefined;
  /** `nextCursor` of the previous page, or the id of the last event seen. */
  readonly cursor?: number | undefined;
}

/**
 * The event log, oldest first, filtered and paged by event id. EVENT_CURSOR_EXPIRED when events
 * after `cursor` were deleted by retention (start again without a cursor: from the oldest kept).
 */
export async function listEvents(
  deps: Pick<UseCaseDependencies, 'events'>,
  filter: EventFilter,
  options: EventPageOptions,
): Promise<EventPage> {
  const limit = Math.min(Math.max(options.limit ?? eventPageSize.default, 1), eventPageSize.maximum);
  if (options.cursor !== undefined) {
    const prunedThroughId = await deps.events.prunedThroughId();
    if (options.cursor < prunedThroughId) throw eventCursorExpired(options.cursor, prunedThroughId);
  }
  return deps.events.list(filter, { afterId: options.cursor, limit });
}

function eventCursorExpired(cursor: number, prunedThroughId: number): AppError {
  return new AppError(
    'EVENT_CURSOR_EXPIRED',
    `Events after ${cursor} up to ${prunedThroughId} were deleted by retention; list again without a cursor to start from the oldest kept event.`,
    { details: { cursor, prunedThroughId } },
  );
}

/**
 * The events of one VM, kept after it is deleted. VM_NOT_FOUND when there is neither such a VM
 * nor any event about it.
 */
/** The events of a VM that `visibleTo` may read (kept after the VM is deleted); VM_NOT_FOUND when it has none and no such VM is there for it. */
export async function listVmEvents(
  deps: Pick<UseCaseDependencies, 'events' | 'vms'>,
  vmId: VmId,
  visibleTo: EventVisibility,
  options: EventPageOptions,
): Promise<EventPage> {
  const page = await listEvents(deps, { vmId, visibleTo }, options);
  if (page.items.length === 0 && options.cursor === undefined) {
    const vm = await deps.vms.findById(vmId);
    if (vm === undefined || !canSeeProject(visibleTo.projects, vm.project)) throw vmNotFound(vmId);
  }
  return page;
}
