import type { TapResult } from '@hearth/contracts';
import { AppError } from '@hearth/errors';
import { tapMark } from '../domain/agent-identity.js';
import { maxTapNameAttempts, tapNameCandidate } from '../domain/tap-name.js';
import type { AgentContext } from './agent-context.js';
import type { VmLedger } from './vm-ledger.js';
import { failpoint } from '@hearth/failpoints';

export interface StepOutcome<T> {
  readonly result: T;
  /** False when the effect was already in place. */
  readonly hasRun: boolean;
}

/** Ensures the bridge and this VM's TAP exist. A TAP already recorded for the VM is reused. */
export async function ensureTap(context: AgentContext, ledger: VmLedger): Promise<StepOutcome<TapResult>> {
  const { network, settings } = context;
  await network.ensureBridge(settings.bridge, settings.bridgeAddressCidr);
  const recorded = ledger.record.tap;
  if (recorded !== null) {
    if (await network.linkExists(recorded.name))
      return { result: { tapName: recorded.name, bridge: recorded.bridge }, hasRun: false };
    const outcome = await network.createTap(recorded.name, settings.bridge, tapMark(settings.agentId, ledger.record.vmId));
    if (outcome === 'created') {
      failpoint('agent.apply.tap-created');
      await ledger.commit({ tap: { name: recorded.name, bridge: settings.bridge } });
      failpoint('agent.apply.after-tap');
      return { result: { tapName: recorded.name, bridge: settings.bridge }, hasRun: true };
    }
    // Someone else took the name in between: forget it and pick a fresh one below.
    await ledger.commit({ tap: null });
  }

  const namesInRecords = new Set(
    (await context.records.list()).flatMap((record) =>
      record.tap === null || record.vmId === ledger.record.vmId ? [] : [record.tap.name],
    ),
  );
  for (let attempt = 0; attempt < maxTapNameAttempts; attempt += 1) {
    const name = tapNameCandidate(ledger.record.vmId, attempt);
    if (namesInRecords.has(name)) continue;
    if ((await network.createTap(name, settings.bridge, tapMark(settings.agentId, ledger.record.vmId))) === 'created') {
      failpoint('agent.apply.tap-created');
      await ledger.commit({ tap: { name, bridge: settings.bridge } });
      failpoint('agent.apply.after-tap');
      return { result: { tapName: name, bridge: settings.bridge }, hasRun: true };
    }
  }
  throw new AppError(
    'HOST_LIMIT_EXCEEDED',
    `No free TAP name for VM ${ledger.record.vmId} after ${maxTapNameAttempts} attempts`,
    {
      details: { limit: 'tap_name_attempts', vmId: ledger.record.vmId },
    },
  );
}
