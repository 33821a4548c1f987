/**
 * Cuts a child process's text output into lines, whatever its chunks. A line longer than a chunk
 * (`nft -j` answering a table, `ip -j` listing every link: hundreds of KiB on one line with 500 VMs)
 * is kept as its parts and joined once, when its end arrives, so each byte is scanned and copied
 * once: joining what came before to each new chunk and splitting the whole again cost time in the
 * square of the line's length.
 */
export class LineSplitter {
  /** The unfinished line's parts, in order. */
  private parts: string[] = [];

  /** The lines `chunk` ends (without their `\n`), in order; what follows the last one is kept. */
  push(chunk: string): string[] {
    let end = chunk.indexOf('\n');
    if (end < 0) {
      if (chunk !== '') this.parts.push(chunk);
      return [];
    }
    const lines: string[] = [];
    let start = 0;
    while (end >= 0) {
      const piece = chunk.slice(start, end);
      if (this.parts.length === 0) {
        lines.push(piece);
      } else {
        this.parts.push(piece);
        lines.push(this.parts.join(''));
        this.parts = [];
      }
      start = end + 1;
      end = chunk.indexOf('\n', start);
    }
    if (start < chunk.length) this.parts.push(chunk.slice(start));
    return lines;
  }

  /** Forgets the unfinished line. */
  clear(): void {
    this.parts = [];
  }
}
