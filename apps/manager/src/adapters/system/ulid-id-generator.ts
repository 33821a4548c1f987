import { monotonicFactory } from 'ulid';
import type { IdGenerator } from '../../application/ports/id-generator.js';
import {
  credentialIdFromUlid,
  hostIdFromUlid,
  imageIdFromUlid,
  joinTokenIdFromUlid,
  snapshotIdFromUlid,
  templateIdFromUlid,
  tokenIdFromUlid,
  vmIdFromUlid,
  type HostId,
  type ImageId,
  type SnapshotId,
  type TemplateId,
  type TokenId,
  type VmId,
} from '../../domain/ids.js';

/** Monotonic ULIDs: ids made by this process sort in creation order, even within a millisecond. */
export class UlidIdGenerator implements IdGenerator {
  private readonly next = monotonicFactory();

  vmId(): VmId {
    return vmIdFromUlid(this.next());
  }

  imageId(): ImageId {
    return imageIdFromUlid(this.next());
  }

  hostId(): HostId {
    return hostIdFromUlid(this.next());
  }

  credentialId(): string {
    return credentialIdFromUlid(this.next());
  }

  joinTokenId(): string {
    return joinTokenIdFromUlid(this.next());
  }

  tokenId(): TokenId {
    return tokenIdFromUlid(this.next());
  }

  templateId(): TemplateId {
    return templateIdFromUlid(this.next());
  }

  snapshotId(): SnapshotId {
    return snapshotIdFromUlid(this.next());
  }
}
