import { describe, expect, it } from 'vitest';
import type { Host } from './host.js';
import { hostIdFromUlid, type HostId } from './ids.js';
import { placeVm, type HostAllocation, type PlacementPolicy } from './placement.js';

const now = new Date('2025-01-01T00:00:00Z');
const policy: PlacementPolicy = { cpuOvercommit: 4, memoryOvercommit: 1, heartbeatIntervalMs: 5000 };

interface HostOptions {
  cpuCount?: number;
  memoryMibTotal?: number;
  heartbeatAgeMs?: number;
  vmCount?: number;
  status?: Host['status'];
  isCordoned?: boolean;
  facts?: Partial<Host['facts']>;
}

function host(n: number, options: HostOptions = {}): Host {
  return {
    id: hostIdFromUlid(`01J${String(n).padStart(23, '0')}`),
    name: `host-${n}`,
    agentId: null,
    credentialId: null,
    reportedInventory: null,
    addr: `https://10.0.0.${n}:9090`,
    capacity: {
      cpuCount: options.cpuCount ?? 2,
      memoryMibTotal: options.memoryMibTotal ?? 4096,
      memoryMibAvailable: 0,
      vmCount: options.vmCount ?? 0,
    },
    facts: {
      agentVersion: '0.1.0',
      isKvmUsable: true,
      hasFirecracker: true,
      firecrackerBinary: 'firecracker',
      isBridgeUp: true,
      bridge: 'hearth0',
      spawnMode: 'direct',
      ...options.facts,
    },
    registeredAt: now,
    lastHeartbeatAt: new Date(now.getTime() - (options.heartbeatAgeMs ?? 0)),
    status: options.status ?? 'healthy',
    statusChangedAt: null,
    isCordoned: options.isCordoned ?? false,
  };
}

const none = new Map<HostId, HostAllocation>();

describe('placeVm', () => {
  it('places a VM on the only healthy host that fits', () => {
    const result = placeVm({ vcpuCount: 1, memoryMib: 512 }, [host(1)], none, policy, now);
    expect(result).toEqual({ isPlaced: true, hostId: host(1).id });
  });

  it('prefers the host with the most free memory', () => {
    const hosts = [host(1, { memoryMibTotal: 2048 }), host(2, { memoryMibTotal: 8192 })];
    const result = placeVm({ vcpuCount: 1, memoryMib: 512 }, hosts, none, policy, now);
    expect(result).toEqual({ isPlaced: true, hostId: host(2).id });
  });

  it('overcommits vCPUs by the configured ratio', () => {
    const allocations = new Map([[host(1).id, { vcpuCount: 7, memoryMib: 0 }]]);
    expect(placeVm({ vcpuCount: 1, memoryMib: 128 }, [host(1)], allocations, policy, now).isPlaced).toBe(true);
    expect(placeVm({ vcpuCount: 2, memoryMib: 128 }, [host(1)], allocations, policy, now)).toEqual({
      isPlaced: false,
      rejections: [{ hostId: host(1).id, reason: 'insufficient_cpu' }],
    });
  });

  it('rejects a host whose memory is taken', () => {
    const allocations = new Map([[host(1).id, { vcpuCount: 0, memoryMib: 4000 }]]);
    expect(placeVm({ vcpuCount: 1, memoryMib: 128 }, [host(1)], allocations, policy, now)).toEqual({
      isPlaced: false,
      rejections: [{ hostId: host(1).id, reason: 'insufficient_memory' }],
    });
  });

  it('skips a host whose last heartbeat is older than three intervals', () => {
    const hosts = [host(1, { heartbeatAgeMs: 15_001 }), host(2, { heartbeatAgeMs: 15_000, memoryMibTotal: 1024 })];
    expect(placeVm({ vcpuCount: 1, memoryMib: 512 }, hosts, none, policy, now)).toEqual({ isPlaced: true, hostId: host(2).id });
  });

  it('says for every host why none fits', () => {
    const hosts = [host(1, { heartbeatAgeMs: 60_000 }), host(2, { cpuCount: 1 }), host(3, { memoryMibTotal: 256 })];
    const result = placeVm({ vcpuCount: 8, memoryMib: 512 }, hosts, none, policy, now);
    expect(result).toEqual({
      isPlaced: false,
      rejections: [
        { hostId: host(1).id, reason: 'heartbeat_stale' },
        { hostId: host(2).id, reason: 'insufficient_cpu' },
        { hostId: host(3).id, reason: 'insufficient_memory' },
      ],
    });
  });

  it('finds nothing when there are no hosts', () => {
    expect(placeVm({ vcpuCount: 1, memoryMib: 128 }, [], none, policy, now)).toEqual({ isPlaced: false, rejections: [] });
  });

  it('applies the memory overcommit ratio', () => {
    const result = placeVm({ vcpuCount: 1, memoryMib: 6000 }, [host(1)], none, { ...policy, memoryOvercommit: 1.5 }, now);
    expect(result.isPlaced).toBe(true);
  });

  it.each([
    ['unhealthy', { status: 'unhealthy' }],
    ['cordoned', { isCordoned: true }],
    ['kvm_unusable', { facts: { isKvmUsable: false } }],
    ['firecracker_missing', { facts: { hasFirecracker: false } }],
    ['bridge_down', { facts: { isBridgeUp: false } }],
    ['interface_limit', { vmCount: 1023 }],
  ] as const)('refuses a host with reason %s', (reason, options) => {
    expect(placeVm({ vcpuCount: 1, memoryMib: 128 }, [host(1, options)], none, policy, now)).toEqual({
      isPlaced: false,
      rejections: [{ hostId: host(1).id, reason }],
    });
  });

  it('places on a host without KVM when the policy does not require it', () => {
    const result = placeVm(
      { vcpuCount: 1, memoryMib: 128 },
      [host(1, { facts: { isKvmUsable: false } })],
      none,
      { ...policy, isKvmRequired: false },
      now,
    );
    expect(result.isPlaced).toBe(true);
  });

  it('spreads VMs over equal hosts by preferring the one with fewer VMs', () => {
    const allocations = new Map([
      [host(1).id, { vcpuCount: 0, memoryMib: 0, vmCount: 2 }],
      [host(2).id, { vcpuCount: 0, memoryMib: 0, vmCount: 1 }],
    ]);
    expect(placeVm({ vcpuCount: 1, memoryMib: 128 }, [host(1), host(2)], allocations, policy, now)).toEqual({
      isPlaced: true,
      hostId: host(2).id,
    });
  });
});
