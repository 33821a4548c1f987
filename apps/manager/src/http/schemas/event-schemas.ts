import { Type } from 'typebox';
import { eventTypePattern } from '../../domain/event.js';
import { eventIdRange, eventPageSize } from '../../application/use-cases/event-queries.js';
import { HostIdString, Timestamp, VmIdString } from './common.js';
import { VmStateSchema } from './vm-schemas.js';

export const EventView = Type.Object({
  /** Grows with every event; the cursor of `GET /v1/events` and the `id:` of the stream. */
  id: Type.Integer({ minimum: 1 }),
  /** `vm.created`, `vm.state_changed`, `vm.observed_state_changed`, `vm.egress_changed`, `vm.deleted`, `host.*`, … */
  type: Type.String(),
  vmId: Type.Union([Type.String(), Type.Null()]),
  hostId: Type.Union([Type.String(), Type.Null()]),
  /** The project of the VM or template; null for host events (seen only by tokens with hosts:admin). */
  project: Type.Union([Type.String(), Type.Null()]),
  /** The template a `template.*` event is about; null for VM and host events. */
  objectId: Type.Union([Type.String(), Type.Null()]),
  fromState: Type.Union([VmStateSchema, Type.Null()]),
  toState: Type.Union([VmStateSchema, Type.Null()]),
  message: Type.String(),
  at: Timestamp,
});

export const EventPageView = Type.Object({
  items: Type.Array(EventView),
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: Type.Union([Type.Integer(), Type.Null()]),
});

const filterFields = {
  vmId: Type.Optional(VmIdString),
  hostId: Type.Optional(HostIdString),
  type: Type.Optional(Type.String({ pattern: eventTypePattern, maxLength: 64 })),
};

const pageFields = {
  /** Answer events after this event id (the previous page's `nextCursor`). */
  cursor: Type.Optional(Type.Integer(eventIdRange)),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: eventPageSize.maximum, default: eventPageSize.default })),
};

export const ListEventsQuery = Type.Object({ ...filterFields, ...pageFields }, { additionalProperties: false });

export const ListVmEventsQuery = Type.Object(pageFields, { additionalProperties: false });

export const EventStreamQuery = Type.Object(filterFields, { additionalProperties: false });

/** `Last-Event-ID`: the id of the last event the client saw (digits; checked when read). */
export const EventStreamHeaders = Type.Object({
  'last-event-id': Type.Optional(Type.String({ maxLength: 32, description: 'Resume after this event id' })),
});
