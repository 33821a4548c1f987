import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { Inventory } from '@hearth/contracts';

/**
 * The ETag of an inventory answer: this Agent process and the digest of the answer's own bytes.
 * What an inventory reports comes from the VMs' records, `/proc` and the host's firewall, which
 * change outside any one code path of the Agent (a VMM dies, a rule is removed by hand), so the tag
 * is taken from the answer rather than kept as a counter: any change to what it reports changes it.
 * The process's id in it means a restarted Agent never answers 304 to a tag of the process before.
 */
export function inventoryTag(instanceId: string, body: string): string {
  return `"${instanceId}-${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
}

/** Whether an `If-None-Match` header names `tag` (RFC 9110: a list, weak comparison, or `*`). */
export function isNamedByIfNoneMatch(header: string | undefined, tag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((entry) => {
    const named = entry.trim();
    return named === '*' || named === tag || named === `W/${tag}`;
  });
}

function isSameInventory(a: Inventory, b: Inventory): boolean {
  return (
    a.hostName === b.hostName &&
    a.vms.length === b.vms.length &&
    a.vms.every((vm, index) => vm === b.vms[index]) &&
    isDeepStrictEqual(a.unrecorded, b.unrecorded) &&
    isDeepStrictEqual(a.snapshotCopies, b.snapshotCopies)
  );
}

/**
 * The last inventory answered, its bytes and its tag. An inventory that lists the very entry
 * objects the last one listed (`InventoryEntries` keeps them while nothing they were built from
 * changed), with the same unrecorded TAPs and snapshot copies, is that answer again: its bytes and
 * tag are reused instead of serialising and hashing every VM's entry again. Anything else is
 * serialised (`serialize`: the route's own serialiser) and tagged from its bytes, as before.
 */
export class InventoryAnswers {
  private last: { readonly inventory: Inventory; readonly body: string; readonly tag: string } | null = null;

  constructor(private readonly instanceId: string) {}

  answerOf(inventory: Inventory, serialize: (inventory: Inventory) => string): { readonly body: string; readonly tag: string } {
    const last = this.last;
    if (last !== null && isSameInventory(last.inventory, inventory)) return last;
    const body = serialize(inventory);
    this.last = { inventory, body, tag: inventoryTag(this.instanceId, body) };
    return this.last;
  }
}
