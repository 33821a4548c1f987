import { Type } from 'typebox';
import { AgentHealth, HostCapacity, Inventory, InventoryQuery } from '@hearth/contracts';
import type { HttpServer } from '@hearth/http-server';
import { readCapacity, readHealth, type HostStatusContext } from '../application/use-cases/host-status.js';
import type { InventoryReads } from './inventory-reads.js';
import { isNamedByIfNoneMatch } from './inventory-tag.js';

/** `/health`, `/capacity`, `/inventory`. */
export function registerHostRoutes(app: HttpServer, status: HostStatusContext, inventories: InventoryReads): void {
  app.get('/health', { schema: { response: { 200: AgentHealth } } }, () => readHealth(status));
  app.get('/capacity', { schema: { response: { 200: HostCapacity } } }, () => readCapacity(status));
  app.get(
    '/inventory',
    {
      schema: {
        querystring: InventoryQuery,
        response: { 200: Inventory, 304: Type.Null({ description: 'The inventory is still the one If-None-Match names' }) },
      },
      // 304 without a body to a reader that already holds this inventory (the tag the handler set).
      onSend: async (request, reply, payload) => {
        const tag = reply.getHeader('etag');
        if (reply.statusCode !== 200 || typeof tag !== 'string') return payload;
        if (!isNamedByIfNoneMatch(request.headers['if-none-match'], tag)) return payload;
        void reply.code(304);
        reply.removeHeader('content-type');
        return null;
      },
    },
    async (request, reply) => {
      // The inventory's ETag: the digest of its bytes, the very bytes answered.
      const { inventory, body, tag } = await inventories.answerOf(request.query);
      // A reply with a serialiser of its own has no content type unless it is given one.
      void reply
        .header('etag', tag)
        .type('application/json; charset=utf-8')
        .serializer(() => body);
      return inventory;
    },
  );
}
