import { agentCapabilities, type HostFacts } from '@hearth/contracts';
import type { HostProbe, HostResources } from '../../application/ports/host-probe.js';

export class FakeHostProbe implements HostProbe {
  hostResources: HostResources = { cpuCount: 4, memoryMibTotal: 8192, memoryMibAvailable: 6144 };
  hostFacts: HostFacts = {
    agentVersion: '0.1.0',
    isKvmUsable: true,
    hasFirecracker: true,
    firecrackerBinary: '/usr/local/bin/firecracker',
    firecrackerKind: 'firecracker',
    firecrackerVersion: '1.16.1',
    snapshotFormatVersion: '10.0.0',
    kernelRelease: '6.1.0-test',
    cpuModel: 'Fake CPU',
    cpuFlagsSha256: '0'.repeat(64),
    isBridgeUp: true,
    bridge: 'fcbr0',
    spawnMode: 'direct',
    capabilities: Object.values(agentCapabilities),
  };

  async resources(): Promise<HostResources> {
    return this.hostResources;
  }

  async facts(): Promise<HostFacts> {
    return this.hostFacts;
  }
}
