import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VmSpec } from '@hearth/contracts';
import { createNetns, missingRequirements, type Netns } from '@hearth/testkit';
import { createFakeAgent } from '../src/adapters/fake/fake-agent-context.js';
import { otherVmId, testSpec, testVmId } from '../src/adapters/fake/fake-fixtures.js';
import { ExecFileCommandRunner } from '../src/adapters/linux/exec-file-command-runner.js';
import { LinuxHostNetwork } from '../src/adapters/linux/linux-host-network.js';
import { NftHostFirewall } from '../src/adapters/linux/nft-host-firewall.js';
import type { AgentContext } from '../src/application/agent-context.js';
import { applyVm } from '../src/application/use-cases/apply-vm.js';
import { deleteVm } from '../src/application/use-cases/delete-vm.js';

const skip = missingRequirements({ root: true, commands: ['ip', 'nft', 'ping', 'bridge'] });

const gateway = '172.30.0.1';
const guests = [
  { vmId: testVmId, mac: '02:fc:00:00:00:0a', address: '172.30.0.10' },
  { vmId: otherVmId, mac: '02:fc:00:00:00:0b', address: '172.30.0.11' },
] as const;

function specOf(guest: (typeof guests)[number]): VmSpec {
  return {
    ...testSpec,
    guestMac: guest.mac,
    guest: { ipAddress: guest.address, prefixLength: 16, gateway, dnsServers: [], hostname: 'g' },
  };
}

/**
 * The Agent without egress through NAT still guards each guest's TAP (the apply's own step, real
 * nftables in a namespace standing in for the host, the VMM and the TAPs faked): each guest is a
 * namespace behind a veth named as the VM's recorded TAP, on a real bridge.
 */
describe.skipIf(skip !== undefined)(
  `the guard of each TAP without egress through NAT, with a namespace per guest${skip === undefined ? '' : ` (skipped: ${skip})`}`,
  () => {
    const namespaces: Netns[] = [];
    let host: Netns;
    const guestNs: Netns[] = [];
    const taps: string[] = [];
    let context: AgentContext;

    const reaches = (from: number, address: string): Promise<boolean> =>
      guestNs[from]!.exec(['ping', '-c', '1', '-W', '1', address], { timeoutMs: 10_000 }).then(
        () => true,
        () => false,
      );
    /** The port the bridge learned `mac` behind, or undefined. */
    const learnedPort = async (mac: string): Promise<string | undefined> => {
      const { stdout } = await host.exec(['bridge', '-j', 'fdb', 'show', 'br', 'hbr0']);
      const entries = JSON.parse(stdout) as { mac: string; ifname: string; flags?: string[] }[];
      return entries.find((entry) => entry.mac === mac && !(entry.flags ?? []).includes('self'))?.ifname;
    };
    const setMac = (index: number, mac: string) => guestNs[index]!.exec(['ip', 'link', 'set', 'eth0', 'address', mac]);

    beforeAll(async () => {
      host = await createNetns();
      namespaces.push(host);
      const runner = new ExecFileCommandRunner({ prefix: ['ip', 'netns', 'exec', host.name] });
      const agent = createFakeAgent({ bridge: 'hbr0', guard: { table: 'hearth' } });
      context = { ...agent.context, firewall: new NftHostFirewall(runner) };
      await new LinuxHostNetwork(runner).ensureBridge('hbr0', `${gateway}/16`);
      for (const guest of guests) {
        // The VM as the Agent applies it (its TAP recorded by the fake network), then a guest on
        // the host's bridge behind a veth of that TAP's name.
        await applyVm(context, guest.vmId, specOf(guest));
        const tap = (await context.records.get(guest.vmId))?.tap?.name ?? '';
        taps.push(tap);
        const netns = await createNetns();
        namespaces.push(netns);
        guestNs.push(netns);
        await host.exec(['ip', 'link', 'add', tap, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns.name]);
        await host.exec(['ip', 'link', 'set', tap, 'master', 'hbr0', 'up']);
        await netns.exec(['ip', 'link', 'set', 'eth0', 'address', guest.mac]);
        await netns.exec(['ip', 'addr', 'add', `${guest.address}/16`, 'dev', 'eth0']);
        await netns.exec(['ip', 'link', 'set', 'eth0', 'up']);
      }
    }, 60_000);

    afterAll(async () => {
      for (const netns of namespaces) await netns.destroy();
    });

    it('writes the bridge table only, and the guests reach the host but not each other', async () => {
      const { stdout } = await host.exec(['nft', 'list', 'tables']);
      expect(stdout.trim().split('\n')).toEqual(['table bridge hearth']);

      expect(await reaches(0, gateway)).toBe(true);
      expect(await reaches(1, gateway)).toBe(true);
      expect(await reaches(0, guests[1].address)).toBe(false);
      expect(await reaches(1, guests[0].address)).toBe(false);
    });

    it("a guest sending with another guest's MAC (a clone before it takes its own) is cut off, and the bridge does not learn it there", async () => {
      expect(await learnedPort(guests[0].mac)).toBe(taps[0]);

      await setMac(1, guests[0].mac);
      try {
        expect(await reaches(1, gateway)).toBe(false);
        expect(await learnedPort(guests[0].mac)).toBe(taps[0]);
        expect(await reaches(0, gateway)).toBe(true);
      } finally {
        await setMac(1, guests[1].mac);
      }
      expect(await reaches(1, gateway)).toBe(true);
    });

    it('delete leaves nothing of the VMs in the bridge table', async () => {
      for (const guest of guests) await deleteVm(context, guest.vmId);

      const state = await context.firewall.readTable('hearth');
      expect([state.guardChains, state.guardElements, state.tapElements]).toEqual([[], [], []]);
      // Without their guards the guests reach each other again: the guard was what kept them apart.
      expect(await reaches(0, guests[1].address)).toBe(true);
    });
  },
);
