import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** The file, in the Manager's data directory, that holds the admin token made at first start. */
export function adminTokenPath(dataDir: string): string {
  return path.join(dataDir, 'admin-token');
}

/**
 * Writes the admin token's secret to `<dataDir>/admin-token`, readable by the Manager's user only
 * (0600, in a directory created 0700). Written to a new file and renamed over the old one, so a
 * symbolic link planted at the path is replaced, never followed.
 */
export async function writeAdminTokenFile(dataDir: string, secret: string): Promise<string> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const target = adminTokenPath(dataDir);
  const temporary = `${target}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, `${secret}\n`, { mode: 0o600, flag: 'wx' });
    await rename(temporary, target);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  return target;
}
