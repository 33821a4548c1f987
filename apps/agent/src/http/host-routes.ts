import { Type } from 'typebox';
import { AgentHealth, HostCapacity, Inventory, InventoryQuery } from '@hearth/contracts';
import type { HttpServer } from '@hearth/http-server';
import type { AgentContext } from '../application/agent-context.js';
import { readCapacity, readHealth, type HostStatusContext } from '../application/use-cases/host-status.js';
import { listInventory } from '../application/use-cases/list-inventory.js';
import { inventoryTag, isNamedByIfNoneMatch } from './inventory-tag.js';

/** `/health`, `/capacity`, `/inventory`. */
export function registerHostRoutes(app: HttpServer, context: AgentContext, status: HostStatusContext, instanceId: string): void {
  app.get('/health', { schema: { response: { 200: AgentHealth } } }, () => readHealth(status));
  app.get('/capacity', { schema: { response: { 200: HostCapacity } } }, () => readCapacity(status));
  app.get(
    '/inventory',
    {
      schema: {
        querystring: InventoryQuery,
        response: { 200: Inventory, 304: Type.Null({ description: 'The inventory is still the one If-None-Match names' }) },
      },
      // The inventory's ETag, and 304 without a body to a reader that already holds this inventory.
      onSend: async (request, reply, payload) => {
        if (reply.statusCode !== 200 || typeof payload !== 'string') return payload;
        const tag = inventoryTag(instanceId, payload);
        void reply.header('etag', tag);
        if (!isNamedByIfNoneMatch(request.headers['if-none-match'], tag)) return payload;
        void reply.code(304);
        reply.removeHeader('content-type');
        return null;
      },
    },
    (request) => listInventory(context, status.hostName, request.query),
  );
}
