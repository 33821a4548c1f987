/** A file found inside the image root, read through one open descriptor. */
export interface ImageFile {
  /** Real path (symlinks resolved), inside the image root. */
  readonly path: string;
  readonly sizeBytes: number;
  /** The first bytes of the file (at least `imageHeadBytes`, fewer when the file is shorter). */
  readonly head: Uint8Array;
  /** The lowercase hex SHA-256 of the file's content. */
  readonly sha256: string;
}

/** Reads image files under the image root. */
export interface ImageInspector {
  /**
   * Resolves `hostPath` (absolute, or relative to the image root) to a file inside the root, opens
   * it once and reads size, head and SHA-256 from that open file, never by name again. Throws
   * IMAGE_PATH_FORBIDDEN when it resolves outside (`..`, symlinks), IMAGE_FILE_NOT_FOUND when
   * nothing is there and IMAGE_NOT_REGULAR_FILE for a FIFO, device, socket or directory (which is
   * never opened for reading, so it cannot block).
   */
  inspect(hostPath: string): Promise<ImageFile>;
}
