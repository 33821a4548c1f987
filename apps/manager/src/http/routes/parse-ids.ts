import { AppError } from '@hearth/errors';
import {
  parseHostId,
  parseImageId,
  parseSnapshotId,
  parseTemplateId,
  parseTokenId,
  parseVmId,
  type HostId,
  type ImageId,
  type SnapshotId,
  type TemplateId,
  type TokenId,
  type VmId,
} from '../../domain/ids.js';

// Route schemas already reject malformed ids with 400 VALIDATION_FAILED; these turn the checked
// strings into branded ids (and keep the same answer should a schema ever be missing).

export function vmIdParam(value: string): VmId {
  return parseVmId(value) ?? invalidId('params/id', value);
}

export function imageIdParam(value: string): ImageId {
  return parseImageId(value) ?? invalidId('params/id', value);
}

export function hostIdParam(value: string): HostId {
  return parseHostId(value) ?? invalidId('params/id', value);
}

export function tokenIdParam(value: string): TokenId {
  return parseTokenId(value) ?? invalidId('params/id', value);
}

export function templateIdParam(value: string): TemplateId {
  return parseTemplateId(value) ?? invalidId('params/id', value);
}

export function snapshotIdParam(value: string): SnapshotId {
  return parseSnapshotId(value) ?? invalidId('params/id', value);
}

function invalidId(field: string, value: string): never {
  throw new AppError('VALIDATION_FAILED', `Invalid params: ${field}`, {
    errors: [{ field, message: `"${value.slice(0, 64)}" is not a valid id` }],
  });
}
