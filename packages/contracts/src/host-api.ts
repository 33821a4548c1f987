import { Type, type Static } from 'typebox';
import { HostCapacity, HostFacts } from './agent-api.js';

/** An Agent's persistent identity: created at its first start and kept in its state directory. */
export const AgentIdPattern = '^agent_[0-9A-HJKMNP-TV-Z]{26}$';
/** A cluster: created with the Manager's database; an Agent records it at its first registration. */
export const ClusterIdPattern = '^cluster_[0-9a-z]{8,64}$';
/**
 * An Agent's base URL: https (Managers call Agents over mutual TLS only), a host and an optional
 * port, nothing else (no credentials, path, query or fragment), so the Manager only ever calls the
 * Agent's own API under it.
 */
export const AgentBaseUrlPattern = '^https://[^/?#@\\\\\\s]+/?$';

/** Header carrying the Manager's cluster id on every call to an Agent; an Agent of another cluster refuses it. */
export const clusterIdHeader = 'x-hearth-cluster-id';

/** What an Agent sends the Manager (`POST /v1/hosts/register`, `POST /v1/hosts/:id/heartbeat`). */
export const HostRegistration = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' }),
    /** The Agent's persistent identity: a name belongs to the Agent that holds it. */
    agentId: Type.String({ pattern: AgentIdPattern, maxLength: 32 }),
    /** A random id per Agent process: a second live process with the same identity (a clone) is refused. */
    instanceId: Type.Optional(Type.String({ pattern: '^[0-9a-f]{32}$', maxLength: 32 })),
    /** The cluster the Agent belongs to; absent until its first registration. */
    clusterId: Type.Optional(Type.String({ pattern: ClusterIdPattern, maxLength: 72 })),
    /** Base URL the Manager uses to reach the Agent, e.g. `https://127.0.0.1:19090` (no path, query or credentials). */
    addr: Type.String({ minLength: 1, maxLength: 2048, pattern: AgentBaseUrlPattern }),
    capacity: HostCapacity,
    facts: HostFacts,
  },
  { additionalProperties: false },
);
export type HostRegistration = Static<typeof HostRegistration>;

export const HostRegistered = Type.Object({
  id: Type.String(),
  heartbeatIntervalMs: Type.Integer({ minimum: 100 }),
  /** The Manager's cluster: the Agent records it and refuses Managers of other clusters afterwards. */
  clusterId: Type.String({ pattern: ClusterIdPattern }),
});
export type HostRegistered = Static<typeof HostRegistered>;

export const HostHeartbeat = Type.Object(
  {
    capacity: HostCapacity,
    facts: HostFacts,
    /**
     * The tag (`ETag`) the Agent's inventory without resources (`GET /inventory?resources=none`)
     * has as the heartbeat is sent: a Manager that holds the inventory of that tag need not read it
     * again. Absent from an Agent that does not send it: its inventory is read as before.
     */
    inventoryTag: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  },
  { additionalProperties: false },
);
export type HostHeartbeat = Static<typeof HostHeartbeat>;
