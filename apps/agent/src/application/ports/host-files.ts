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

/**
 * What opening an image file once found. `regular`: a regular file whose real path lies inside the
 * image root; `not_regular`: a FIFO, device, socket, directory or a symlink at the path's end.
 */
export type ImageFileCheck =
  | { readonly kind: 'regular'; readonly realPath: string; readonly sizeBytes: number }
  | { readonly kind: 'outside'; readonly realPath: string }
  | { readonly kind: 'missing' }
  | { readonly kind: 'not_regular'; readonly fileType: string };

/** An image file the Agent holds open, for another process to open while it is held. */
export interface HeldImage {
  readonly realPath: string;
  /** Names the open file itself (`/proc/<agent pid>/fd/<n>`), not a path that could be swapped. */
  readonly heldPath: string;
  release(): Promise<void>;
}

/**
 * What receiving a file found: verified (and in place), or refused (and nothing of it kept). A file
 * received as its data regions can also be refused because the stream is malformed, because its
 * regions are not the ones recorded (`layout_mismatch`), or because this host's file system does
 * not report as data exactly what was written as data (`layout_not_kept`: it would merge zeros a
 * guest wrote as holes, or the other way round).
 */
export type ReceivedFile =
  | { readonly kind: 'verified'; readonly sizeBytes: number }
  | { readonly kind: 'digest_mismatch'; readonly sha256: string }
  | { readonly kind: 'too_large' }
  | { readonly kind: 'malformed'; readonly reason: string }
  | { readonly kind: 'layout_mismatch'; readonly dataRegionsSha256: string }
  | { readonly kind: 'layout_not_kept' };

/** What a received file must be: its SHA-256, its largest size and, for one sent as its data regions, their digest. */
export interface ExpectedFile {
  readonly sha256: string;
  readonly maxBytes: number;
  /**
   * Set for a file sent as its data regions (`encodeDataRegionStream`): the digest of its layout
   * (`dataRegionsSha256`). Its data regions are written as data, zeros included, the rest left as
   * holes; `sha256` is that of its content, holes read as zeros.
   */
  readonly dataRegionsSha256?: string;
}

/**
 * How a file travels between hosts: whole (`application/octet-stream`), or as its data regions
 * (`encodeDataRegionStream`, `application/vnd.hearth.data-regions`).
 */
export type FileEncoding = 'whole' | 'data_regions';

/**
 * Which data regions a file is sent as. `as_written`: what the file system reports as data, zeros
 * written included (a diff's memory file, where a hole means "as in the parent"). `zeros_as_holes`:
 * what it reports as data less its blocks of zeros, for a file where a hole and zeros mean the same
 * (a full memory file, a disk).
 */
export type RegionLayout = 'as_written' | 'zeros_as_holes';

/** A regular image file opened once, its bytes read from that open file. */
export type OpenedFile =
  | { readonly check: ImageFileCheck & { readonly kind: 'regular' }; readonly chunks: AsyncIterable<Uint8Array> }
  | { readonly check: Exclude<ImageFileCheck, { readonly kind: 'regular' }> };

/** Files the Agent creates for a VM. Paths are absolute; nothing is world-accessible. */
export interface CopyImageOptions {
  /**
   * The copy is a file nothing writes again (a snapshot's disk): where it holds data is remembered
   * from the copy itself, so that copies made of it read only that, from the first.
   */
  readonly isWrittenOnce?: boolean;
}

/** A watch for one path to appear (`HostFiles.watchPath`). */
export interface PathWatch {
  /**
   * True as soon as the path exists (already, or once it appears within `timeoutMs`), false when it
   * does not. May answer false before `timeoutMs` has passed (a watch that could not be set up).
   * One wait at a time.
   */
  appeared(timeoutMs: number): Promise<boolean>;
  /** Ends the watch; a wait in progress answers false. */
  close(): void;
}

export interface HostFiles {
  /**
   * Opens the image file at `source` once, checks it as `inspectImage` does, and copies from that
   * open file (never by name again) to `destination` (reflink when possible, sparse, mode 0600),
   * however long that takes. `regular` carries the size of the copy; any other answer copied nothing.
   */
  copyImage(root: string, source: string, destination: string, options?: CopyImageOptions): Promise<ImageFileCheck>;
  /**
   * Writes `destination` (0600, under a temporary name, flushed, then renamed) as the guest memory a
   * chain of snapshots restores: a copy of `layers[0]` (a full memory file) with each later layer
   * (a diff's memory file: what the guest wrote since the layer before, holes elsewhere) written
   * over it in order. Only what the file system reports as data is taken from a diff (its holes
   * leave the layer below), never judged by zero bytes: a page written back to zeros is data. Each
   * layer is opened and checked as `inspectImage` does; `regular` carries the size written, any
   * other answer (the layer's) wrote nothing.
   */
  mergeMemoryLayers(root: string, layers: readonly string[], destination: string): Promise<ImageFileCheck>;
  /** Creates a FIFO with mode 0600; an existing FIFO at that path is kept. */
  createFifo(path: string): Promise<void>;
  exists(path: string): Promise<boolean>;
  /** The size of a file in bytes, or undefined when it does not exist. */
  sizeOf(path: string): Promise<number | undefined>;
  /**
   * A watch for `path` to appear, held across the waits of one caller (one inotify watch for all of
   * them, not one set up and torn down per wait). Closed by the caller.
   */
  watchPath(path: string): PathWatch;
  /** Removes a file, FIFO or socket; a missing path is not an error. */
  remove(path: string): Promise<void>;
  /** Removes a directory and what is left inside it; a missing path is not an error. */
  removeDirectory(path: string): Promise<void>;
  /** Creates a directory (mode 0700) and its missing parents; one already there is kept. */
  makeDirectory(path: string): Promise<void>;
  /** The last `maxBytes` of a text file, or '' when it does not exist. */
  readTail(path: string, maxBytes: number): Promise<string>;
  /**
   * Keeps a log another process appends to (O_APPEND) under `maxBytes`: once it is larger, its
   * content replaces `rotatedPath` and it is truncated in place, so the writer goes on at the new
   * end. True when it rotated; a missing log is left alone. Bytes written between the copy and the
   * truncation are lost, as with logrotate's copytruncate.
   */
  rotateLog(path: string, rotatedPath: string, maxBytes: number): Promise<boolean>;
  /** Resolves every symlink and `..` in `path` as the kernel would (see ResolvedPath). */
  resolvePath(path: string): Promise<ResolvedPath>;
  /**
   * Opens `path` once without following a symlink at its end and checks the open file: `regular`
   * only for a regular file whose real path (every component resolved) lies inside the real `root`.
   * Never opens a FIFO or device for reading, so it cannot block on one.
   */
  inspectImage(root: string, path: string): Promise<ImageFileCheck>;
  /** The SHA-256 (hex) of a regular file checked as `inspectImage` does, read from one open file; undefined otherwise. */
  sha256Of(root: string, path: string): Promise<string | undefined>;
  /**
   * Writes a regular file's data to the disk (`fdatasync`) before it resolves, the file checked as
   * `inspectImage` does; false, and nothing flushed, for anything else.
   */
  flushFile(root: string, path: string): Promise<boolean>;
  /**
   * Opens a regular file checked as `inspectImage` does and reads it from that open file (closed
   * when the chunks end or their reader stops).
   */
  openForReading(root: string, path: string): Promise<OpenedFile>;
  /**
   * Opens a regular file checked as `inspectImage` does and reads it from that open file as its
   * data regions (`encodeDataRegionStream`): by default what the file system reports as data,
   * never judged by zero bytes; with `zeros_as_holes`, that less its blocks of zeros (see
   * `RegionLayout`). `sizeBytes` of the answer is the file's.
   */
  openDataRegionsForReading(root: string, path: string, layout?: RegionLayout): Promise<OpenedFile>;
  /** The digest of the layout (`dataRegionsSha256`) of a regular file checked as `inspectImage` does; undefined otherwise. */
  dataRegionsSha256Of(root: string, path: string): Promise<string | undefined>;
  /**
   * Writes `chunks` to `destination` (mode 0600) under a temporary name beside it, hashing them on
   * the way: only a file of at most `maxBytes` whose SHA-256 is `sha256` (and, sent as its data
   * regions, whose layout is the one expected and kept by the file system) is flushed and renamed
   * to `destination`; anything else is removed before this answers. A file with a layout expected
   * (`expected.dataRegionsSha256`) arrives as its data regions, which it keeps exactly; any other
   * arrives whole or as its data regions (`encoding`), and has its blocks of zeros left as holes.
   */
  receiveFile(
    destination: string,
    chunks: AsyncIterable<Uint8Array>,
    expected: ExpectedFile,
    encoding?: FileEncoding,
  ): Promise<ReceivedFile>;
  /** Opens and checks as `inspectImage` does and, for a regular file, keeps it open until released. */
  holdImage(root: string, path: string): Promise<{ readonly check: ImageFileCheck; readonly held?: HeldImage }>;
}
