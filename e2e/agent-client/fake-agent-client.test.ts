import { FakeAgentClient } from '../../apps/manager/src/adapters/fake/fake-agent-client.js';
import { describeAgentClientContract } from './agent-client.contract.js';

describeAgentClientContract('FakeAgentClient', async () => {
  const client = new FakeAgentClient();
  const target = { addr: 'http://agent-a.test:9090' };
  return {
    client,
    target,
    restartAgent: async () => {
      client.restartAgent(target.addr);
      return target;
    },
    startOtherAgent: async () => ({ addr: 'http://agent-b.test:9090' }),
    tearRecord: async (vmId) => client.tearRecord(target.addr, vmId),
    spec: {
      vcpuCount: 1,
      memoryMib: 128,
      kernelPath: '/srv/images/vmlinux',
      rootfsSourcePath: '/srv/images/rootfs.ext4',
      bootArgs: 'console=ttyS0 reboot=k panic=1 pci=off',
      guestMac: '06:00:ac:10:00:02',
      isMetricsEnabled: true,
    },
    cleanup: async () => undefined,
  };
});
