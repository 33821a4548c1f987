import { Type } from 'typebox';
import {
  ApplyVmResult,
  AgentVm,
  CleanupResult,
  CreateSnapshotRequest,
  ConsoleLogQuery,
  consoleLogDefaultBytes,
  EgressPolicy,
  EgressPolicyResult,
  MetricsPrepareResult,
  RateLimits,
  RateLimitsResult,
  RootfsRequest,
  RootfsResult,
  SnapshotParams,
  SnapshotResult,
  SpawnResult,
  StopVmQuery,
  TapResult,
  VmIdParams,
  VmSpec,
} from '@hearth/contracts';
import type { HttpServer } from '@hearth/http-server';
import type { AgentContext } from '../application/agent-context.js';
import type { ConsoleAttachments } from '../application/use-cases/console-attachments.js';
import { applyVm } from '../application/use-cases/apply-vm.js';
import { deleteVm } from '../application/use-cases/delete-vm.js';
import { describeVm } from '../application/use-cases/describe-vm.js';
import { deleteSnapshot, snapshotVm } from '../application/use-cases/snapshot-vm.js';
import { readConsoleLog } from '../application/use-cases/read-console-log.js';
import { stopVm } from '../application/use-cases/stop-vm.js';
import { setEgressPolicy } from '../application/steps/vm-egress.js';
import { setRateLimits } from '../application/steps/vm-rate-limits.js';
import { runMetricsPrepareStep, runRootfsStep, runSpawnStep, runTapStep } from '../application/use-cases/vm-steps.js';
import { parseVmId } from '../domain/vm-id.js';

/** `/vms/:id` and its single steps. */
export function registerVmRoutes(app: HttpServer, context: AgentContext, consoles?: ConsoleAttachments): void {
  app.put('/vms/:id', { schema: { params: VmIdParams, body: VmSpec, response: { 200: ApplyVmResult } } }, (request) =>
    applyVm(context, parseVmId(request.params.id), request.body),
  );
  app.get('/vms/:id', { schema: { params: VmIdParams, response: { 200: AgentVm } } }, (request) =>
    describeVm(context, parseVmId(request.params.id)),
  );
  app.get(
    '/vms/:id/console',
    { schema: { params: VmIdParams, querystring: ConsoleLogQuery, response: { 200: Type.String() } } },
    async (request, reply) => {
      const text = await readConsoleLog(context, parseVmId(request.params.id), request.query.bytes ?? consoleLogDefaultBytes);
      return reply.type('text/plain; charset=utf-8').send(text);
    },
  );
  app.delete('/vms/:id', { schema: { params: VmIdParams, response: { 200: CleanupResult } } }, async (request) => {
    const vmId = parseVmId(request.params.id);
    const result = await deleteVm(context, vmId);
    consoles?.closeVm(vmId, 'vm_stopped');
    return result;
  });
  app.post(
    '/vms/:id/stop',
    { schema: { params: VmIdParams, querystring: StopVmQuery, response: { 200: CleanupResult } } },
    async (request) => {
      const vmId = parseVmId(request.params.id);
      const result = await stopVm(context, vmId, { isNetworkKept: request.query.network === 'keep' });
      consoles?.closeVm(vmId, 'vm_stopped');
      return result;
    },
  );
  app.post(
    '/vms/:id/snapshots/:snapshotId',
    { schema: { params: SnapshotParams, body: CreateSnapshotRequest, response: { 200: SnapshotResult } } },
    (request) => snapshotVm(context, parseVmId(request.params.id), request.params.snapshotId, request.body),
  );
  app.delete(
    '/vms/:id/snapshots/:snapshotId',
    { schema: { params: SnapshotParams, response: { 200: CleanupResult } } },
    (request) => deleteSnapshot(context, parseVmId(request.params.id), request.params.snapshotId),
  );
  app.put(
    '/vms/:id/egress',
    { schema: { params: VmIdParams, body: EgressPolicy, response: { 200: EgressPolicyResult } } },
    async (request) => ({ isApplied: await setEgressPolicy(context, parseVmId(request.params.id), request.body) }),
  );
  app.put(
    '/vms/:id/rate-limits',
    { schema: { params: VmIdParams, body: RateLimits, response: { 200: RateLimitsResult } } },
    async (request) => ({ isApplied: await setRateLimits(context, parseVmId(request.params.id), request.body) }),
  );
  app.post('/vms/:id/tap', { schema: { params: VmIdParams, response: { 200: TapResult } } }, (request) =>
    runTapStep(context, parseVmId(request.params.id)),
  );
  app.post(
    '/vms/:id/rootfs',
    { schema: { params: VmIdParams, body: RootfsRequest, response: { 200: RootfsResult } } },
    (request) => runRootfsStep(context, parseVmId(request.params.id), request.body.sourcePath),
  );
  app.post('/vms/:id/spawn', { schema: { params: VmIdParams, response: { 200: SpawnResult } } }, (request) =>
    runSpawnStep(context, parseVmId(request.params.id)),
  );
  app.post('/vms/:id/metrics/prepare', { schema: { params: VmIdParams, response: { 200: MetricsPrepareResult } } }, (request) =>
    runMetricsPrepareStep(context, parseVmId(request.params.id)),
  );
}
