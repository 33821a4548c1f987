import { isSameEgressPolicy, sortedPublishedPorts, type HostResource, type VmSpec } from '@hearth/contracts';
import { AppError } from '@hearth/errors';
import { failpoint } from '@hearth/failpoints';
import {
  allowAllEgress,
  assertEgressPolicy,
  assertPublishedPorts,
  removeVmsScript,
  sharedSetName,
  vmEgressScript,
  vmGuardScript,
  newVmGuardScript,
  newVmEgressScript,
  type GuestGuard,
  vmIdsInTable,
  type EgressPolicy,
  type VmTableKeys,
} from '../../domain/egress-rules.js';
import { nftRuleRef, type EgressRecord, type VmRecord } from '../../domain/vm-record.js';
import type { EgressTableState } from '../../domain/egress-rules.js';
import type { AgentContext, EgressSettings } from '../agent-context.js';
import { VmLedger } from '../vm-ledger.js';
import type { VmId } from '../../domain/vm-id.js';

/** The uplink guests are masqueraded to: the setting, else the device of the default route. */
async function uplinkOf(context: AgentContext, egress: EgressSettings): Promise<string> {
  const uplink = egress.uplink ?? (await context.firewall.defaultRouteDevice());
  if (uplink === null) {
    throw new AppError('HOST_EGRESS_UNAVAILABLE', 'This host has no default route to take its uplink from; set AGENT_UPLINK');
  }
  return uplink;
}

/**
 * Throws HOST_EGRESS_UNAVAILABLE when the host does not forward the guests' IPv4 packets (forwarding
 * off on the bridge; `net.ipv4.ip_forward = 1` turns it on everywhere): egress through NAT is never
 * claimed where no packet could leave.
 */
export async function assertForwarding(context: AgentContext): Promise<void> {
  if (!(await context.firewall.isForwardingEnabled())) {
    throw new AppError(
      'HOST_EGRESS_UNAVAILABLE',
      'IPv4 forwarding is off on this host (net.ipv4.ip_forward = 0, or off on the bridge): guests cannot reach the uplink',
    );
  }
}

/**
 * Gives the VM its egress chain under its policy (allow all unless one was set), masquerades its
 * address to the uplink and publishes the ports of its spec; without egress through NAT, only the
 * guard of its TAP. The intent is recorded first, then written by one nft script, so a crash in
 * between leaves a rule that a record names (and release removes), never an unnamed one. Answers
 * false when the table already holds exactly the recorded chain and ports.
 *
 * With `isNewVm` (a VM whose record the apply has just created, on the TAP it has just made), its
 * rules are first written without a read of the tables: nothing of a VM without a record is there
 * (a delete removes a VM's entries before its record, the start-up sweep those no record names),
 * and its elements are created, so tables that hold one at its address, one of its host ports or
 * its TAP after all (a stale lease, a lost record) refuse the whole transaction. They are then
 * written from what a read finds, which replaces those elements, as for any VM.
 */
export async function ensureEgress(
  context: AgentContext,
  ledger: VmLedger,
  options: { readonly isNewVm?: boolean } = {},
): Promise<boolean> {
  const egress = context.settings.egress ?? null;
  const intent = egressIntentOf(context, ledger.record);
  if (intent === null) return false;
  if (egress === null) return ensureGuardOnly(context, ledger, intent, options.isNewVm === true);
  const vmId = ledger.record.vmId;
  if (options.isNewVm === true && isRecorded(ledger.record, intent)) {
    const [, uplink] = await Promise.all([assertForwarding(context), uplinkOf(context, egress)]);
    const script = newVmEgressScript(
      { name: egress.table, uplink },
      { vmId, address: intent.address, policy: intent.policy, ports: intent.ports ?? [], guard: intent.guard ?? null },
    );
    if (await isWrittenUnread(context, vmId, script)) return true;
  }
  // A change of the policy alone (the guard, address and ports as recorded) neither reads nor
  // writes the bridge table: one nft read fewer and a shorter transaction.
  const bridge = isPolicyChangeOnly(ledger.record.egress ?? null, intent) ? 'keep' : 'rewrite';
  // The three reads are independent: side by side, not one process after another.
  const [, uplink, state] = await Promise.all([
    assertForwarding(context),
    uplinkOf(context, egress),
    context.firewall.readVmEntries(
      egress.table,
      vmTableKeysOf(ledger.record.vmId, [ledger.record.egress ?? null, intent]),
      bridge === 'keep' ? 'ip' : 'ip_and_bridge',
    ),
  ]);
  if (bridge === 'rewrite' && isEgressInPlace(ledger.record, intent, state)) return false;
  const script = vmEgressScript(
    { name: egress.table, uplink },
    { vmId, address: intent.address, policy: intent.policy, ports: intent.ports ?? [], guard: intent.guard ?? null },
    state,
    bridge,
  );
  // A new VM's record names its entry from its first write (applyVm): no write here then.
  if (!isRecorded(ledger.record, intent)) await ledger.commit({ egress: intent });
  failpoint('agent.egress.recorded');
  await context.firewall.apply(script);
  failpoint('agent.egress.applied');
  return true;
}

/**
 * The guard of the VM's TAP alone, in the bridge table (an Agent without egress through NAT):
 * recorded, then written.
 *
 * A new VM's guard is first written without reading the table (three `list` commands of the nft
 * session, two of them answering the whole guard map and TAP set): nothing of a VM without a record
 * is there (a delete removes a VM's entries before its record, the start-up sweep those no record
 * names), and its elements are created, so a table that holds one of them after all refuses the
 * whole transaction. The guard is then written as for any VM, from what a read finds.
 */
async function ensureGuardOnly(
  context: AgentContext,
  ledger: VmLedger,
  intent: EgressRecord,
  isNewVm: boolean,
): Promise<boolean> {
  const guard = intent.guard ?? null;
  if (guard === null) return false;
  if (isNewVm && isRecorded(ledger.record, intent)) {
    const vmId = ledger.record.vmId;
    if (await isWrittenUnread(context, vmId, newVmGuardScript(intent.table, { vmId, address: intent.address, guard })))
      return true;
  }
  // Written by this Agent while it had egress through NAT: its `ip` entry goes first, so that no
  // rule outlives the record that names it.
  const recorded = ledger.record.egress ?? null;
  if (recorded !== null && recorded.isGuardOnly !== true) {
    if (!(await removeEgress(context, ledger.record))) {
      throw new AppError('HOST_COMMAND_FAILED', 'The VM’s egress rules written with NAT could not be removed');
    }
    await ledger.commit({ egress: null });
  }
  const keys = vmTableKeysOf(ledger.record.vmId, [ledger.record.egress ?? null, intent]);
  const state = await context.firewall.readVmEntries(intent.table, keys, 'bridge');
  if (isEgressInPlace(ledger.record, intent, state)) return false;
  const script = vmGuardScript(intent.table, { vmId: ledger.record.vmId, address: intent.address, guard }, state);
  // A new VM's record names its entry from its first write (applyVm): no write here then.
  if (!isRecorded(ledger.record, intent)) await ledger.commit({ egress: intent });
  failpoint('agent.egress.recorded');
  await context.firewall.apply(script);
  failpoint('agent.egress.applied');
  return true;
}

/**
 * Writes a new VM's script made without a read of the tables (its elements created, not added):
 * false, with a warning, when nft refused it, which it does as a whole when an element is there
 * after all. The caller then writes the VM's entries from what a read finds, as for any VM.
 */
async function isWrittenUnread(context: AgentContext, vmId: string, script: string): Promise<boolean> {
  failpoint('agent.egress.recorded');
  try {
    await context.firewall.apply(script);
  } catch (error) {
    context.log.warn({ vmId, err: error }, 'rules of a new vm refused: written again from the table read');
    return false;
  }
  failpoint('agent.egress.applied');
  return true;
}

/**
 * The keys of a VM's entries in Hearth's tables: every address, host port, TAP and shared set that
 * `entries` (what its record says was written, what it is to be) name, so that a script replacing
 * one entry with the other reads both. Pure.
 */
export function vmTableKeysOf(vmId: string, entries: readonly (EgressRecord | null)[]): VmTableKeys {
  const written = entries.filter((entry) => entry !== null);
  const unique = <T>(values: readonly T[]): T[] => [...new Set(values)];
  const ports = new Map(
    written.flatMap((entry) => entry.ports ?? []).map((port) => [`${port.protocol}/${port.hostPort}`, port] as const),
  );
  return {
    vmId,
    addresses: unique(written.map((entry) => entry.address)),
    hostPorts: [...ports.values()].map(({ protocol, hostPort }) => ({ protocol, hostPort })),
    taps: unique(written.flatMap((entry) => (entry.guard ? [entry.guard.tap] : []))),
    sharedSets: unique(written.flatMap((entry) => (entry.guard?.sharedSet ? [entry.guard.sharedSet] : []))),
  };
}

/** True when `intent` differs from what was recorded as written in its policy only. Pure. */
export function isPolicyChangeOnly(recorded: EgressRecord | null, intent: EgressRecord): boolean {
  if (recorded === null || isSameEgressPolicy(recorded.policy, intent.policy)) return false;
  return JSON.stringify({ ...recorded, policy: null }) === JSON.stringify({ ...intent, policy: null });
}

/**
 * What the VM's entry in Hearth's table must be, from its record: its address under its policy
 * (allow all unless one was set), the ports of its spec and the guard of its TAP; without egress
 * through NAT, the guard of its TAP alone (`isGuardOnly`, once the TAP is known). Null when this
 * Agent writes no rules or the guest has no address.
 */
export function egressIntentOf(
  context: AgentContext,
  record: Pick<VmRecord, 'spec' | 'tap' | 'egressPolicy'>,
): EgressRecord | null {
  const egress = context.settings.egress ?? null;
  const table = egress?.table ?? context.settings.guard?.table ?? null;
  const guest = record.spec?.guest;
  if (table === null || guest === undefined) return null;
  const sharedNetwork = record.spec?.sharedNetwork;
  const guard: GuestGuard | null =
    record.tap === null || record.spec === null
      ? null
      : {
          tap: record.tap.name,
          mac: record.spec.guestMac.toLowerCase(),
          sharedSet: sharedNetwork === undefined ? null : sharedSetName(sharedNetwork),
        };
  if (egress === null) {
    return guard === null ? null : { table, address: guest.ipAddress, policy: allowAllEgress, guard, isGuardOnly: true };
  }
  const ports = sortedPublishedPorts(record.spec?.ports ?? []);
  return {
    table,
    address: guest.ipAddress,
    policy: record.egressPolicy ?? allowAllEgress,
    ...(ports.length === 0 ? {} : { ports }),
    ...(guard === null ? {} : { guard }),
  };
}

/** Whether the record names `intent` as the VM's entry already. Pure. */
function isRecorded(record: Pick<VmRecord, 'egress'>, intent: EgressRecord): boolean {
  const recorded = record.egress ?? null;
  return recorded !== null && JSON.stringify(recorded) === JSON.stringify(intent);
}

/**
 * Whether the table holds exactly what the VM's record says was written and that is still what it
 * should be (`intent`): its chain, its egress element, every published port and the guard of its
 * TAP. False when a rule was removed behind the Agent's back (another tool, a person with nft). Pure.
 */
export function isEgressInPlace(
  record: Pick<VmRecord, 'vmId' | 'egress'>,
  intent: EgressRecord,
  state: EgressTableState,
): boolean {
  const recorded = record.egress ?? null;
  const { vmId } = record;
  const guard = intent.guard ?? null;
  const isGuardOnly = intent.isGuardOnly === true;
  return (
    recorded !== null &&
    JSON.stringify(recorded) === JSON.stringify(intent) &&
    (isGuardOnly || isIpEntryInPlace(vmId, intent, state)) &&
    (guard === null ||
      (state.guardChains.includes(vmId) &&
        state.guardElements.some((element) => element.tap === guard.tap && element.chain === vmId)))
  );
}

/** The VM's chain, its egress element and every published port in the `ip` table. Pure. */
function isIpEntryInPlace(vmId: string, intent: EgressRecord, state: EgressTableState): boolean {
  return (
    state.vmChains.includes(vmId) &&
    state.egressElements.some((element) => element.address === intent.address && element.chain === vmId) &&
    (intent.ports ?? []).every((port) =>
      state.portElements.some(
        (element) =>
          element.vmId === vmId &&
          element.protocol === port.protocol &&
          element.hostPort === port.hostPort &&
          element.address === intent.address &&
          element.guestPort === port.guestPort,
      ),
    )
  );
}

/**
 * The egress each running VM's record holds and whether its rules are in place, for the inventory.
 * One VM's (what a create or a describe asks) reads that VM's entries alone; more read the table
 * once for all of them. Empty when this Agent writes no rules or cannot read them.
 */
export async function egressObservations(
  context: AgentContext,
  records: readonly VmRecord[],
): Promise<Map<string, { readonly policy: EgressPolicy; readonly isInPlace: boolean }>> {
  const observed = new Map<string, { readonly policy: EgressPolicy; readonly isInPlace: boolean }>();
  const egress = context.settings.egress ?? null;
  // Without egress through NAT nothing is observed: no intent is worked out for any VM.
  if (egress === null) return observed;
  const intents = records.flatMap((record) => {
    const intent = record.lifecycle === 'running' ? egressIntentOf(context, record) : null;
    return intent === null ? [] : [{ record, intent }];
  });
  const [only] = intents;
  if (only === undefined) return observed;
  let state: EgressTableState;
  try {
    state =
      intents.length === 1
        ? await context.firewall.readVmEntries(
            egress.table,
            vmTableKeysOf(only.record.vmId, [only.record.egress ?? null, only.intent]),
          )
        : await context.firewall.readTable(egress.table);
  } catch (error) {
    // The inventory is still answered: without this, its VMs are only not judged for drift.
    context.log.warn({ table: egress.table, err: error }, 'firewall table unreadable for the inventory');
    return observed;
  }
  for (const { record, intent } of intents) {
    observed.set(record.vmId, { policy: intent.policy, isInPlace: isEgressInPlace(record, intent, state) });
  }
  return observed;
}

/**
 * Throws before anything is recorded when the spec publishes ports this host cannot grant: its
 * Agent writes no NAT (HOST_EGRESS_UNAVAILABLE), the guest has no address to forward to, or a port
 * is out of range, twice, or one of the Agent's own (VALIDATION_FAILED).
 */
export function assertPortsGrantable(context: AgentContext, spec: Pick<VmSpec, 'ports' | 'guest'>): void {
  const ports = spec.ports ?? [];
  if (ports.length === 0) return;
  const egress = context.settings.egress ?? null;
  if (egress === null) {
    throw new AppError('HOST_EGRESS_UNAVAILABLE', 'Published ports need egress through NAT on this host (AGENT_EGRESS=nat)');
  }
  if (spec.guest === undefined) {
    throw new AppError('VALIDATION_FAILED', 'Invalid body: ports', {
      errors: [{ field: 'body/ports', message: 'need a guest address to forward to' }],
    });
  }
  assertPublishedPorts(ports, egress.reservedTcpPorts);
}

/** Removes the VM's chain and elements from the recorded table; true when none is left. */
export async function removeEgress(context: AgentContext, record: Pick<VmRecord, 'vmId' | 'egress'>): Promise<boolean> {
  const recorded = record.egress ?? null;
  if (recorded === null) return true;
  const vmIds = new Set([record.vmId]);
  const families = recorded.isGuardOnly === true ? 'bridge' : 'ip_and_bridge';
  const keys = vmTableKeysOf(record.vmId, [recorded]);
  const script = removeVmsScript(recorded.table, vmIds, await context.firewall.readVmEntries(recorded.table, keys, families));
  if (script !== null) await context.firewall.apply(script);
  return !vmIdsInTable(await context.firewall.readVmEntries(recorded.table, keys, families)).includes(record.vmId);
}

/**
 * The sweep's part: removes from Hearth's table every chain and element of a VM that no record
 * names with an egress entry (what a crash left, or a VM deleted while its record was lost),
 * except those of VMs whose record is unreadable. Other tables are never read or written.
 */
export async function sweepEgress(
  context: AgentContext,
  records: readonly Pick<VmRecord, 'vmId' | 'egress'>[],
  heldVmIds: ReadonlySet<string>,
): Promise<{ readonly removed: HostResource[]; readonly leftovers: HostResource[] }> {
  const table = context.settings.egress?.table ?? context.settings.guard?.table ?? null;
  if (table === null) return { removed: [], leftovers: [] };
  const egress = (context.settings.egress ?? null) === null ? { table, isGuardOnly: true as const } : { table };
  const named = new Set<string>(records.flatMap((record) => ((record.egress ?? null) === null ? [] : [record.vmId])));
  const before = await context.firewall.readTable(egress.table);
  const doomed = new Set(vmIdsInTable(before).filter((vmId) => !named.has(vmId) && !heldVmIds.has(vmId)));
  if (doomed.size === 0) return { removed: [], leftovers: [] };
  const script = removeVmsScript(egress.table, doomed, before);
  try {
    if (script !== null) await context.firewall.apply(script);
  } catch (error) {
    context.log.warn({ table: egress.table, err: error }, 'untracked firewall rules could not be removed');
  }
  const left = new Set(vmIdsInTable(await context.firewall.readTable(egress.table)));
  const removed: HostResource[] = [];
  const leftovers: HostResource[] = [];
  for (const vmId of doomed) {
    (left.has(vmId) ? leftovers : removed).push({ kind: 'nft_rule', ref: nftRuleRef(egress, vmId), vmId });
  }
  return { removed, leftovers };
}

/**
 * Replaces a VM's egress policy: recorded, then its chain rewritten by one atomic nft script, so
 * traffic sees the old policy or the new one, never a mix. A VM that is not running keeps the
 * policy in its record for its next start. Answers whether a chain was written.
 */
export async function setEgressPolicy(context: AgentContext, vmId: VmId, policy: EgressPolicy): Promise<boolean> {
  assertEgressPolicy(policy);
  return context.locks.run(vmId, async () => {
    const ledger = await VmLedger.open(context, vmId);
    await ledger.commit({ egressPolicy: policy });
    if (ledger.record.lifecycle !== 'running') return false;
    return ensureEgress(context, ledger);
  });
}
