import type { WebSocket } from 'ws';
import {
  consoleAttachDefaultBacklogBytes,
  ConsoleAttachQuery,
  consoleClosedFrame,
  VmIdParams,
  type ConsoleCloseReason,
} from '@hearth/contracts';
import { AppError } from '@hearth/errors';
import type { HttpServer } from '@hearth/http-server';
import type { ConsoleAttachments, ConsoleSession } from '../application/use-cases/console-attachments.js';
import { parseVmId } from '../domain/vm-id.js';

/** Input a client may send before its attachment is ready; more is dropped. */
const maxEarlyInputBytes = 64 * 1024;

/**
 * `GET /vms/:id/console/attach`, upgraded to a WebSocket: binary frames carry raw serial bytes both
 * ways (the end of the log first, then live output; input goes to the VMM's stdin); one text frame
 * `{"type":"closed","reason"}` precedes a close the Agent decides. An unknown VM or one without a
 * live VMM is refused before the upgrade, as problem+json.
 */
export function registerConsoleRoutes(app: HttpServer, attachments: ConsoleAttachments): void {
  app.route({
    method: 'GET',
    url: '/vms/:id/console/attach',
    schema: { params: VmIdParams, querystring: ConsoleAttachQuery },
    preHandler: async (request) => {
      await attachments.check(parseVmId(request.params.id));
    },
    handler: async () => {
      throw new AppError('WEBSOCKET_REQUIRED', 'Attach to the console with a WebSocket upgrade request');
    },
    wsHandler: (socket, request) => {
      serveConsole(socket, attachments, parseVmId(request.params.id), request.query.backlog ?? consoleAttachDefaultBacklogBytes);
    },
  });
}

function serveConsole(
  socket: WebSocket,
  attachments: ConsoleAttachments,
  vmId: ReturnType<typeof parseVmId>,
  backlog: number,
): void {
  let session: ConsoleSession | undefined;
  let isClosed = false;
  let early: Buffer[] = [];
  let earlyBytes = 0;
  const close = (reason: ConsoleCloseReason): void => {
    if (isClosed) return;
    isClosed = true;
    socket.send(consoleClosedFrame(reason));
    socket.close(1000, reason);
  };
  socket.on('message', (data, isBinary) => {
    if (!isBinary) return;
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (session !== undefined) {
      session.type(bytes);
    } else if (earlyBytes + bytes.length <= maxEarlyInputBytes) {
      early.push(bytes);
      earlyBytes += bytes.length;
    }
  });
  socket.on('close', () => {
    isClosed = true;
    session?.detach();
  });
  attachments
    .attach(vmId, backlog, {
      send: (bytes) => socket.send(bytes, { binary: true }),
      bufferedBytes: () => socket.bufferedAmount,
      close,
    })
    .then(
      (attached) => {
        if (isClosed) {
          attached.detach();
          return;
        }
        session = attached;
        for (const bytes of early) attached.type(bytes);
        early = [];
      },
      // The VMM ended between the check and the attach.
      () => close('vm_stopped'),
    );
}
