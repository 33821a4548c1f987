import { createHash } from 'node:crypto';

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
