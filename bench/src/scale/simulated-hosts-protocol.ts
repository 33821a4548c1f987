/** Messages between the scale harness and a simulated-hosts process (over Node's IPC channel). */

export interface SimulatedHost {
  readonly name: string;
  readonly agentId: string;
  /** The id the Manager gave the host at registration. */
  readonly hostId: string;
  /** Where the host's Agent app listens (HTTPS, mutual TLS). */
  readonly addr: string;
}

/** One VM an Agent already runs before the Managers look (seeded, see scale-seed.ts). */
export interface SeededVm {
  readonly hostName: string;
  readonly vmId: string;
  /** The spec as the Manager would send it (a VmSpec of @hearth/contracts). */
  readonly spec: unknown;
}

export type ParentMessage =
  | {
      readonly kind: 'start';
      readonly hosts: readonly { readonly name: string; readonly joinToken: string }[];
      readonly managerBases: readonly string[];
      /** Image files each simulated host holds (the Manager's registered kernel and rootfs). */
      readonly images: readonly string[];
      readonly imageRoot: string;
    }
  | { readonly kind: 'seed'; readonly vms: readonly SeededVm[] }
  | { readonly kind: 'stats' }
  /** Hold every heartbeat at its start (none is lost: each is sent once released); answered once none is in flight. */
  | { readonly kind: 'hold-heartbeats' }
  | { readonly kind: 'release-heartbeats' }
  | { readonly kind: 'stop' };

export type ChildMessage =
  | { readonly kind: 'ready'; readonly hosts: readonly SimulatedHost[] }
  | { readonly kind: 'seeded'; readonly count: number }
  | { readonly kind: 'stats'; readonly heartbeatLatenciesMs: readonly number[]; readonly heartbeatFailures: number }
  | { readonly kind: 'heartbeats-held' }
  | { readonly kind: 'heartbeats-released' }
  | { readonly kind: 'stopped' }
  | { readonly kind: 'error'; readonly message: string };
