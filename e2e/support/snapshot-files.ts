import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** A snapshot's three files in `directory` (a VM's directory, or a copy's). */
export function snapshotFiles(directory: string, snapshotId: string): string[] {
  return ['vmstate', 'memory', 'rootfs.ext4'].map((suffix) => path.join(directory, `${snapshotId}.${suffix}`));
}

/** The bytes the Agent logging to `logFile` sent of each snapshot file it served, by `<snapshotId> <file>` (summed). */
export function sentBytesOf(logFile: string): Map<string, number> {
  const sent = new Map<string, number>();
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    if (!line.includes('"snapshot file sent"')) continue;
    const entry = JSON.parse(line) as { snapshotId: string; file: string; sentBytes: number };
    const key = `${entry.snapshotId} ${entry.file}`;
    sent.set(key, (sent.get(key) ?? 0) + entry.sentBytes);
  }
  return sent;
}

export function sha256Of(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}
