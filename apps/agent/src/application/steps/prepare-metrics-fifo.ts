import type { MetricsPrepareResult } from '@hearth/contracts';
import { vmPaths } from '../../domain/vm-paths.js';
import type { AgentContext } from '../agent-context.js';
import type { StepOutcome } from './ensure-tap.js';
import type { VmLedger } from '../vm-ledger.js';

/**
 * Creates the VM's metrics FIFO (mode 0600). Firecracker opens it non-blocking, so no reader is
 * needed. A new VM's record names the FIFO from its first write (applyVm): no write here then.
 */
export async function prepareMetricsFifo(context: AgentContext, ledger: VmLedger): Promise<StepOutcome<MetricsPrepareResult>> {
  const fifoPath = vmPaths(context.settings.runDir, ledger.record.vmId).metricsFifo;
  if (ledger.record.fifoPath === fifoPath && (await context.files.exists(fifoPath)))
    return { result: { fifoPath }, hasRun: false };
  await context.files.createFifo(fifoPath);
  if (ledger.record.fifoPath !== fifoPath) await ledger.commit({ fifoPath });
  return { result: { fifoPath }, hasRun: true };
}
