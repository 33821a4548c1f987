/**
 * MMDS for a QEMU guest (docs/adr/0061-mmds-for-qemu-guests.md): the guest gets one more virtio-net
 * device whose backend is `-netdev stream` connected to a Unix socket in the double's private
 * directory. Frames on that socket are QEMU's stream framing (a 4-byte big-endian length, then
 * the frame); they go to an `MmdsEndpoint`, which answers ARP and HTTP for the MMDS address.
 * Only the one QEMU this double started can connect (0700 directory; one connection accepted).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { MmdsEndpoint } from '../mmds/mmds-endpoint.js';
import { TokenAuthority } from '../mmds/token-authority.js';
import type { MmdsConfig } from '../vmm/types.js';

/** The MAC address of the guest's MMDS NIC, by which the guest tells it from its own NICs. */
export const MMDS_GUEST_MAC = '06:01:23:45:67:02';

/** The `-netdev`/`-device` arguments of the MMDS NIC (after every other NIC: eth0 stays eth0). */
export function mmdsNicArgv(socketPath: string): string[] {
  return [
    '-netdev',
    `stream,id=mmds,server=off,addr.type=unix,addr.path=${socketPath.replace(/,/g, ',,')}`,
    '-device',
    `virtio-net-device,netdev=mmds,mac=${MMDS_GUEST_MAC}`,
  ];
}

const MAX_FRAME_BYTES = 65_536 + 14;

/** Splits QEMU's stream framing into frames; an impossible length ends the connection. */
export class StreamFramer {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] | undefined {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const frames: Buffer[] = [];
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32BE(0);
      if (len > MAX_FRAME_BYTES) return undefined;
      if (this.buf.length < 4 + len) break;
      frames.push(this.buf.subarray(4, 4 + len));
      this.buf = this.buf.subarray(4 + len);
    }
    return frames;
  }
}

export function frameForStream(frame: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(frame.length, 0);
  return Buffer.concat([head, frame]);
}

export class QemuMmdsServer {
  private peer: Socket | undefined;
  private readonly tokens = new TokenAuthority();

  private constructor(private readonly server: Server) {}

  /** Listens on `socketPath` for QEMU; `data` reads the data store at each request. */
  static async listen(socketPath: string, config: MmdsConfig, data: () => unknown): Promise<QemuMmdsServer> {
    const server = createServer((socket) => self.accept(socket, config, data));
    const self = new QemuMmdsServer(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return self;
  }

  private accept(socket: Socket, config: MmdsConfig, data: () => unknown): void {
    if (this.peer) {
      socket.destroy();
      return;
    }
    this.peer = socket;
    const endpoint = new MmdsEndpoint({ config, data, tokens: this.tokens }, (frame) => socket.write(frameForStream(frame)));
    const framer = new StreamFramer();
    socket.on('data', (chunk: Buffer) => {
      const frames = framer.push(chunk);
      if (!frames) return void socket.destroy();
      for (const f of frames) endpoint.receive(f);
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      if (this.peer === socket) this.peer = undefined;
    });
  }

  close(): void {
    this.peer?.destroy();
    this.server.close();
  }
}
