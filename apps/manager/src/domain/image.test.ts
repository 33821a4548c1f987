import { describe, expect, it } from 'vitest';
import { AppError } from '@hearth/errors';
import { checkImageFormat, imageHeadBytes, isInsideRoot, isValidImageName, looksLikeKind } from './image.js';

function elf(): Uint8Array {
  const bytes = new Uint8Array(imageHeadBytes);
  bytes.set([0x7f, 0x45, 0x4c, 0x46]);
  return bytes;
}

function ext4(): Uint8Array {
  const bytes = new Uint8Array(imageHeadBytes);
  bytes.set([0x53, 0xef], 1080);
  return bytes;
}

describe('image formats', () => {
  it('takes a file starting 7F 45 4C 46 as a kernel', () => {
    expect(looksLikeKind('kernel', elf())).toBe(true);
  });

  it('takes a file with 0xEF53 little-endian at byte 1080 as a rootfs', () => {
    expect(looksLikeKind('rootfs', ext4())).toBe(true);
  });

  it('refuses an ext4 image as a kernel with IMAGE_FORMAT_INVALID', () => {
    expect(() => checkImageFormat('kernel', ext4())).toThrowError(
      expect.objectContaining({ code: 'IMAGE_FORMAT_INVALID' }) as AppError,
    );
  });

  it('refuses an ELF file as a rootfs with IMAGE_FORMAT_INVALID', () => {
    expect(() => checkImageFormat('rootfs', elf())).toThrowError(
      expect.objectContaining({ code: 'IMAGE_FORMAT_INVALID' }) as AppError,
    );
  });

  it('refuses a file too short to hold an ext4 superblock', () => {
    expect(looksLikeKind('rootfs', new Uint8Array(100))).toBe(false);
  });

  it('refuses big-endian 0xEF53 as a rootfs', () => {
    const bytes = new Uint8Array(imageHeadBytes);
    bytes.set([0xef, 0x53], 1080);
    expect(looksLikeKind('rootfs', bytes)).toBe(false);
  });
});

describe('image names', () => {
  it.each(['vmlinux-6.1', 'ubuntu_24.04', '0', 'a'.repeat(63)])('accepts %s', (name) => {
    expect(isValidImageName(name)).toBe(true);
  });

  it.each(['', '.hidden', 'Upper', 'a/b', 'a;b', 'a'.repeat(64)])('refuses %j', (name) => {
    expect(isValidImageName(name)).toBe(false);
  });
});

describe('isInsideRoot', () => {
  it('accepts a file below the root', () => {
    expect(isInsideRoot('/srv/images', '/srv/images/k/vmlinux')).toBe(true);
  });

  it('refuses a sibling directory sharing the prefix', () => {
    expect(isInsideRoot('/srv/images', '/srv/images-evil/vmlinux')).toBe(false);
  });

  it('refuses the root itself', () => {
    expect(isInsideRoot('/srv/images', '/srv/images')).toBe(false);
  });
});
