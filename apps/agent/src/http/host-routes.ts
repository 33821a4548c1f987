import { Type } from 'typebox';
import { AgentHealth, HostCapacity, Inventory, InventoryQuery } from '@hearth/contracts';
import type { HttpServer } from '@hearth/http-server';
import type { AgentContext } from '../application/agent-context.js';
import { readCapacity, readHealth, type HostStatusContext } from '../application/use-cases/host-status.js';
import { InventoryEntries } from '../application/use-cases/inventory-entries.js';
import { listInventory } from '../application/use-cases/list-inventory.js';
import { InventoryAnswers, isNamedByIfNoneMatch } from './inventory-tag.js';

/** `/health`, `/capacity`, `/inventory`. */
export function registerHostRoutes(app: HttpServer, context: AgentContext, status: HostStatusContext, instanceId: string): void {
  app.get('/health', { schema: { response: { 200: AgentHealth } } }, () => readHealth(status));
  app.get('/capacity', { schema: { response: { 200: HostCapacity } } }, () => readCapacity(status));
  // Each kind of read keeps its entries and its last answer: an unchanged host is answered
  // without building, serialising or hashing any VM's entry again.
  const reads = {
    withResources: { entries: new InventoryEntries(true), answers: new InventoryAnswers(instanceId) },
    withoutResources: { entries: new InventoryEntries(false), answers: new InventoryAnswers(instanceId) },
  };
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
      const read = request.query.resources === 'none' ? reads.withoutResources : reads.withResources;
      const inventory = await listInventory(context, status.hostName, request.query, read.entries);
      // The inventory's ETag: the digest of its bytes, which are those of the route's serialiser.
      const { body, tag } = read.answers.answerOf(inventory, (value) => String(reply.serialize(value)));
      // A reply with a serialiser of its own has no content type unless it is given one.
      void reply
        .header('etag', tag)
        .type('application/json; charset=utf-8')
        .serializer(() => body);
      return inventory;
    },
  );
}
