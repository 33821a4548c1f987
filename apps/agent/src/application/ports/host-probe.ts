import type { HostFacts } from '@hearth/contracts';

export interface HostResources {
  readonly cpuCount: number;
  readonly memoryMibTotal: number;
  readonly memoryMibAvailable: number;
}

/** What the host can offer right now, read from the OS. */
export interface HostProbe {
  resources(): Promise<HostResources>;
  facts(): Promise<HostFacts>;
}
