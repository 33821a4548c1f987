import type { MetricsFifoReader, MetricsFifos } from '../../application/ports/metrics-fifos.js';

interface FakeReader {
  pending: string;
  readonly onLine: (line: string) => void;
}

/**
 * Metrics FIFOs in memory: `write` hands text to the reader of a path line by line, as a FIFO
 * would; text written while nobody reads waits for the next reader (the VMM holds the FIFO open).
 */
export class FakeMetricsFifos implements MetricsFifos {
  private readonly readers = new Map<string, Set<FakeReader>>();
  private readonly unread = new Map<string, string>();
  /** Paths `open` refuses, as a FIFO that is missing or another kind of file. */
  readonly refused = new Set<string>();

  open(path: string, onLine: (line: string) => void): MetricsFifoReader {
    if (this.refused.has(path)) throw new Error(`no FIFO at ${path}`);
    const reader: FakeReader = { pending: '', onLine };
    const readers = this.readers.get(path) ?? new Set();
    readers.add(reader);
    this.readers.set(path, readers);
    const waiting = this.unread.get(path);
    this.unread.delete(path);
    if (waiting !== undefined) this.deliver(reader, waiting);
    return {
      close: () => {
        readers.delete(reader);
        if (readers.size === 0) this.readers.delete(path);
      },
    };
  }

  write(path: string, text: string): void {
    const [reader] = this.readers.get(path) ?? [];
    if (reader === undefined) this.unread.set(path, (this.unread.get(path) ?? '') + text);
    else this.deliver(reader, text);
  }

  /** Paths with a reader open. */
  get openPaths(): string[] {
    return [...this.readers.keys()];
  }

  private deliver(reader: FakeReader, text: string): void {
    reader.pending += text;
    for (let end = reader.pending.indexOf('\n'); end >= 0; end = reader.pending.indexOf('\n')) {
      const line = reader.pending.slice(0, end);
      reader.pending = reader.pending.slice(end + 1);
      reader.onLine(line);
    }
  }
}
