/**
 * Snapshot state file (behaviour.md#snapshot-files): 64-bit magic (x86_64), the format version, a payload
 * (here JSON instead of bitcode), then a CRC64 over everything before it. All little-endian.
 */
import { crc64 } from './crc64.js';
import { SNAPSHOT_VERSION } from './version.js';

export const SNAPSHOT_MAGIC_X86_64 = 0x0710_1984_8664_0000n;

export class SnapshotFormatError extends Error {}

export function encodeSnapshot(payload: unknown): Buffer {
  const [major, minor, patch] = SNAPSHOT_VERSION.split('.').map(Number) as [number, number, number];
  const json = Buffer.from(JSON.stringify(payload));
  const head = Buffer.alloc(8 + 6 + 4);
  head.writeBigUInt64LE(SNAPSHOT_MAGIC_X86_64, 0);
  head.writeUInt16LE(major, 8);
  head.writeUInt16LE(minor, 10);
  head.writeUInt16LE(patch, 12);
  head.writeUInt32LE(json.length, 14);
  const body = Buffer.concat([head, json]);
  const crc = Buffer.alloc(8);
  crc.writeBigUInt64LE(crc64(body), 0);
  return Buffer.concat([body, crc]);
}

export function snapshotVersionOf(file: Buffer): string {
  if (file.length < 14) throw new SnapshotFormatError('IO Error: File too short to contain a version');
  return `${file.readUInt16LE(8)}.${file.readUInt16LE(10)}.${file.readUInt16LE(12)}`;
}

/** Validates CRC, magic and version, then returns the payload (error texts: behaviour.md#fatal-errors). */
export function decodeSnapshot(file: Buffer): unknown {
  if (file.length < 8) throw new SnapshotFormatError('IO Error: File too short to contain CRC');
  const body = file.subarray(0, file.length - 8);
  const stored = file.readBigUInt64LE(file.length - 8);
  const computed = crc64(body);
  if (stored !== computed) throw new SnapshotFormatError(`CRC64 validation failed: ${computed}`);
  if (body.length < 18) throw new SnapshotFormatError('IO Error: File too short to contain a version');
  const magic = body.readBigUInt64LE(0);
  if (magic !== SNAPSHOT_MAGIC_X86_64) throw new SnapshotFormatError(`Invalid magic value: ${magic}`);
  const version = snapshotVersionOf(body);
  if (version !== SNAPSHOT_VERSION) throw new SnapshotFormatError(`Invalid data version: ${version}`);
  const len = body.readUInt32LE(14);
  try {
    return JSON.parse(body.subarray(18, 18 + len).toString('utf8')) as unknown;
  } catch {
    throw new SnapshotFormatError('Bitcode error: invalid payload');
  }
}
