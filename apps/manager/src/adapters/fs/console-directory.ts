import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/** Files of the built console above this size are refused: the console is a few hundred KiB. */
const maxFileBytes = 8 * 1024 * 1024;

/**
 * The built web console's files (`index.html` and `assets/*`), read once at start into memory, by
 * their path under `dir` (`index.html`, `assets/index-3f9a.js`); undefined when `dir` has no
 * `index.html` (a Manager built without the console serves none). Only these names are ever served,
 * so no request path reaches the file system.
 */
export async function readConsoleDirectory(dir: string): Promise<ReadonlyMap<string, Buffer> | undefined> {
  let index: Buffer;
  try {
    index = await readFile(path.join(dir, 'index.html'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const files = new Map<string, Buffer>([['index.html', index]]);
  let assets: string[] = [];
  try {
    assets = await readdir(path.join(dir, 'assets'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  for (const name of assets) {
    const body = await readFile(path.join(dir, 'assets', name));
    if (body.length > maxFileBytes) throw new Error(`console file assets/${name} is over ${maxFileBytes} bytes`);
    files.set(`assets/${name}`, body);
  }
  return files;
}
