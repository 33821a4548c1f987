import { execFile } from 'node:child_process';
import { open, realpath, stat } from 'node:fs/promises';
import { parseSnapshotFormatVersion } from './host-platform.js';

/** What FIRECRACKER_BIN is: real Firecracker (an ELF binary), the Firecracker double, or neither. */
export type FirecrackerKind = 'firecracker' | 'double' | 'unknown';

export interface FirecrackerIdentity {
  readonly kind: FirecrackerKind;
  /** From `--version` (`Firecracker v1.16.1` → `1.16.1`); null when it printed none. */
  readonly version: string | null;
  /** From `--snapshot-version` (`v10.0.0` → `10.0.0`): the snapshot format it writes and loads; null when it printed none. */
  readonly snapshotFormatVersion: string | null;
}

const headBytes = 64 * 1024;
const versionTimeoutMs = 10_000;

/** `Firecracker v1.16.1` (the first line of `firecracker --version`) → `1.16.1`. */
export function parseFirecrackerVersion(output: string): string | null {
  return /^Firecracker v(\d+\.\d+\.\d+\S*)/m.exec(output)?.[1] ?? null;
}

/**
 * Classifies an executable from its first bytes: real Firecracker ships as a static ELF binary;
 * the double is a script (or a wrapper that execs it) naming `firecracker-double`.
 */
export function classifyFirecracker(resolvedPath: string, head: Uint8Array, version: string | null): FirecrackerKind {
  const isElf = head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46;
  if (isElf) return version === null ? 'unknown' : 'firecracker';
  const text = Buffer.from(head).toString('latin1');
  return resolvedPath.includes('firecracker-double') || text.includes('firecracker-double') ? 'double' : 'unknown';
}

function versionOutput(binary: string, flag: '--version' | '--snapshot-version'): Promise<string> {
  return new Promise((resolve) => {
    execFile(binary, [flag], { timeout: versionTimeoutMs, encoding: 'utf8' }, (_error, stdout) => resolve(stdout ?? ''));
  });
}

async function readHead(file: string): Promise<Uint8Array> {
  const handle = await open(file, 'r');
  try {
    const head = new Uint8Array(headBytes);
    const { bytesRead } = await handle.read(head, 0, headBytes, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * Identifies executables, running `--version` once per file version (path, size, mtime): facts
 * are read on every heartbeat, and the double takes a Node start to answer.
 */
export class FirecrackerIdentifier {
  private cached: { key: string; identity: FirecrackerIdentity } | null = null;

  async identify(binary: string): Promise<FirecrackerIdentity> {
    try {
      const resolved = await realpath(binary);
      const info = await stat(resolved);
      const key = `${resolved}:${info.size}:${info.mtimeMs}`;
      if (this.cached?.key === key) return this.cached.identity;
      const [head, output, snapshotOutput] = await Promise.all([
        readHead(resolved),
        versionOutput(binary, '--version'),
        versionOutput(binary, '--snapshot-version'),
      ]);
      const version = parseFirecrackerVersion(output);
      const identity = {
        kind: classifyFirecracker(resolved, head, version),
        version,
        snapshotFormatVersion: parseSnapshotFormatVersion(snapshotOutput),
      };
      this.cached = { key, identity };
      return identity;
    } catch {
      return { kind: 'unknown', version: null, snapshotFormatVersion: null };
    }
  }
}
