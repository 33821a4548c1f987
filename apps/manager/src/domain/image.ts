import { AppError } from '@hearth/errors';
import type { ImageId } from './ids.js';

export const imageKinds = ['kernel', 'rootfs'] as const;
export type ImageKind = (typeof imageKinds)[number];

export const imageNamePattern = '^[a-z0-9][a-z0-9._-]*$';
export const imageNameMaxLength = 63;
const imageNameRegExp = new RegExp(imageNamePattern);

export function isValidImageName(name: string): boolean {
  return name.length >= 1 && name.length <= imageNameMaxLength && imageNameRegExp.test(name);
}

export interface Image {
  readonly id: ImageId;
  readonly kind: ImageKind;
  readonly name: string;
  /** The project that owns it; its name is unique within the project (per kind). */
  readonly project: string;
  /** The resolved (real) path of the file inside the image root. */
  readonly hostPath: string;
  readonly sha256: string;
  readonly sizeBytes: number;
  readonly createdAt: Date;
}

const elfMagic = [0x7f, 0x45, 0x4c, 0x46];
/** ext4 superblock starts at byte 1024; its magic 0xEF53 (little-endian) sits 56 bytes in. */
const ext4MagicOffset = 1080;
const ext4Magic = [0x53, 0xef];

/** How many leading bytes of a file `checkImageFormat` needs to see. */
export const imageHeadBytes = ext4MagicOffset + ext4Magic.length;

function hasBytesAt(head: Uint8Array, offset: number, expected: readonly number[]): boolean {
  return expected.every((byte, i) => head[offset + i] === byte);
}

export function looksLikeKind(kind: ImageKind, head: Uint8Array): boolean {
  return kind === 'kernel' ? hasBytesAt(head, 0, elfMagic) : hasBytesAt(head, ext4MagicOffset, ext4Magic);
}

/** A kernel must be an ELF vmlinux, a rootfs an ext4 file system; otherwise IMAGE_FORMAT_INVALID. */
export function checkImageFormat(kind: ImageKind, head: Uint8Array): void {
  if (!looksLikeKind(kind, head)) {
    const expected = kind === 'kernel' ? 'an ELF vmlinux (magic 7F 45 4C 46)' : 'an ext4 image (superblock magic 0xEF53)';
    throw new AppError('IMAGE_FORMAT_INVALID', `The file is not ${expected}`, { details: { kind } });
  }
}

/** True when `path` (already resolved) is `root` itself or below it. Both must be absolute and normalised. */
export function isInsideRoot(root: string, path: string): boolean {
  const base = root.endsWith('/') ? root : `${root}/`;
  return path.startsWith(base);
}
