import { VmIdPattern } from '@hearth/contracts';
import { AppError } from '@hearth/errors';

declare const vmIdBrand: unique symbol;
/** A Manager-assigned VM id, `vm_` + a 26-character Crockford ULID, checked at the boundary. */
export type VmId = string & { readonly [vmIdBrand]: true };

const vmIdRegExp = new RegExp(VmIdPattern);

export function isVmId(value: string): value is VmId {
  return vmIdRegExp.test(value);
}

export function parseVmId(value: string): VmId {
  if (!isVmId(value)) {
    throw new AppError('VALIDATION_FAILED', `Not a VM id: ${JSON.stringify(value)}`, {
      errors: [{ field: 'params/id', message: `must match pattern "${VmIdPattern}"` }],
    });
  }
  return value;
}

/** Firecracker's `--id` accepts only alphanumerics and `-`, so `_` becomes `-`. */
export function firecrackerInstanceId(vmId: VmId): string {
  return vmId.replaceAll('_', '-');
}

/** The 16 random characters of the ULID (after the 10-character timestamp). */
export function ulidRandomPart(vmId: VmId): string {
  return vmId.slice('vm_'.length + 10);
}
