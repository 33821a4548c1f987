import { isProxyPathAllowed } from '@hearth/contracts';
import { AppError } from '@hearth/errors';
import { isAgentConfigured } from '../../domain/proxy-request.js';
import type { VmId } from '../../domain/vm-id.js';
import { proxyFilesOf, vmNotFoundError, type VmRecord } from '../../domain/vm-record.js';
import type { AgentContext } from '../agent-context.js';
import { confineProxyRequest } from './confine-proxy-request.js';
import type { ForwardRequest, ForwardResponse } from '../ports/firecracker-api.js';
import { VmLedger } from '../vm-ledger.js';

async function liveRecord(context: AgentContext, vmId: VmId): Promise<VmRecord & { socketPath: string }> {
  const record = await context.records.get(vmId);
  if (record === undefined) throw vmNotFoundError(vmId);
  if (record.process === null || record.socketPath === null || !(await context.vmm.isAlive(record.process))) {
    throw new AppError('VMM_NOT_RUNNING', `The Firecracker process of VM ${vmId} is not running`, { details: { vmId } });
  }
  return { ...record, socketPath: record.socketPath };
}

/**
 * `ANY /vms/:id/proxy/*`: forwards an allow-listed request to the VM's Firecracker socket. A change
 * may not override what the Agent configured itself (PROXY_OVERRIDES_AGENT_CONFIG), and every host
 * path and device in its body is confined to what the VM may use (see confineProxyRequest). Files
 * it may create are recorded before it is forwarded, so delete removes them.
 */
export async function proxyToFirecracker(context: AgentContext, vmId: VmId, request: ForwardRequest): Promise<ForwardResponse> {
  if (!isProxyPathAllowed(request.path)) {
    throw new AppError('PROXY_PATH_NOT_ALLOWED', `${request.method} /${request.path} is not forwarded to Firecracker`, {
      details: { path: request.path },
    });
  }
  // A GET changes nothing.
  if (request.method === 'GET') {
    const record = await liveRecord(context, vmId);
    return context.firecracker.client(record.socketPath).forward(request);
  }
  // Anything else may change the VM's state (pause, resume, snapshots), so it runs under the VM's
  // lock like the Agent's own changes, which also drops its known state.
  return context.locks.run(vmId, async () => {
    const record = await liveRecord(context, vmId);
    if (isAgentConfigured(request.method, request.path, record)) {
      throw new AppError(
        'PROXY_OVERRIDES_AGENT_CONFIG',
        `${request.method} /${request.path} would change what the Agent configured for VM ${vmId}`,
        { details: { vmId, path: request.path } },
      );
    }
    const confined = await confineProxyRequest(context, record, request);
    const unrecorded = [...new Set(confined.createdFiles)].filter((path) => !proxyFilesOf(record).includes(path));
    if (unrecorded.length === 0)
      return context.firecracker.client(record.socketPath).forward({ ...request, body: confined.body });

    const ledger = await VmLedger.open(context, vmId);
    await ledger.commit({ proxyFiles: [...proxyFilesOf(ledger.record), ...unrecorded] });
    const response = await context.firecracker.client(record.socketPath).forward({ ...request, body: confined.body });
    // Once Firecracker has answered, what it did not create is not kept in the ledger. (Without an
    // answer, e.g. a timeout, it may still be writing: the files stay recorded.)
    const absent: string[] = [];
    for (const path of unrecorded) if (!(await context.files.exists(path))) absent.push(path);
    if (absent.length > 0)
      await ledger.commit({ proxyFiles: proxyFilesOf(ledger.record).filter((path) => !absent.includes(path)) });
    return response;
  });
}
