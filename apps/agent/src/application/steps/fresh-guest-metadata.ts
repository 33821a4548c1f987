import { randomBytes } from 'node:crypto';
import type { GuestConfig } from '@hearth/contracts';
import { guestMetadata } from '../../domain/guest-metadata.js';

/** The guest's MMDS data with a new 256-bit entropy seed (one per PUT: a restored clone gets its own). */
export function freshGuestMetadata(vmId: string, guestMac: string, guest: GuestConfig): unknown {
  return guestMetadata(vmId, guestMac, guest, randomBytes(32).toString('hex'));
}
