import type { AgentLog } from './ports/agent-log.js';
import type { Clock } from './ports/clock.js';
import type { FirecrackerApi } from './ports/firecracker-api.js';
import type { HostFirewall } from './ports/host-firewall.js';
import type { HostFiles } from './ports/host-files.js';
import type { HostNetwork } from './ports/host-network.js';
import type { SnapshotCopyStore } from './ports/snapshot-copy-store.js';
import type { VmRecordStore } from './ports/vm-record-store.js';
import type { Vmm } from './ports/vmm.js';
import type { VmmPool } from './ports/vmm-pool.js';
import type { KeyedLock } from '@hearth/concurrency';
import type { VmmStateCache } from './vmm-state-cache.js';
import type { SnapshotsAsked } from './snapshots-asked.js';

/** Egress through NAT: guests masqueraded to the uplink, each VM's policy a chain in `table`. */
export interface EgressSettings {
  /** Hearth's nftables table (family `ip`); Agents sharing a network namespace need distinct ones. */
  readonly table: string;
  /** The uplink interface; null to take the device of the default route. */
  readonly uplink: string | null;
  /** TCP ports of the host's own services (the Agent's listeners): never published to a guest. */
  readonly reservedTcpPorts?: readonly number[];
}

/** The guard of each guest's TAP: its VM's chain in the bridge-family table `table`. */
export interface GuardSettings {
  readonly table: string;
}

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
  /** Null or absent: the Agent writes no NAT or egress rule. */
  readonly egress?: EgressSettings | null;
  /**
   * Null or absent: no guard unless egress is on (egress through NAT always guards, in its table).
   * Set: every guest with an address gets the guard of its TAP, whatever the egress mode.
   */
  readonly guard?: GuardSettings | null;
}

/** Everything the VM use cases need, passed explicitly (built once in main.ts). */
export interface AgentContext {
  readonly network: HostNetwork;
  readonly firewall: HostFirewall;
  readonly vmm: Vmm;
  /** Warm VMMs a restore into a new VM takes (absent: every VMM is started when a VM needs it). */
  readonly vmmPool?: VmmPool;
  readonly firecracker: FirecrackerApi;
  readonly records: VmRecordStore;
  /** Copies of snapshots taken on other hosts. */
  readonly copies: SnapshotCopyStore;
  readonly files: HostFiles;
  readonly clock: Clock;
  readonly log: AgentLog;
  /** Per-VM serialisation of every change; it tells `vmmStates` when a VM changes. */
  readonly locks: KeyedLock;
  readonly vmmStates: VmmStateCache;
  /** Snapshots asked for and not answered yet: reported `creating` while they wait for the VM's lock. */
  readonly snapshotsAsked: SnapshotsAsked;
  readonly settings: AgentSettings;
}
