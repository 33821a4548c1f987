import { isProxyPathAllowed } from '@hearth/contracts';
import { AppError } from '@hearth/errors';
import type { VmId } from '../domain/vm-id.js';
import type { AgentContext } from './agent-context.js';
import type { ForwardRequest, ForwardResponse } from './ports/firecracker-api.js';

/** `ANY /vms/:id/proxy/*`: forwards an allow-listed request to the VM's Firecracker socket. */
export async function proxyToFirecracker(context: AgentContext, vmId: VmId, request: ForwardRequest): Promise<ForwardResponse> {
  if (!isProxyPathAllowed(request.path)) {
    throw new AppError('PROXY_PATH_NOT_ALLOWED', `${request.method} /${request.path} is not forwarded to Firecracker`, {
      details: { path: request.path },
    });
  }
  const record = await context.records.get(vmId);
  if (record === undefined) throw new AppError('VM_NOT_FOUND', `This Agent has no record of VM ${vmId}`, { details: { vmId } });
  if (record.process === null || record.socketPath === null || !(await context.vmm.isAlive(record.process))) {
    throw new AppError('VMM_NOT_RUNNING', `The Firecracker process of VM ${vmId} is not running`, { details: { vmId } });
  }
  const client = context.firecracker.client(record.socketPath);
  // A GET changes nothing. Anything else may change the VM's state (pause, resume, snapshots), so
  // it runs under the VM's lock like the Agent's own changes, which also drops its known state.
  return request.method === 'GET' ? client.forward(request) : context.locks.run(vmId, () => client.forward(request));
}
