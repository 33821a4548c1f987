/**
 * Resource ids: a prefix and a 26-character Crockford ULID (`vm_01J…`), sortable by creation time
 * and branded so that a host id cannot be passed where a VM id is expected.
 */
declare const brand: unique symbol;
type Branded<T, B extends string> = T & { readonly [brand]: B };

export type VmId = Branded<string, 'VmId'>;
export type ImageId = Branded<string, 'ImageId'>;
export type HostId = Branded<string, 'HostId'>;
export type TokenId = Branded<string, 'TokenId'>;
export type TemplateId = Branded<string, 'TemplateId'>;
export type SnapshotId = Branded<string, 'SnapshotId'>;

const ulidBody = '[0-9A-HJKMNP-TV-Z]{26}';

export const idPrefixes = {
  vm: 'vm_',
  image: 'img_',
  host: 'host_',
  token: 'tok_',
  credential: 'cred_',
  joinToken: 'jtk_',
  template: 'tpl_',
  snapshot: 'snap_',
} as const;

export const vmIdPattern = `^vm_${ulidBody}$`;
export const imageIdPattern = `^img_${ulidBody}$`;
export const hostIdPattern = `^host_${ulidBody}$`;
export const tokenIdPattern = `^tok_${ulidBody}$`;
export const templateIdPattern = `^tpl_${ulidBody}$`;
export const snapshotIdPattern = `^snap_${ulidBody}$`;

const vmIdRegExp = new RegExp(vmIdPattern);
const imageIdRegExp = new RegExp(imageIdPattern);
const hostIdRegExp = new RegExp(hostIdPattern);
const tokenIdRegExp = new RegExp(tokenIdPattern);
const templateIdRegExp = new RegExp(templateIdPattern);
const snapshotIdRegExp = new RegExp(snapshotIdPattern);
const ulidRegExp = new RegExp(`^${ulidBody}$`);

export function parseVmId(value: string): VmId | undefined {
  return vmIdRegExp.test(value) ? (value as VmId) : undefined;
}

export function parseImageId(value: string): ImageId | undefined {
  return imageIdRegExp.test(value) ? (value as ImageId) : undefined;
}

export function parseHostId(value: string): HostId | undefined {
  return hostIdRegExp.test(value) ? (value as HostId) : undefined;
}

export function parseTokenId(value: string): TokenId | undefined {
  return tokenIdRegExp.test(value) ? (value as TokenId) : undefined;
}

export function parseTemplateId(value: string): TemplateId | undefined {
  return templateIdRegExp.test(value) ? (value as TemplateId) : undefined;
}

export function parseSnapshotId(value: string): SnapshotId | undefined {
  return snapshotIdRegExp.test(value) ? (value as SnapshotId) : undefined;
}

/** Builds an id from a ULID; throws on anything that is not an upper-case Crockford ULID. */
export function vmIdFromUlid(ulid: string): VmId {
  return withPrefix(idPrefixes.vm, ulid) as VmId;
}

export function imageIdFromUlid(ulid: string): ImageId {
  return withPrefix(idPrefixes.image, ulid) as ImageId;
}

export function hostIdFromUlid(ulid: string): HostId {
  return withPrefix(idPrefixes.host, ulid) as HostId;
}

/** An Agent credential's id (`cred_…`): named in the Agent's certificate, never a secret. */
export function credentialIdFromUlid(ulid: string): string {
  return withPrefix(idPrefixes.credential, ulid);
}

export function joinTokenIdFromUlid(ulid: string): string {
  return withPrefix(idPrefixes.joinToken, ulid);
}

export function tokenIdFromUlid(ulid: string): TokenId {
  return withPrefix(idPrefixes.token, ulid) as TokenId;
}

export function templateIdFromUlid(ulid: string): TemplateId {
  return withPrefix(idPrefixes.template, ulid) as TemplateId;
}

export function snapshotIdFromUlid(ulid: string): SnapshotId {
  return withPrefix(idPrefixes.snapshot, ulid) as SnapshotId;
}

function withPrefix(prefix: string, ulid: string): string {
  if (!ulidRegExp.test(ulid)) throw new TypeError(`not a ULID: ${ulid}`);
  return `${prefix}${ulid}`;
}
