import { AppError } from '@hearth/errors';
import { formatIpv4, whyNotLeasable, type AddressPool, type LeaseRequest } from './address-pool.js';

/** What is known of one address: held by a VM, or released (and when). */
export type AddressLease =
  { readonly vmId: string; readonly releasedAt: null } | { readonly vmId: null; readonly releasedAt: Date };

/** The address chosen for a new VM; `isReuse` when it was leased before (released, quarantine over). */
export interface ChosenAddress {
  readonly address: number;
  readonly isReuse: boolean;
}

/**
 * The address a lease request gets, given every lease of the pool (`leases`, by address), at `now`:
 * the one asked for, else the lowest never leased, else the one released longest ago whose
 * quarantine is over. Throws what the API answers when there is none. The database adapter does
 * the same in SQL, under a lock.
 */
export function chooseAddress(request: LeaseRequest, leases: ReadonlyMap<number, AddressLease>, now: Date): ChosenAddress {
  const cutoff = now.getTime() - request.quarantineMs;
  const { pool } = request;
  if (request.address !== undefined) {
    const why = whyNotLeasable(pool, request.address);
    if (why !== undefined) throw invalidAddress(why);
    const lease = leases.get(request.address);
    if (lease === undefined) return { address: request.address, isReuse: false };
    if (lease.vmId === null && lease.releasedAt.getTime() <= cutoff) return { address: request.address, isReuse: true };
    throw addressTaken(request.address, lease.releasedAt, request.quarantineMs);
  }
  for (let address = pool.first; address <= pool.last; address++) {
    if (!leases.has(address)) return { address, isReuse: false };
  }
  let oldest: { address: number; releasedAt: number } | undefined;
  for (const [address, lease] of leases) {
    if (address < pool.first || address > pool.last || lease.vmId !== null) continue;
    const releasedAt = lease.releasedAt.getTime();
    if (releasedAt > cutoff) continue;
    if (
      oldest === undefined ||
      releasedAt < oldest.releasedAt ||
      (releasedAt === oldest.releasedAt && address < oldest.address)
    ) {
      oldest = { address, releasedAt };
    }
  }
  if (oldest === undefined) throw poolExhausted(pool);
  return { address: oldest.address, isReuse: true };
}

/** An address the pool cannot lease (outside it, or its gateway): the caller's field is wrong. */
export function invalidAddress(why: string): AppError {
  return new AppError('VALIDATION_FAILED', 'Invalid body: ipAddress', { errors: [{ field: 'body/ipAddress', message: why }] });
}

/** ADDRESS_TAKEN, saying until when a released address stays quarantined. */
export function addressTaken(address: number, releasedAt: Date | null, quarantineMs: number): AppError {
  const ipAddress = formatIpv4(address);
  if (releasedAt === null) return new AppError('ADDRESS_TAKEN', `${ipAddress} is held by another VM`, { details: { ipAddress } });
  const quarantinedUntil = new Date(releasedAt.getTime() + quarantineMs).toISOString();
  return new AppError('ADDRESS_TAKEN', `${ipAddress} was released recently; it can be leased again from ${quarantinedUntil}`, {
    details: { ipAddress, quarantinedUntil },
  });
}

export function poolExhausted(pool: AddressPool): AppError {
  return new AppError('ADDRESS_POOL_EXHAUSTED', `Every address of ${pool.cidr} is held or quarantined`, {
    details: { pool: pool.cidr },
  });
}
