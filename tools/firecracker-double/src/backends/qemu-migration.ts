/**
 * QEMU migration streams to and from a snapshot's memory file. Out (a snapshot): over a Unix
 * socket in the backend's private directory, the double writing what QEMU sends into the file.
 * In (a restore): QEMU reads the file itself, from a descriptor the double opened and handed it
 * (`migrateIncomingFromFd`); or, for a caller that has QEMU listen on a socket, the double copies
 * the file into it (`streamMigration`). No path is ever handed to a shell (QEMU's `exec:`
 * transport runs `/bin/sh -c`) and QEMU needs no access to the file by name (`file:` URIs need
 * QEMU 8.1; Debian 12 ships 7.2).
 */
import { createReadStream, createWriteStream, openSync } from 'node:fs';
import type { Socket } from 'node:net';
import { createConnection, createServer } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { ioErrorText } from '../errno.js';
import { sleep } from './qemu-process.js';
import type { QmpClient, QmpEvent } from './qmp.js';
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

/** The descriptor under which QEMU holds the memory file it restores from (after stdin, stdout and stderr). */
export const INCOMING_FD = 3;

/**
 * QEMU's arguments for a restore from the memory file open as its `INCOMING_FD`: it loads it from
 * its start, stays paused after it (`-S`), and sends `MIGRATION` events from its start
 * (`migration.x-events`, the `events` capability), so that the load needs no QMP command to begin
 * and its end needs no poll.
 */
export const INCOMING_FROM_FD_ARGV: readonly string[] = [
  '-S',
  '-global',
  'migration.x-events=on',
  '-incoming',
  `fd:${INCOMING_FD}`,
];

const MIGRATION_ENDS = new Set(['completed', 'failed', 'cancelled']);

function isMigrationEnd(event: QmpEvent): boolean {
  const data = event.data as { status?: unknown } | undefined;
  return event.event === 'MIGRATION' && typeof data?.status === 'string' && MIGRATION_ENDS.has(data.status);
}

/**
 * QEMU's run state once the incoming migration it started with (`INCOMING_FROM_FD_ARGV`) has
 * ended: QEMU reads the memory file itself, so no byte of it passes through this process, and the
 * end is QEMU's own `MIGRATION` event, not a poll. A migration that ended before this connection
 * was made is seen in the first `query-status`. Rejects when QEMU goes (QEMU 7.2 exits when it
 * cannot load the stream) or after `timeoutMs`. `paused` is a restored guest; the caller judges.
 */
export async function incomingMigrationEnd(qmp: QmpClient, timeoutMs: number): Promise<string> {
  // Awaited before the state is asked: an end after the answer is not missed.
  const ended = qmp.nextEvent(isMigrationEnd, timeoutMs);
  ended.catch(() => undefined);
  const status = async (): Promise<string> => (await qmp.execute<{ status: string }>('query-status')).status;
  const first = await status();
  if (first !== 'inmigrate' && first !== 'prelaunch') return first;
  await ended;
  return status();
}
