import { describe, expect, it } from 'vitest';
import { FakeHostNetwork } from '../fake/fake-host-network.js';
import { LinuxHostProbe } from './linux-host-probe.js';

function probe(network: FakeHostNetwork, isForwardingEnabled?: () => Promise<boolean>): LinuxHostProbe {
  return new LinuxHostProbe({
    agentVersion: '0.0.0',
    firecrackerBin: '/nonexistent/firecracker',
    pathVariable: '',
    bridge: 'fcbr0',
    spawnMode: 'direct',
    network,
    egress: 'nat',
    ...(isForwardingEnabled === undefined ? {} : { isForwardingEnabled }),
  });
}

describe('LinuxHostProbe facts', () => {
  it("report the bridge's address and whether the host forwards IPv4", async () => {
    const network = new FakeHostNetwork();
    await network.ensureBridge('fcbr0', '172.30.0.1/16');

    const forwarding = await probe(network, async () => true).facts();
    const notForwarding = await probe(network, async () => false).facts();

    expect(forwarding).toMatchObject({ isBridgeUp: true, bridgeAddress: '172.30.0.1/16', isIpForwarding: true });
    expect(notForwarding.isIpForwarding).toBe(false);
  });

  it('say null for a bridge without an address and forwarding that cannot be read', async () => {
    const network = new FakeHostNetwork();
    await network.ensureBridge('fcbr0', null);

    const facts = await probe(network, () => Promise.reject(new Error('sysctl: not found'))).facts();

    expect(facts).toMatchObject({ bridgeAddress: null, isIpForwarding: null });
  });
});
