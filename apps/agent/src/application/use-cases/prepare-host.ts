import type { AgentContext } from '../agent-context.js';
import type { AgentLog } from '../ports/agent-log.js';
import type { HostScanner } from '../ports/host-scanner.js';
import { sweepUntracked } from './sweep-untracked.js';
import { assertForwarding } from '../steps/vm-egress.js';

/**
 * At start, before serving: sets the bridge up (so the host reports `isBridgeUp` before its first
 * VM, and the Manager can place VMs on it) and removes what a crash left outside any record. Never
 * fails the start: problems are logged, and the facts the Agent reports show them.
 */
export async function prepareHost(context: AgentContext, scanner: HostScanner, log: AgentLog): Promise<void> {
  try {
    await context.network.ensureBridge(context.settings.bridge, context.settings.bridgeAddressCidr);
  } catch (error) {
    log.warn({ bridge: context.settings.bridge, err: error }, 'bridge could not be set up');
  }
  if ((context.settings.egress ?? null) !== null) {
    try {
      await assertForwarding(context);
    } catch (error) {
      log.error({ err: error }, 'egress through NAT cannot work on this host');
    }
  }
  try {
    const swept = await sweepUntracked(context, scanner);
    if (swept.removed.length + swept.leftovers.length > 0) {
      log.warn({ removed: swept.removed.length, leftovers: swept.leftovers.length }, 'untracked host resources swept');
    }
  } catch (error) {
    log.error({ err: error }, 'untracked host resources could not be swept');
  }
}
