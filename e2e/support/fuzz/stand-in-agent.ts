import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createJoinToken } from '@hearth/testkit';
import { generateKeyPair } from '@hearth/pki';

/**
 * The Agent of a host that holds nothing: it joins the cluster as an Agent does (a join token, a
 * key of its own, the certificate and host credential the Manager gives it), serves HTTPS to the
 * cluster's Manager certificates, and answers the Manager's inventory read with no VMs, its metrics
 * read with one gauge, and every other call with a problem. Enough for host routes that read the
 * Agent, with no VMM.
 */
export interface StandInAgent {
  readonly url: string;
  readonly agentId: string;
  /** `Bearer hhc_…`: what the Agent sends on registration and heartbeats. */
  readonly authorization: string;
  close(): Promise<void>;
}

export async function startStandInAgent(
  managerUrl: string,
  adminToken: string,
  options: { readonly hostName: string; readonly agentId: string },
): Promise<StandInAgent> {
  const joinToken = await createJoinToken(managerUrl, { headers: { authorization: `Bearer ${adminToken}` } });
  const keys = await generateKeyPair();
  const response = await fetch(`${managerUrl}/v1/hosts/join`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${joinToken}` },
    body: JSON.stringify({ agentId: options.agentId, publicKey: keys.publicKeyPem }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`POST /v1/hosts/join answered ${response.status}: ${text}`);
  const joined = JSON.parse(text) as { caCertificate: string; certificate: string; credential: string };

  const server = https.createServer(
    { key: keys.privateKeyPem, cert: joined.certificate, ca: joined.caCertificate, requestCert: true, rejectUnauthorized: true },
    (request, reply) => {
      request.resume();
      if (request.method === 'GET' && request.url === '/agent/v1/inventory') {
        reply.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ hostName: options.hostName, vms: [] }));
        return;
      }
      if (request.method === 'GET' && request.url === '/agent/v1/metrics') {
        reply
          .writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' })
          .end('# HELP hearth_agent_vms VMs on this host.\n# TYPE hearth_agent_vms gauge\nhearth_agent_vms 0\n');
        return;
      }
      reply.writeHead(404, { 'content-type': 'application/problem+json' }).end(
        JSON.stringify({
          status: 404,
          code: 'ROUTE_NOT_FOUND',
          title: 'No such route',
          detail: `${request.method} ${request.url}`,
        }),
      );
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    agentId: options.agentId,
    authorization: `Bearer ${joined.credential}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
