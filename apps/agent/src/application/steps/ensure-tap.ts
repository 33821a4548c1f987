import type { TapResult } from '@hearth/contracts';
import { AppError } from '@hearth/errors';
import { tapMark } from '../../domain/agent-identity.js';
import { maxTapNameAttempts, tapNameCandidate } from '../../domain/tap-name.js';
import type { VmId } from '../../domain/vm-id.js';
import type { AgentContext } from '../agent-context.js';
import type { VmLedger } from '../vm-ledger.js';
import { failpoint } from '@hearth/failpoints';

export interface StepOutcome<T> {
  readonly result: T;
  /** False when the effect was already in place. */
  readonly hasRun: boolean;
}

/**
 * Ensures the bridge and this VM's TAP exist. A TAP's name is written to the VM's record before
 * the TAP is made: the kernel makes a TAP and its mark in two steps, and a crash between them
 * would otherwise leave a TAP that neither a record nor its mark names. A recorded TAP that exists
 * marked as this VM's is reused; one that exists unmarked (that crash) is made again; one marked
 * as something else is not this VM's, and is forgotten.
 *
 * With `isRecordedUnmade`, the recorded name is one {@link firstFreeTapName} chose for a record
 * this apply has just created: nothing can have made a TAP of this VM under it yet, so it is made
 * without a look at the link first (a link of that name is someone else's: a fresh name is taken).
 */
export async function ensureTap(
  context: AgentContext,
  ledger: VmLedger,
  options: { readonly isRecordedUnmade?: boolean } = {},
): Promise<StepOutcome<TapResult>> {
  const { network, settings } = context;
  await network.ensureBridge(settings.bridge, settings.bridgeAddressCidr);
  const mark = tapMark(settings.agentId, ledger.record.vmId);
  const recorded = ledger.record.tap;
  if (recorded !== null && options.isRecordedUnmade === true && recorded.bridge === settings.bridge) {
    failpoint('agent.apply.tap-recorded');
    if ((await network.createTap(recorded.name, settings.bridge, mark)) === 'created') return created(recorded.name);
    await ledger.commit({ tap: null });
  } else if (recorded !== null) {
    const link = await network.linkState(recorded.name);
    if (link !== null && link.alias === mark)
      return { result: { tapName: recorded.name, bridge: recorded.bridge }, hasRun: false };
    if (link !== null && (link.alias ?? '') === '') await network.deleteLink(recorded.name);
    if (link === null || (link.alias ?? '') === '') {
      if (recorded.bridge !== settings.bridge) await ledger.commit({ tap: { name: recorded.name, bridge: settings.bridge } });
      if ((await network.createTap(recorded.name, settings.bridge, mark)) === 'created') return created(recorded.name);
    }
    // Someone else holds the name: forget it and pick a fresh one below.
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
    await ledger.commit({ tap: { name, bridge: settings.bridge } });
    failpoint('agent.apply.tap-recorded');
    if ((await network.createTap(name, settings.bridge, mark)) === 'created') return created(name);
  }
  await ledger.commit({ tap: null });
  throw new AppError(
    'HOST_LIMIT_EXCEEDED',
    `No free TAP name for VM ${ledger.record.vmId} after ${maxTapNameAttempts} attempts`,
    {
      details: { limit: 'tap_name_attempts', vmId: ledger.record.vmId },
    },
  );

  function created(name: string): StepOutcome<TapResult> {
    failpoint('agent.apply.tap-created');
    return { result: { tapName: name, bridge: settings.bridge }, hasRun: true };
  }
}

/**
 * The TAP a new record names with its first write, before the TAP is made: the first name
 * candidate no other record holds, on the configured bridge (undefined when every candidate is
 * held: {@link ensureTap} then answers HOST_LIMIT_EXCEEDED).
 */
export async function firstFreeTapName(
  context: AgentContext,
  vmId: VmId,
): Promise<{ readonly name: string; readonly bridge: string } | undefined> {
  const namesInRecords = new Set(
    (await context.records.list()).flatMap((record) => (record.tap === null || record.vmId === vmId ? [] : [record.tap.name])),
  );
  for (let attempt = 0; attempt < maxTapNameAttempts; attempt += 1) {
    const name = tapNameCandidate(vmId, attempt);
    if (!namesInRecords.has(name)) return { name, bridge: context.settings.bridge };
  }
  return undefined;
}
