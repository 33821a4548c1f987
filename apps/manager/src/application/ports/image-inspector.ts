/** A file found inside the image root. */
export interface ImageFile {
  /** Real path (symlinks resolved), inside the image root. */
  readonly path: string;
  readonly sizeBytes: number;
  /** The first bytes of the file (at least `imageHeadBytes`, fewer when the file is shorter). */
  readonly head: Uint8Array;
}

/** Reads image files under the image root. */
export interface ImageInspector {
  /**
   * Resolves `hostPath` (absolute, or relative to the image root) to a regular file inside the root.
   * Throws IMAGE_PATH_FORBIDDEN when it resolves outside (`..`, symlinks) and IMAGE_FILE_NOT_FOUND
   * when there is no regular file.
   */
  open(hostPath: string): Promise<ImageFile>;
  /** The lowercase hex SHA-256 of the file's content. */
  sha256(path: string): Promise<string>;
}
