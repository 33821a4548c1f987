/**
 * QEMU migration streams carried over Unix sockets in the backend's private directory, to and
 * from the snapshot's memory file. The double itself opens the file and copies the bytes, so no
 * path is ever handed to a shell (QEMU's `exec:` transport runs `/bin/sh -c`) and QEMU needs no
 * access to the file (`file:` URIs need QEMU 8.1; Debian 12 ships 7.2).
 */
import { createReadStream, createWriteStream, openSync } from 'node:fs';
import type { Socket } from 'node:net';
import { createConnection, createServer } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { ioErrorText } from '../errno.js';
import { sleep } from './qemu-process.js';
import { BackendError } from './types.js';

const CONNECT_POLL_MS = 20;

export interface MigrationSink {
  /** The URI to give QMP `migrate`. */
  readonly uri: string;
  /** Resolves once QEMU closed the stream and every byte is in the file. */
  readonly written: Promise<void>;
  close(): void;
}

/**
 * Creates (or truncates) `memPath` and listens on `socketPath`; the first connection's bytes go
 * to the file. Throws a BackendError when the file cannot be opened.
 */
export async function listenForMigration(socketPath: string, memPath: string): Promise<MigrationSink> {
  let fd: number;
  try {
    fd = openSync(memPath, 'w', 0o644);
  } catch (err) {
    throw new BackendError(`Memory file not written: ${ioErrorText(err)}`);
  }
  const file = createWriteStream('', { fd });
  const server = createServer();
  const written = new Promise<void>((resolve, reject) => {
    server.once('connection', (socket: Socket) => {
      server.close();
      pipeline(socket, file).then(resolve, reject);
    });
  });
  // Observed by the caller once the migration completed; never an unhandled rejection meanwhile.
  written.catch(() => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  return {
    uri: `unix:${socketPath}`,
    written,
    close: () => {
      server.close();
      file.destroy();
    },
  };
}

/**
 * Connects to QEMU's `-incoming unix:<socketPath>` listener and streams `memPath` into it. Throws
 * a BackendError when QEMU cannot be reached. A transfer that breaks off is not thrown: QEMU may
 * close the connection as soon as it has read the end of the stream, and only its run state says
 * whether the restore worked; the transfer error, if any, is returned for the failure message.
 */
export async function streamMigration(socketPath: string, memPath: string, timeoutMs: number): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  let socket: Socket;
  for (;;) {
    try {
      socket = await new Promise<Socket>((resolve, reject) => {
        const s = createConnection(socketPath, () => resolve(s));
        s.once('error', reject);
      });
      break;
    } catch (err) {
      if (Date.now() > deadline) throw new BackendError(`QEMU did not accept the incoming migration: ${ioErrorText(err)}`);
      await sleep(CONNECT_POLL_MS);
    }
  }
  try {
    await pipeline(createReadStream(memPath), socket);
    return undefined;
  } catch (err) {
    return ioErrorText(err);
  }
}
