import { Type } from 'typebox';
import { VmIdPattern } from '@hearth/contracts';
import type { HttpServer } from '@hearth/http-server';
import type { AgentContext } from '../application/agent-context.js';
import { proxyToFirecracker } from '../application/use-cases/proxy-to-firecracker.js';
import { parseVmId } from '../domain/vm-id.js';

const ProxyParams = Type.Object({ id: Type.String({ pattern: VmIdPattern }), '*': Type.String() });

/**
 * `ANY /vms/:id/proxy/*`: the body is passed through as raw bytes (this scope has its own
 * content-type parser), and Firecracker's status, content type and body come back verbatim.
 */
export async function registerProxyRoutes(app: HttpServer, context: AgentContext): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => {
    done(null, body);
  });
  app.all('/vms/:id/proxy/*', { schema: { params: ProxyParams } }, async (request, reply) => {
    const response = await proxyToFirecracker(context, parseVmId(request.params.id), {
      method: request.method,
      path: request.params['*'],
      contentType: request.headers['content-type'],
      body: Buffer.isBuffer(request.body) ? request.body : undefined,
      correlationId: request.id,
    });
    reply.code(response.statusCode);
    if (response.contentType !== undefined) reply.header('content-type', response.contentType);
    return reply.send(response.statusCode === 204 ? undefined : response.body);
  });
}
