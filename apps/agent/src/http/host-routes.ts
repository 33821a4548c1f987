import { AgentHealth, HostCapacity, Inventory, InventoryQuery } from '@hearth/contracts';
import type { HttpServer } from '@hearth/http-server';
import type { AgentContext } from '../application/agent-context.js';
import { readCapacity, readHealth, type HostStatusContext } from '../application/use-cases/host-status.js';
import { listInventory } from '../application/use-cases/list-inventory.js';

/** `/health`, `/capacity`, `/inventory`. */
export function registerHostRoutes(app: HttpServer, context: AgentContext, status: HostStatusContext): void {
  app.get('/health', { schema: { response: { 200: AgentHealth } } }, () => readHealth(status));
  app.get('/capacity', { schema: { response: { 200: HostCapacity } } }, () => readCapacity(status));
  app.get('/inventory', { schema: { querystring: InventoryQuery, response: { 200: Inventory } } }, (request) =>
    listInventory(context, status.hostName, request.query),
  );
}
