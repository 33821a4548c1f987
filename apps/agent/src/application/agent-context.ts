import type { AgentLog } from './ports/agent-log.js';
import type { Clock } from './ports/clock.js';
import type { FirecrackerApi } from './ports/firecracker-api.js';
import type { HostFiles } from './ports/host-files.js';
import type { HostNetwork } from './ports/host-network.js';
import type { VmRecordStore } from './ports/vm-record-store.js';
import type { Vmm } from './ports/vmm.js';
import type { KeyedLock } from './keyed-lock.js';
import type { VmmStateCache } from './vmm-state-cache.js';

export interface AgentSettings {
  /** This Agent's persistent identity: it marks the TAPs it creates with it. */
  readonly agentId: string;
  readonly runDir: string;
  readonly bridge: string;
  readonly bridgeAddressCidr: string | null;
  readonly imageRoot: string;
  /** How long a spawned Firecracker may take to answer `GET /`. */
  readonly readyTimeoutMs: number;
  /** How long a killed Firecracker may take to disappear. */
  readonly stopTimeoutMs: number;
}

/** Everything the VM use cases need, passed explicitly (built once in main.ts). */
export interface AgentContext {
  readonly network: HostNetwork;
  readonly vmm: Vmm;
  readonly firecracker: FirecrackerApi;
  readonly records: VmRecordStore;
  readonly files: HostFiles;
  readonly clock: Clock;
  readonly log: AgentLog;
  /** Per-VM serialisation of every change; it tells `vmmStates` when a VM changes. */
  readonly locks: KeyedLock;
  readonly vmmStates: VmmStateCache;
  readonly settings: AgentSettings;
}
