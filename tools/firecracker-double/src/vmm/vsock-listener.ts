import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { unlinkSync } from 'node:fs';

/**
 * The vsock device's host-side Unix socket, bound at PUT /vsock time (behaviour.md#endpoint-vsock). Without a
 * guest listener, host-initiated `CONNECT <port>` connections are closed (behaviour.md#vsock).
 */
export class VsockListener {
  private server: Server | undefined;
  path: string | undefined;

  async bind(path: string): Promise<void> {
    const server = createServer((sock) => {
      sock.on('error', () => undefined);
      sock.once('data', () => sock.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.unref();
    this.server = server;
    this.path = path;
  }

  /** Re-PUT unlinks the previous socket first (behaviour.md#endpoint-vsock). */
  release(unlink: boolean): void {
    this.server?.close();
    if (unlink && this.path !== undefined) {
      try {
        unlinkSync(this.path);
      } catch {
        /* already gone */
      }
    }
    this.server = undefined;
    this.path = undefined;
  }
}
