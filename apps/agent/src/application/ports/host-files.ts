/**
 * Where a path really leads once every symlink and `..` is resolved: `existing` when it exists;
 * `absent` when only its last component is missing (`realPath` is then its real parent directory
 * joined with that name, what an O_CREAT open would create); `unresolvable` when it is relative,
 * ends in `/`, `.` or `..`, its parent does not exist, or it is a symlink leading nowhere (which an
 * O_CREAT open would follow).
 */
export type ResolvedPath =
  | { readonly kind: 'existing'; readonly realPath: string }
  | { readonly kind: 'absent'; readonly realPath: string }
  | { readonly kind: 'unresolvable' };

/** Files the Agent creates for a VM. Paths are absolute; nothing is world-accessible. */
export interface HostFiles {
  /** Copies `source` to `destination` (reflink when possible, sparse), returning the size in bytes. */
  copySparse(source: string, destination: string): Promise<number>;
  /** Creates a FIFO with mode 0600; an existing FIFO at that path is kept. */
  createFifo(path: string): Promise<void>;
  exists(path: string): Promise<boolean>;
  /**
   * True as soon as `path` exists (already, or once it appears within `timeoutMs`), false when it
   * does not. May answer false before `timeoutMs` has passed (an implementation that cannot watch).
   */
  waitForPath(path: string, timeoutMs: number): Promise<boolean>;
  /** Removes a file, FIFO or socket; a missing path is not an error. */
  remove(path: string): Promise<void>;
  /** Removes a directory and what is left inside it; a missing path is not an error. */
  removeDirectory(path: string): Promise<void>;
  /** The last `maxBytes` of a text file, or '' when it does not exist. */
  readTail(path: string, maxBytes: number): Promise<string>;
  /** Resolves every symlink and `..` in `path` as the kernel would (see ResolvedPath). */
  resolvePath(path: string): Promise<ResolvedPath>;
  /** Resolves symlinks: `inside` only when the real path lies inside the real `root`. */
  resolveInside(
    root: string,
    path: string,
  ): Promise<{ kind: 'inside'; realPath: string } | { kind: 'outside'; realPath: string } | { kind: 'missing' }>;
}
