import type { MetricsPrepareResult, RootfsResult, SpawnResult, TapResult } from '@hearth/contracts';
import type { VmId } from '../../domain/vm-id.js';
import type { AgentContext } from '../agent-context.js';
import { ensureTap } from '../steps/ensure-tap.js';
import { resolveImagePath } from '../steps/image-paths.js';
import { prepareMetricsFifo } from '../steps/prepare-metrics-fifo.js';
import { prepareRootfs } from '../steps/prepare-rootfs.js';
import { spawnVmm } from '../steps/spawn-vmm.js';
import { VmLedger } from '../vm-ledger.js';

/** `POST /vms/:id/tap`: one step of the plan on its own, for callers that drive the steps themselves. */
export async function runTapStep(context: AgentContext, vmId: VmId): Promise<TapResult> {
  return context.locks.run(vmId, async () => (await ensureTap(context, await VmLedger.openOrCreate(context, vmId))).result);
}

/** `POST /vms/:id/rootfs`. */
export async function runRootfsStep(context: AgentContext, vmId: VmId, sourcePath: string): Promise<RootfsResult> {
  return context.locks.run(vmId, async () => {
    const source = await resolveImagePath(context, sourcePath, 'sourcePath');
    return (await prepareRootfs(context, await VmLedger.openOrCreate(context, vmId), source)).result;
  });
}

/** `POST /vms/:id/spawn` (idempotent: a live VMM answers `wasRunning: true`). */
export async function runSpawnStep(context: AgentContext, vmId: VmId): Promise<SpawnResult> {
  return context.locks.run(vmId, async () => (await spawnVmm(context, await VmLedger.openOrCreate(context, vmId))).result);
}

/** `POST /vms/:id/metrics/prepare`. */
export async function runMetricsPrepareStep(context: AgentContext, vmId: VmId): Promise<MetricsPrepareResult> {
  return context.locks.run(
    vmId,
    async () => (await prepareMetricsFifo(context, await VmLedger.openOrCreate(context, vmId))).result,
  );
}
