import type { ReportedInventory } from '../../domain/host.js';

/** The inventory a resync holds for a host: its tag, and a time its Agent's inventory had that tag at or after. */
export interface HeldInventoryTag {
  readonly tag: string;
  /** ms since the epoch, on the reconciler's clock. */
  readonly currentAtMs: number;
}

/**
 * Whether a resync may take the inventory it holds for a host instead of reading it, and if so the
 * time it is then known current at (its `askedAt`): when the host's last heartbeat reported the
 * held inventory's tag, and the later of the held read and the report's earliest time is at most
 * `maxAgeMs` old. Undefined (read it, as before) without a report (an Agent that sends no tag,
 * none since it registered), without a held inventory, with another tag (a change, or another
 * Agent process: the tag names it), or when neither is recent enough (heartbeats late or stopped).
 *
 * Same tag means the same bytes, so the held inventory is what the Agent listed when it took the
 * tag: after `report.takenAfter`, and, as it was read, after `held.currentAtMs`.
 */
export function heldInventoryCurrentAt(
  report: ReportedInventory | null,
  held: HeldInventoryTag | undefined,
  nowMs: number,
  maxAgeMs: number,
): number | undefined {
  if (report === null || held === undefined || report.tag !== held.tag) return undefined;
  const currentAtMs = Math.max(held.currentAtMs, report.takenAfter.getTime());
  return nowMs - currentAtMs <= maxAgeMs ? currentAtMs : undefined;
}
