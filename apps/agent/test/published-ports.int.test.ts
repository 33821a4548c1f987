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
import { stopVm } from '../src/application/use-cases/stop-vm.js';
import { setEgressPolicy } from '../src/application/steps/vm-egress.js';
import { startListeningServer } from './support.js';

const skip = missingRequirements({ root: true, commands: ['ip', 'nft'] });

const internetAddress = '198.51.100.1';
const uplinkAddress = '198.51.100.2';
const guestAddress = '172.30.0.5';
const spec: VmSpec = {
  ...testSpec,
  guest: { ipAddress: guestAddress, prefixLength: 16, gateway: '172.30.0.1', dnsServers: [], hostname: 'web' },
  ports: [{ hostPort: 8080, guestPort: 80, protocol: 'tcp' }],
};

/** The guest's server: answers TCP 80 with the address the connection came from. */
const serverScript = `
require('node:net').createServer((socket) => socket.end('from ' + socket.remoteAddress))
  .listen(80, '${guestAddress}', () => console.log('listening'));
`;

/** A client: prints what the server at the address and port answered, or "no answer" after 800 ms. */
const clientScript = `
const [address, port] = process.argv.slice(1);
const give = (text) => { console.log(text); process.exit(0); };
setTimeout(() => give('no answer'), 800);
let answer = '';
const socket = require('node:net').connect(Number(port), address);
socket.on('data', (chunk) => (answer += chunk));
socket.on('end', () => give(answer));
socket.on('error', (error) => give('error ' + error.code));
`;

describe.skipIf(skip !== undefined)(
  `published ports, with namespaces for the host, a guest and the internet${skip === undefined ? '' : ` (skipped: ${skip})`}`,
  () => {
    const namespaces: Netns[] = [];
    let host: Netns;
    let internet: Netns;
    let server: ChildProcess | undefined;
    let context: AgentContext;

    const askFrom = async (netns: Netns, address = uplinkAddress, port = 8080): Promise<string> =>
      (await netns.exec(['node', '-e', clientScript, address, String(port)], { timeoutMs: 20_000 })).stdout.trim();

    beforeAll(async () => {
      host = await createNetns();
      const guest = await createNetns();
      internet = await createNetns();
      namespaces.push(host, guest, internet);
      const agent = createFakeAgent({
        bridge: 'hbr0',
        bridgeAddressCidr: '172.30.0.1/16',
        egress: { table: 'hearth', uplink: null, reservedTcpPorts: [19090] },
      });
      const runner = new ExecFileCommandRunner({ prefix: ['ip', 'netns', 'exec', host.name] });
      context = { ...agent.context, network: new LinuxHostNetwork(runner), firewall: new NftHostFirewall(runner) };

      await host.exec(['ip', 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', internet.name]);
      await host.exec(['ip', 'addr', 'add', `${uplinkAddress}/24`, 'dev', 'up0']);
      await host.exec(['ip', 'link', 'set', 'up0', 'up']);
      await host.exec(['ip', 'link', 'set', 'lo', 'up']);
      await host.exec(['ip', 'route', 'add', 'default', 'via', internetAddress]);
      await host.exec(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      await internet.exec(['ip', 'addr', 'add', `${internetAddress}/24`, 'dev', 'eth0']);
      await internet.exec(['ip', 'link', 'set', 'eth0', 'up']);
      await context.network.ensureBridge('hbr0', '172.30.0.1/16');
      // The guest's interface, on the bridge as the VM's TAP would be.
      await host.exec(['ip', 'link', 'add', 'gv0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', guest.name]);
      await host.exec(['ip', 'link', 'set', 'gv0', 'master', 'hbr0', 'up']);
      await guest.exec(['ip', 'addr', 'add', `${guestAddress}/16`, 'dev', 'eth0']);
      await guest.exec(['ip', 'link', 'set', 'eth0', 'up']);
      await guest.exec(['ip', 'route', 'add', 'default', 'via', '172.30.0.1']);

      const started = startListeningServer(guest, serverScript, "the guest's server");
      server = started.process;
      await started.listening;
    }, 60_000);

    afterAll(async () => {
      server?.kill('SIGKILL');
      for (const netns of namespaces) await netns.destroy();
    });

    it('before the VM is applied, the host port leads nowhere', async () => {
      expect(await askFrom(internet)).not.toMatch(/^from /);
    });

    it("the internet reaches the guest's server through the host's uplink address, and sees its own address", async () => {
      await applyVm(context, testVmId, spec);

      expect(await askFrom(internet)).toBe(`from ${internetAddress}`);
    });

    it('the host itself reaches it through its own address', async () => {
      expect(await askFrom(host)).toBe(`from ${uplinkAddress}`);
    });

    it('a guest whose egress is denied still answers on its published port', async () => {
      await setEgressPolicy(context, testVmId, { mode: 'deny_all' });

      expect(await askFrom(internet)).toBe(`from ${internetAddress}`);
    });

    it('stop unpublishes the port; a start publishes it again; delete removes it for good', async () => {
      await stopVm(context, testVmId);
      expect(await askFrom(internet)).not.toMatch(/^from /);

      await applyVm(context, testVmId, spec);
      expect(await askFrom(internet)).toBe(`from ${internetAddress}`);

      await deleteVm(context, testVmId);
      expect(await askFrom(internet)).not.toMatch(/^from /);
      expect((await context.firewall.readTable('hearth')).portElements).toEqual([]);
    });
  },
);
