import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { AppError } from '@hearth/errors';
import type { AgentLog } from '../../application/ports/agent-log.js';
import type { MetricsFifoReader, MetricsFifos } from '../../application/ports/metrics-fifos.js';

/** A line longer than this is no metrics line Firecracker writes (about 10 KiB each): it is dropped. */
const maxLineBytes = 1024 * 1024;

/**
 * Reads metrics FIFOs through the event loop (a pipe handle, like a socket), not the thread pool:
 * a blocking read per VM would take every thread of the pool with a handful of VMs.
 */
export class NodeMetricsFifos implements MetricsFifos {
  constructor(private readonly log: AgentLog) {}

  open(path: string, onLine: (line: string) => void): MetricsFifoReader {
    // Read and write: the FIFO then never reads as ended while no VMM has it open (before its
    // start, between restarts), and opening it never blocks. No symlink is followed.
    const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK | constants.O_NOFOLLOW);
    if (!fstatSync(fd).isFIFO()) {
      closeSync(fd);
      throw new AppError('HOST_COMMAND_FAILED', 'The metrics FIFO path is taken by another file', { diagnostics: { path } });
    }
    const socket = new Socket({ fd, readable: true, writable: false });
    socket.setEncoding('utf8');
    let pending = '';
    socket.on('data', (chunk: string) => {
      pending += chunk;
      for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n')) {
        onLine(pending.slice(0, end));
        pending = pending.slice(end + 1);
      }
      if (pending.length > maxLineBytes) pending = '';
    });
    socket.on('error', (error) => this.log.warn({ path, err: error }, 'metrics fifo read failed'));
    return { close: () => socket.destroy() };
  }
}
