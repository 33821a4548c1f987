import { Type, type Static } from 'typebox';
import { HostCapacity, HostFacts } from './agent-api.js';

/** What an Agent sends the Manager (`POST /v1/hosts/register`, `POST /v1/hosts/:id/heartbeat`). */
export const HostRegistration = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' }),
    /** Base URL the Manager uses to reach the Agent, e.g. `http://127.0.0.1:19090`. */
    addr: Type.String({ minLength: 1, maxLength: 2048, pattern: '^https?://' }),
    capacity: HostCapacity,
    facts: HostFacts,
  },
  { additionalProperties: false },
);
export type HostRegistration = Static<typeof HostRegistration>;

export const HostRegistered = Type.Object({
  id: Type.String(),
  heartbeatIntervalMs: Type.Integer({ minimum: 100 }),
});
export type HostRegistered = Static<typeof HostRegistered>;

export const HostHeartbeat = Type.Object(
  { capacity: HostCapacity, facts: HostFacts },
  { additionalProperties: false },
);
export type HostHeartbeat = Static<typeof HostHeartbeat>;
