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

const crockford = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** Predictable, increasing ids: `vm_01J00000000000000000000001`, … */
export class SequentialIdGenerator implements IdGenerator {
  private counter = 0;

  vmId(): VmId {
    return vmIdFromUlid(this.nextUlid());
  }

  imageId(): ImageId {
    return imageIdFromUlid(this.nextUlid());
  }

  hostId(): HostId {
    return hostIdFromUlid(this.nextUlid());
  }

  credentialId(): string {
    return credentialIdFromUlid(this.nextUlid());
  }

  joinTokenId(): string {
    return joinTokenIdFromUlid(this.nextUlid());
  }

  tokenId(): TokenId {
    return tokenIdFromUlid(this.nextUlid());
  }

  templateId(): TemplateId {
    return templateIdFromUlid(this.nextUlid());
  }

  snapshotId(): SnapshotId {
    return snapshotIdFromUlid(this.nextUlid());
  }

  private nextUlid(): string {
    this.counter += 1;
    let n = this.counter;
    let body = '';
    while (n > 0) {
      body = crockford[n % 32] + body;
      n = Math.floor(n / 32);
    }
    return `01J${body.padStart(23, '0')}`;
  }
}
