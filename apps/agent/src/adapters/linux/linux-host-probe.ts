import { constants } from 'node:fs';
import { access, open } from 'node:fs/promises';
import { readProcFile } from './proc-file.js';
import { availableParallelism, release } from 'node:os';
import { delimiter, join } from 'node:path';
import { agentCapabilities, type HostFacts } from '@hearth/contracts';
import type { BridgeState, HostNetwork } from '../../application/ports/host-network.js';
import type { HostProbe, HostResources } from '../../application/ports/host-probe.js';
import type { SpawnMode } from '../../domain/vm-record.js';
import { FirecrackerIdentifier } from './firecracker-identity.js';
import { parseCpuinfo, type CpuIdentity } from './host-platform.js';

/** MemTotal and MemAvailable (kB in /proc/meminfo) in MiB. */
export function parseMeminfo(text: string): { memoryMibTotal: number; memoryMibAvailable: number } {
  const kib = (key: string): number => {
    const match = new RegExp(`^${key}:\\s+(\\d+)\\s+kB`, 'm').exec(text);
    return match?.[1] === undefined ? 0 : Number(match[1]);
  };
  return { memoryMibTotal: Math.floor(kib('MemTotal') / 1024), memoryMibAvailable: Math.floor(kib('MemAvailable') / 1024) };
}

/** Finds an executable: a path containing `/` as is, otherwise along PATH. */
export async function resolveExecutable(command: string, pathVariable: string): Promise<string | null> {
  const candidates = command.includes('/')
    ? [command]
    : pathVariable
        .split(delimiter)
        .filter((dir) => dir !== '')
        .map((dir) => join(dir, command));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // try the next one
    }
  }
  return null;
}

export interface LinuxHostProbeOptions {
  readonly agentVersion: string;
  readonly firecrackerBin: string;
  readonly pathVariable: string;
  readonly bridge: string;
  readonly spawnMode: SpawnMode;
  /** Where the bridge lives (possibly another network namespace). */
  readonly network: HostNetwork;
  /** Overrides the CPU count offered for placement (AGENT_CPU_COUNT). */
  readonly cpuCount?: number | null;
  /** Whether the Agent writes NAT and per-VM rules (AGENT_EGRESS). */
  readonly egress?: 'off' | 'nat';
  /** Whether the guests' IPv4 packets are forwarded: the bridge's `forwarding`. */
  readonly isForwardingEnabled?: () => Promise<boolean>;
}

/**
 * CPU and memory from the kernel (one /proc/meminfo read per `resources()`); preflight facts from
 * /dev/kvm, PATH (and what the executable found is: real Firecracker or the double, and its
 * version), the bridge's link state and address (from the list of bridges), and IPv4 forwarding.
 * `facts()` always reads afresh, so heartbeats go through `HostFactsCache` rather than calling it
 * each time.
 */
export class LinuxHostProbe implements HostProbe {
  private readonly identifier = new FirecrackerIdentifier();

  constructor(private readonly options: LinuxHostProbeOptions) {}

  async resources(): Promise<HostResources> {
    return { cpuCount: this.options.cpuCount ?? availableParallelism(), ...parseMeminfo(readProcFile('/proc/meminfo')) };
  }

  async facts(): Promise<HostFacts> {
    const [isKvmUsable, firecracker, bridge, isIpForwarding] = await Promise.all([
      this.isKvmUsable(),
      resolveExecutable(this.options.firecrackerBin, this.options.pathVariable),
      this.bridgeState(),
      this.options.isForwardingEnabled === undefined
        ? Promise.resolve(null)
        : this.options.isForwardingEnabled().catch(() => null),
    ]);
    const identity =
      firecracker === null
        ? { kind: 'missing' as const, version: null, snapshotFormatVersion: null }
        : await this.identifier.identify(firecracker);
    return {
      agentVersion: this.options.agentVersion,
      isKvmUsable,
      hasFirecracker: firecracker !== null,
      firecrackerBinary: firecracker ?? this.options.firecrackerBin,
      firecrackerKind: identity.kind,
      firecrackerVersion: identity.version,
      isBridgeUp: bridge?.isUp ?? false,
      bridge: this.options.bridge,
      spawnMode: this.options.spawnMode,
      egress: this.options.egress ?? 'off',
      snapshotFormatVersion: identity.snapshotFormatVersion ?? null,
      kernelRelease: release(),
      ...this.cpuIdentity(),
      isIpForwarding,
      bridgeAddress: bridge?.addresses[0] ?? null,
      capabilities: Object.values(agentCapabilities),
    };
  }

  /** The CPU does not change while the Agent runs: /proc/cpuinfo is read once. */
  private cpu: CpuIdentity | undefined;

  private cpuIdentity(): CpuIdentity {
    if (this.cpu !== undefined) return this.cpu;
    try {
      this.cpu = parseCpuinfo(readProcFile('/proc/cpuinfo'));
    } catch {
      this.cpu = { cpuModel: null, cpuFlagsSha256: null };
    }
    return this.cpu;
  }

  private async isKvmUsable(): Promise<boolean> {
    try {
      const handle = await open('/dev/kvm', 'r+');
      await handle.close();
      return true;
    } catch {
      return false;
    }
  }

  private async bridgeState(): Promise<BridgeState | null> {
    try {
      return await this.options.network.bridgeState(this.options.bridge);
    } catch {
      return null;
    }
  }
}
