/** An open metrics FIFO being read; `close` stops reading and gives the descriptor back. */
export interface MetricsFifoReader {
  close(): void;
}

/**
 * Reads Firecracker's metrics FIFOs. Firecracker opens its FIFO non-blocking and drops a flush it
 * cannot write whole (counting it as missed), so each VM's FIFO must be read continuously.
 */
export interface MetricsFifos {
  /** Calls `onLine` with each complete line (without its newline) until closed. */
  open(path: string, onLine: (line: string) => void): MetricsFifoReader;
}
