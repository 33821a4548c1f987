import { AgentIdPattern } from '@hearth/contracts';
import type { VmId } from './vm-id.js';

/**
 * Who this Agent is, kept in its state directory: its identity (created at its first start, so a
 * name copied by another machine cannot take its host over) and the cluster it joined at its first
 * registration (null until then), so it refuses a Manager of another cluster.
 */
export interface AgentIdentity {
  readonly agentId: string;
  readonly clusterId: string | null;
}

const crockford = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const agentIdRegExp = new RegExp(AgentIdPattern);

/** `agent_` + a ULID: 10 characters of time, 16 of randomness (`randomBytes` gives at least 16 bytes). */
export function newAgentId(nowMs: number, randomBytes: Uint8Array): string {
  let time = '';
  for (let value = nowMs, i = 0; i < 10; i += 1, value = Math.floor(value / 32)) time = crockford[value % 32] + time;
  let random = '';
  for (let i = 0; i < 16; i += 1) random += crockford[(randomBytes[i] ?? 0) % 32];
  return `agent_${time}${random}`;
}

export function isAgentId(value: unknown): value is string {
  return typeof value === 'string' && agentIdRegExp.test(value);
}

/**
 * The mark an Agent puts on each TAP it creates (the interface alias), before anything else is done
 * with it: `hearth:<agentId>:<vmId>`. The sweep and the resource ledger find this Agent's TAPs by it,
 * attached to the bridge or not, and leave every other interface alone.
 */
export function tapMark(agentId: string, vmId: VmId): string {
  return `${tapMarkPrefix(agentId)}${vmId}`;
}

export function tapMarkPrefix(agentId: string): string {
  return `hearth:${agentId}:`;
}

/** The VM id in this Agent's mark; undefined for an alias that is not this Agent's mark. */
export function vmIdOfTapMark(agentId: string, alias: string | null): string | undefined {
  const prefix = tapMarkPrefix(agentId);
  return alias !== null && alias.startsWith(prefix) ? alias.slice(prefix.length) : undefined;
}
