import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The Agent of a host that holds nothing: it answers the Manager's inventory read with no VMs and
 * every other call with a problem. Enough for host routes that read the Agent, with no VMM.
 */
export interface StandInAgent {
  readonly url: string;
  close(): Promise<void>;
}

export async function startStandInAgent(hostName: string): Promise<StandInAgent> {
  const server = http.createServer((request, response) => {
    request.resume();
    if (request.method === 'GET' && request.url === '/agent/v1/inventory') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ hostName, vms: [] }));
      return;
    }
    response.writeHead(404, { 'content-type': 'application/problem+json' }).end(
      JSON.stringify({
        status: 404,
        code: 'ROUTE_NOT_FOUND',
        title: 'No such route',
        detail: `${request.method} ${request.url}`,
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
