import type { HostId, ImageId, SnapshotId, TemplateId, TokenId, VmId } from '../../domain/ids.js';

/** Makes new, sortable resource ids. */
export interface IdGenerator {
  vmId(): VmId;
  imageId(): ImageId;
  hostId(): HostId;
  credentialId(): string;
  joinTokenId(): string;
  tokenId(): TokenId;
  templateId(): TemplateId;
  snapshotId(): SnapshotId;
}
