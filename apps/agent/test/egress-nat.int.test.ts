import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VmSpec } from '@hearth/contracts';
import { createNetns, missingRequirements, type Netns } from '@hearth/testkit';
import { createFakeAgent } from '../src/adapters/fake/fake-agent-context.js';
import { testSpec, testVmId } from '../src/adapters/fake/fake-fixtures.js';
import { ExecFileCommandRunner } from '../src/adapters/linux/exec-file-command-runner.js';
import { LinuxHostNetwork } from '../src/adapters/linux/linux-host-network.js';
import { NftHostFirewall } from '../src/adapters/linux/nft-host-firewall.js';
import type { AgentContext } from '../src/application/agent-context.js';
import { applyVm } from '../src/application/use-cases/apply-vm.js';
import { deleteVm } from '../src/application/use-cases/delete-vm.js';
import { describeVm } from '../src/application/use-cases/describe-vm.js';
import { setEgressPolicy } from '../src/application/steps/vm-egress.js';
import { startListeningServer } from './support.js';

const skip = missingRequirements({ root: true, commands: ['ip', 'nft'] });

const serverAddress = '198.51.100.1';
const uplinkAddress = '198.51.100.2';
const guestAddress = '172.30.0.5';
const guestSpec: VmSpec = {
  ...testSpec,
  guest: { ipAddress: guestAddress, prefixLength: 16, gateway: '172.30.0.1', dnsServers: [serverAddress], hostname: 'web' },
};

/** "The internet": answers TCP 8080 and UDP 53 with the address the request came from. */
const serverScript = `
const net = require('node:net'), dgram = require('node:dgram');
const tcp = net.createServer((socket) => socket.end(socket.remoteAddress));
const udp = dgram.createSocket('udp4');
udp.on('message', (_message, remote) => udp.send(remote.address, remote.port, remote.address));
tcp.listen(8080, '${serverAddress}', () => udp.bind(53, '${serverAddress}', () => console.log('listening')));
`;

/** The guest's request: prints what the server answered, or "no answer" after 800 ms. */
const clientScript = `
const [protocol] = process.argv.slice(1);
const give = (text) => { console.log(text); process.exit(0); };
setTimeout(() => give('no answer'), 800);
if (protocol === 'tcp') {
  let answer = '';
  const socket = require('node:net').connect(8080, '${serverAddress}');
  socket.on('data', (chunk) => (answer += chunk));
  socket.on('end', () => give(answer));
  socket.on('error', (error) => give('error ' + error.code));
} else {
  const socket = require('node:dgram').createSocket('udp4');
  socket.on('message', (message) => give(String(message)));
  socket.send('q', 53, '${serverAddress}');
}
`;

describe.skipIf(skip !== undefined)(
  `egress through NAT, with namespaces for the host, a guest and the internet${skip === undefined ? '' : ` (skipped: ${skip})`}`,
  () => {
    const namespaces: Netns[] = [];
    let host: Netns;
    let guest: Netns;
    let server: ChildProcess | undefined;
    let context: AgentContext;

    const ask = async (protocol: 'tcp' | 'udp'): Promise<string> =>
      (await guest.exec(['node', '-e', clientScript, protocol], { timeoutMs: 20_000 })).stdout.trim();

    beforeAll(async () => {
      host = await createNetns();
      guest = await createNetns();
      const internet = await createNetns();
      namespaces.push(host, guest, internet);
      const agent = createFakeAgent({
        bridge: 'hbr0',
        bridgeAddressCidr: '172.30.0.1/16',
        egress: { table: 'hearth', uplink: null },
      });
      const runner = new ExecFileCommandRunner({ prefix: ['ip', 'netns', 'exec', host.name] });
      context = { ...agent.context, network: new LinuxHostNetwork(runner), firewall: new NftHostFirewall(runner) };

      await host.exec(['ip', 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', internet.name]);
      await host.exec(['ip', 'addr', 'add', `${uplinkAddress}/24`, 'dev', 'up0']);
      await host.exec(['ip', 'link', 'set', 'up0', 'up']);
      await host.exec(['ip', 'route', 'add', 'default', 'via', serverAddress]);
      await host.exec(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      await internet.exec(['ip', 'addr', 'add', `${serverAddress}/24`, 'dev', 'eth0']);
      await internet.exec(['ip', 'link', 'set', 'eth0', 'up']);
      await context.network.ensureBridge('hbr0', '172.30.0.1/16');
      // The guest's interface, on the bridge as the VM's TAP would be.
      await host.exec(['ip', 'link', 'add', 'gv0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', guest.name]);
      await host.exec(['ip', 'link', 'set', 'gv0', 'master', 'hbr0', 'up']);
      await guest.exec(['ip', 'addr', 'add', `${guestAddress}/16`, 'dev', 'eth0']);
      await guest.exec(['ip', 'link', 'set', 'eth0', 'up']);
      await guest.exec(['ip', 'route', 'add', 'default', 'via', '172.30.0.1']);
      // Another tool's rules, in its own table.
      await host.exec(['nft', 'add table inet other\nadd chain inet other input\nadd rule inet other input tcp dport 22 accept']);

      const started = startListeningServer(internet, serverScript, "the internet's server");
      server = started.process;
      await started.listening;
    }, 60_000);

    afterAll(async () => {
      server?.kill('SIGKILL');
      for (const netns of namespaces) await netns.destroy();
    });

    it('without the VM’s NAT, the server cannot answer the guest', async () => {
      expect(await ask('tcp')).toBe('no answer');
    });

    it('a VM with egress allowed reaches the server, which sees the uplink address', async () => {
      await applyVm(context, testVmId, guestSpec);

      expect(await ask('tcp')).toBe(uplinkAddress);
      expect(await ask('udp')).toBe(uplinkAddress);
      expect((await describeVm(context, testVmId)).resources).toContainEqual({
        kind: 'nft_rule',
        ref: `ip hearth ${testVmId}`,
        vmId: testVmId,
      });
    });

    // How fast a change lands is a figure of the bench (`egress_change_p50_ms`), not a test's bound.
    it('egress denied on the running VM has taken effect when the call returns, DNS to outside included', async () => {
      await setEgressPolicy(context, testVmId, { mode: 'deny_all' });

      expect(await ask('tcp')).toBe('no answer');
      expect(await ask('udp')).toBe('no answer');
    });

    it('an allow list lets through only what it names', async () => {
      await setEgressPolicy(context, testVmId, {
        mode: 'allow_list',
        rules: [{ cidr: `${serverAddress}/32`, protocol: 'tcp', ports: [8080] }],
      });

      expect(await ask('tcp')).toBe(uplinkAddress);
      expect(await ask('udp')).toBe('no answer');
    });

    it("delete removes the VM's chain and elements, and leaves another tool's table as it was", async () => {
      await deleteVm(context, testVmId);

      expect(await context.firewall.readTable('hearth')).toEqual({
        vmChains: [],
        egressElements: [],
        guestElements: [],
        portElements: [],
        guardChains: [],
        guardElements: [],
        tapElements: [],
      });
      expect(await ask('tcp')).toBe('no answer');
      expect((await host.exec(['nft', 'list', 'table', 'inet', 'other'])).stdout).toMatch(/tcp dport 22 accept/);
    });
  },
);
