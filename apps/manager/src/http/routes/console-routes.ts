import type { FastifyRequest } from 'fastify';
import { consoleAttachDefaultBacklogBytes, consoleSubprotocol } from '@hearth/contracts';
import { AppError } from '@hearth/errors';
import type { HttpServer } from '@hearth/http-server';
import { ConcurrencyLimiter, type ReleaseSlot } from '../../application/concurrency-limiter.js';
import type { UseCaseDependencies } from '../../application/dependencies.js';
import type { AgentConsoleConnection } from '../../application/ports/agent-client.js';
import { attachVmConsole, consoleVmOf } from '../../application/use-cases/attach-vm-console.js';
import { principalOf } from '../authentication.js';
import { auditUpgrade } from '../audit.js';
import { bridgeConsole, defaultConsoleSessionLimits, type ConsoleSessionLimits } from '../console-bridge.js';
import { problemResponses, VmIdParams } from '../schemas/common.js';
import { VmConsoleAttachHeaders, VmConsoleAttachQuery } from '../schemas/vm-schemas.js';
import { vmIdParam } from './parse-ids.js';

/** What the checks before the upgrade opened, for the WebSocket handler to use. */
interface PreparedAttach {
  readonly connection: AgentConsoleConnection;
  readonly release: ReleaseSlot;
  readonly project: string;
  isTaken: boolean;
}

const contract =
  'Upgraded to a WebSocket (`hearth.console.v1`). Binary frames carry raw serial bytes both ways: first the ' +
  'last `backlog` bytes of the console log, then live output; what the client sends is typed into the guest. ' +
  'Before closing, the server may send one text frame `{"type":"closed","reason":"vm_stopped"|"replaced"|' +
  '"too_slow"|"shutting_down"}`. Session limits close with code 1008 (`idle_timeout`, `max_duration`). ' +
  'Authenticate with `Authorization: Bearer <token>` or, from a browser, with the subprotocol list ' +
  '`hearth.console.v1, hearth.bearer.<base64url(token) without padding>`; the server selects `hearth.console.v1` ' +
  'and never echoes the token. Everything refused is refused before the upgrade, as problem+json. See docs/console.md.';

/** `GET /v1/vms/{id}/console/attach`: the VM's serial console as a WebSocket (docs/console.md). */
export function registerConsoleRoutes(
  app: HttpServer,
  deps: UseCaseDependencies,
  limits: ConsoleSessionLimits = defaultConsoleSessionLimits,
): void {
  const sessions = new ConcurrencyLimiter({
    perClient: limits.perClient,
    overall: limits.overall,
    code: 'CONSOLE_LIMIT_REACHED',
    what: 'console sessions',
    retryAfterSeconds: 5,
  });
  const prepared = new WeakMap<FastifyRequest, PreparedAttach>();

  app.route({
    method: 'GET',
    url: '/v1/vms/:id/console/attach',
    config: { auth: { scope: 'vms:write' }, acceptsBearerSubprotocol: true, isWebSocket: true },
    schema: {
      operationId: 'attachVmConsole',
      summary: "Attach to a VM's serial console (WebSocket)",
      description: contract,
      tags: ['vms'],
      params: VmIdParams,
      querystring: VmConsoleAttachQuery,
      headers: VmConsoleAttachHeaders,
      response: {
        101: { description: 'Switching Protocols: the console WebSocket (subprotocol `hearth.console.v1`)', type: 'null' },
        ...problemResponses,
      },
    },
    // Every refusal happens here, before the upgrade, so that it is an HTTP problem the client can read.
    preHandler: async (request) => {
      const principal = principalOf(request);
      const vm = await consoleVmOf(deps, vmIdParam(request.params.id), principal.projects);
      // The cap is checked before the upgrade check, so that a plain GET tells a client (a browser,
      // which never sees why an upgrade failed) that the cap is what refused it.
      const release = sessions.acquire(principal.tokenId);
      if (request.ws !== true) {
        release();
        throw new AppError('WEBSOCKET_REQUIRED', 'Attach to the console with a WebSocket upgrade request', {
          details: { subprotocol: consoleSubprotocol },
        });
      }
      let connection: AgentConsoleConnection;
      try {
        connection = await attachVmConsole(deps, vm, request.query.backlog ?? consoleAttachDefaultBacklogBytes);
      } catch (error) {
        release();
        throw error;
      }
      const attach: PreparedAttach = { connection, release, project: vm.project, isTaken: false };
      prepared.set(request, attach);
      // An upgrade that fails after this (a malformed handshake) never reaches the handler below.
      request.raw.socket.once('close', () => {
        if (attach.isTaken) return;
        attach.isTaken = true;
        connection.close();
        release();
      });
    },
    handler: async () => {
      throw new AppError('WEBSOCKET_REQUIRED', 'Attach to the console with a WebSocket upgrade request');
    },
    wsHandler: (socket, request) => {
      const attach = prepared.get(request);
      if (attach === undefined || attach.isTaken) {
        socket.close(1011, 'not_prepared');
        return;
      }
      attach.isTaken = true;
      bridgeConsole(socket, attach.connection, { timers: deps.timers, limits, onEnd: attach.release });
      // Never rejects: a failed write is logged where it happens.
      auditUpgrade(deps, request, attach.project).catch(() => undefined);
    },
  });
}
