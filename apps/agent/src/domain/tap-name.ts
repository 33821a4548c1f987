import { maxInterfaceNameBytes } from './interface-name.js';
import { ulidRandomPart, type VmId } from './vm-id.js';

export const tapNamePrefix = 'fc';
const tapSuffixLength = maxInterfaceNameBytes - tapNamePrefix.length; // 13
const crockford = '0123456789abcdefghjkmnpqrstvwxyz';

/** FNV-1a over a string, as an unsigned 32-bit integer. */
function fnv1a(text: string, seed: number): number {
  let hash = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/**
 * The `attempt`-th TAP name candidate for a VM: `fc` + 13 lowercase characters, always 15 bytes.
 * Attempt 0 is the last 13 characters of the ULID's random part: ids made in the same millisecond
 * (the Manager's are monotonic: ten clones admitted together) share its first characters and differ
 * in its last, so their first names do not collide (ADR 0109). Later attempts (taken only when an
 * earlier name is already used by a record or an existing link) mix a hash of the id and attempt.
 */
export function tapNameCandidate(vmId: VmId, attempt: number): string {
  const random = ulidRandomPart(vmId).toLowerCase();
  if (attempt === 0) return tapNamePrefix + random.slice(-tapSuffixLength);
  let suffix = '';
  for (let i = 0; suffix.length < tapSuffixLength; i += 1) {
    let hash = fnv1a(`${vmId}/${attempt}`, i);
    for (let j = 0; j < 6 && suffix.length < tapSuffixLength; j += 1) {
      suffix += crockford[hash & 31];
      hash >>>= 5;
    }
  }
  return tapNamePrefix + suffix;
}

export const maxTapNameAttempts = 8;
