import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HostFirewall } from '../src/application/ports/host-firewall.js';
import type { PublishedPort } from '@hearth/contracts';
import {
  emptyEgressTableState,
  newVmEgressScript,
  newVmGuardScript,
  removeVmsScript,
  vmEgressScript,
  vmGuardScript,
  type EgressPolicy,
  type GuestGuard,
  type VmTableKeys,
} from '../src/domain/egress-rules.js';

export interface HostFirewallHarness {
  readonly firewall: HostFirewall;
  /** Writes a table and a rule the port did not write (another tool's). */
  addForeignTable(): Promise<void>;
  /** Whether that table and its rule are still there, unchanged. */
  hasForeignTable(): Promise<boolean>;
  cleanup(): Promise<void>;
}

const table = { name: 'hearth', uplink: 'eth0' };
const vmId = 'vm_01JABCDEFGHJKMNPQRSTVWXYZ0';
const otherVmId = 'vm_01JABCDEFGHJKMNPQRSTVWXYZ1';
const allowAll: EgressPolicy = { mode: 'allow_all' };

/** One behaviour suite for every HostFirewall, so the fake cannot drift from the nft adapter. */
export function describeHostFirewallContract(
  name: string,
  createHarness: () => Promise<HostFirewallHarness>,
  options: { skip?: string } = {},
): void {
  describe.skipIf(options.skip !== undefined)(
    `HostFirewall contract: ${name}${options.skip === undefined ? '' : ` (skipped: ${options.skip})`}`,
    () => {
      let harness: HostFirewallHarness;
      const applyVm = async (
        id: string,
        address: string,
        policy: EgressPolicy = allowAll,
        ports: readonly PublishedPort[] = [],
      ): Promise<void> => {
        const state = await harness.firewall.readTable(table.name);
        await harness.firewall.apply(vmEgressScript(table, { vmId: id, address, policy, ports }, state));
      };

      beforeEach(async () => {
        harness = await createHarness();
      });

      afterEach(async () => {
        await harness?.cleanup();
      });

      it('readTable answers an empty state when the table does not exist', async () => {
        expect(await harness.firewall.readTable(table.name)).toEqual({
          vmChains: [],
          egressElements: [],
          guestElements: [],
          portElements: [],
          guardChains: [],
          guardElements: [],
          tapElements: [],
        });
      });

      it('a policy change that keeps the bridge table reads and writes the ip table only, and leaves the guard', async () => {
        const guard = { tap: 'fctest0', mac: '06:00:ac:10:00:05', sharedSet: null };
        const vm = { vmId, address: '172.30.0.5', policy: allowAll, guard };
        await harness.firewall.apply(vmEgressScript(table, vm, await harness.firewall.readTable(table.name)));
        const ipOnly = await harness.firewall.readTable(table.name, 'ip');

        await harness.firewall.apply(vmEgressScript(table, { ...vm, policy: { mode: 'deny_all' } }, ipOnly, 'keep'));

        expect([ipOnly.guardChains, ipOnly.guardElements, ipOnly.vmChains]).toEqual([[], [], [vmId]]);
        const state = await harness.firewall.readTable(table.name);
        expect(state.guardChains).toEqual([vmId]);
        expect(state.guardElements).toEqual([{ tap: 'fctest0', chain: vmId }]);
      });

      it('a guard alone writes the bridge table only, which a bridge read answers alone, and removal leaves nothing', async () => {
        const guard = { tap: 'fctest0', mac: '06:00:ac:10:00:05', sharedSet: null };
        await harness.firewall.apply(
          vmGuardScript(table.name, { vmId, address: '172.30.0.5', guard }, await harness.firewall.readTable(table.name)),
        );

        const bridgeOnly = await harness.firewall.readTable(table.name, 'bridge');
        expect(bridgeOnly).toEqual(await harness.firewall.readTable(table.name));
        expect(bridgeOnly).toMatchObject({ vmChains: [], egressElements: [], guestElements: [], guardChains: [vmId] });
        expect(bridgeOnly.guardElements).toEqual([{ tap: 'fctest0', chain: vmId }]);
        expect(bridgeOnly.tapElements).toEqual([{ set: 'taps', tap: 'fctest0', vmId }]);

        await harness.firewall.apply(removeVmsScript(table.name, new Set([vmId]), bridgeOnly) ?? '');
        expect(await harness.firewall.readTable(table.name, 'bridge')).toMatchObject({
          guardChains: [],
          guardElements: [],
          tapElements: [],
        });
      });

      it("a VM's script leaves its chain and its elements, tagged with its id", async () => {
        await applyVm(vmId, '172.30.0.5');

        expect(await harness.firewall.readTable(table.name)).toEqual({
          vmChains: [vmId],
          egressElements: [{ address: '172.30.0.5', chain: vmId }],
          guestElements: [{ address: '172.30.0.5', vmId }],
          portElements: [],
          guardChains: [],
          guardElements: [],
          tapElements: [],
        });
      });

      it("a VM's published ports are elements of the ports map, tagged with its id", async () => {
        await applyVm(vmId, '172.30.0.5', allowAll, [
          { protocol: 'udp', hostPort: 5353, guestPort: 53 },
          { protocol: 'tcp', hostPort: 8080, guestPort: 80 },
        ]);

        const state = await harness.firewall.readTable(table.name);
        expect([...state.portElements].sort((a, b) => a.hostPort - b.hostPort)).toEqual([
          { protocol: 'udp', hostPort: 5353, address: '172.30.0.5', guestPort: 53, vmId },
          { protocol: 'tcp', hostPort: 8080, address: '172.30.0.5', guestPort: 80, vmId },
        ]);
      });

      it("a host port another VM's element still holds (a lost record) passes to the VM that publishes it now", async () => {
        await applyVm(otherVmId, '172.30.0.6', allowAll, [{ protocol: 'tcp', hostPort: 8080, guestPort: 80 }]);
        await applyVm(vmId, '172.30.0.5', allowAll, [{ protocol: 'tcp', hostPort: 8080, guestPort: 8000 }]);

        expect((await harness.firewall.readTable(table.name)).portElements).toEqual([
          { protocol: 'tcp', hostPort: 8080, address: '172.30.0.5', guestPort: 8000, vmId },
        ]);
      });

      it('applying the same VM again, with another policy, leaves one chain and one element each', async () => {
        await applyVm(vmId, '172.30.0.5');
        await applyVm(vmId, '172.30.0.5', { mode: 'deny_all' });

        const state = await harness.firewall.readTable(table.name);
        expect(state.vmChains).toEqual([vmId]);
        expect(state.egressElements).toHaveLength(1);
        expect(state.guestElements).toHaveLength(1);
      });

      it("removing one VM leaves the other's chain and elements", async () => {
        await applyVm(vmId, '172.30.0.5', allowAll, [{ protocol: 'tcp', hostPort: 8080, guestPort: 80 }]);
        await applyVm(otherVmId, '172.30.0.6', allowAll, [{ protocol: 'tcp', hostPort: 8081, guestPort: 80 }]);

        const script = removeVmsScript(table.name, new Set([vmId]), await harness.firewall.readTable(table.name));
        await harness.firewall.apply(script ?? '');

        expect(await harness.firewall.readTable(table.name)).toEqual({
          vmChains: [otherVmId],
          egressElements: [{ address: '172.30.0.6', chain: otherVmId }],
          guestElements: [{ address: '172.30.0.6', vmId: otherVmId }],
          portElements: [{ protocol: 'tcp', hostPort: 8081, address: '172.30.0.6', guestPort: 80, vmId: otherVmId }],
          guardChains: [],
          guardElements: [],
          tapElements: [],
        });
      });

      it("a new VM's guard is written on a table without its TAP, and refused whole, changing nothing, on one that holds it", async () => {
        const guard = { tap: 'fctest0', mac: '06:00:ac:10:00:05', sharedSet: 'shared_0123456789abcdef' };
        await harness.firewall.apply(newVmGuardScript(table.name, { vmId, address: '172.30.0.5', guard }));
        const written = await harness.firewall.readTable(table.name, 'bridge');
        expect(written.guardElements).toEqual([{ tap: 'fctest0', chain: vmId }]);
        expect(written.tapElements).toEqual(
          expect.arrayContaining([
            { set: 'taps', tap: 'fctest0', vmId },
            { set: 'shared_0123456789abcdef', tap: 'fctest0', vmId },
          ]),
        );

        // Another VM on the same TAP (a guard left behind): its create of an element there fails.
        await expect(
          harness.firewall.apply(newVmGuardScript(table.name, { vmId: otherVmId, address: '172.30.0.6', guard })),
        ).rejects.toMatchObject({ code: 'HOST_COMMAND_FAILED' });
        const after = await harness.firewall.readTable(table.name, 'bridge');
        expect(after).toEqual(written);
        expect(after.guardChains).toEqual([vmId]);
      });

      it.each([
        ['its address', { address: '172.30.0.5', hostPort: 8081, tap: 'fctest1' }],
        ['one of its host ports', { address: '172.30.0.6', hostPort: 8080, tap: 'fctest1' }],
        ['its TAP', { address: '172.30.0.6', hostPort: 8081, tap: 'fctest0' }],
      ])(
        "a new VM's egress is written on tables without its keys, and refused whole, changing nothing, on tables holding %s",
        async (_held, other) => {
          const guard = { tap: 'fctest0', mac: '06:00:ac:10:00:05', sharedSet: null };
          const port = { protocol: 'tcp', hostPort: 8080, guestPort: 80 } as const;
          await harness.firewall.apply(
            newVmEgressScript(table, { vmId, address: '172.30.0.5', policy: allowAll, ports: [port], guard }),
          );
          const written = await harness.firewall.readTable(table.name);
          expect(written.vmChains).toEqual([vmId]);
          expect(written.egressElements).toEqual([{ address: '172.30.0.5', chain: vmId }]);
          expect(written.guestElements).toEqual([{ address: '172.30.0.5', vmId }]);
          expect(written.portElements).toEqual([{ ...port, address: '172.30.0.5', vmId }]);
          expect(written.guardElements).toEqual([{ tap: 'fctest0', chain: vmId }]);

          // Another VM at one of its keys (a stale lease, a lost record's port or TAP): its create fails.
          const script = newVmEgressScript(table, {
            vmId: otherVmId,
            address: other.address,
            policy: allowAll,
            ports: [{ ...port, hostPort: other.hostPort }],
            guard: { ...guard, tap: other.tap },
          });
          await expect(harness.firewall.apply(script)).rejects.toMatchObject({ code: 'HOST_COMMAND_FAILED' });
          expect(await harness.firewall.readTable(table.name)).toEqual(written);
        },
      );

      it('a script that fails part way changes nothing', async () => {
        await applyVm(vmId, '172.30.0.5');
        const before = await harness.firewall.readTable(table.name);

        await expect(
          harness.firewall.apply(
            `delete element ip hearth guests { 172.30.0.5 }\ndelete element ip hearth guests { 172.30.0.99 }\n`,
          ),
        ).rejects.toMatchObject({ code: 'HOST_COMMAND_FAILED' });

        expect(await harness.firewall.readTable(table.name)).toEqual(before);
      });

      describe("one VM's entries", () => {
        const sharedSet = 'shared_0123456789abcdef';
        const guardOf = (tap: string, set: string | null = null): GuestGuard => ({
          tap,
          mac: '06:00:ac:10:00:05',
          sharedSet: set,
        });
        const keys: VmTableKeys = {
          vmId,
          addresses: ['172.30.0.5'],
          hostPorts: [{ protocol: 'tcp', hostPort: 8080 }],
          taps: ['fctest0'],
          sharedSets: [sharedSet],
        };
        const writeVm = async (
          id: string,
          address: string,
          guard: GuestGuard,
          ports: readonly PublishedPort[] = [],
        ): Promise<void> => {
          const state = await harness.firewall.readTable(table.name);
          await harness.firewall.apply(vmEgressScript(table, { vmId: id, address, policy: allowAll, ports, guard }, state));
        };

        it('are empty when the table does not exist', async () => {
          expect(await harness.firewall.readVmEntries(table.name, keys)).toEqual(emptyEgressTableState);
        });

        it("are the VM's chains and elements in both tables, and nothing of another VM", async () => {
          await writeVm(vmId, '172.30.0.5', guardOf('fctest0', sharedSet), [{ protocol: 'tcp', hostPort: 8080, guestPort: 80 }]);
          await writeVm(otherVmId, '172.30.0.6', guardOf('fctest1', sharedSet), [
            { protocol: 'tcp', hostPort: 8081, guestPort: 80 },
          ]);

          expect(await harness.firewall.readVmEntries(table.name, keys)).toEqual({
            vmChains: [vmId],
            egressElements: [{ address: '172.30.0.5', chain: vmId }],
            guestElements: [{ address: '172.30.0.5', vmId }],
            portElements: [{ protocol: 'tcp', hostPort: 8080, address: '172.30.0.5', guestPort: 80, vmId }],
            guardChains: [vmId],
            guardElements: [{ tap: 'fctest0', chain: vmId }],
            tapElements: expect.arrayContaining([
              { set: 'taps', tap: 'fctest0', vmId },
              { set: sharedSet, tap: 'fctest0', vmId },
            ]) as unknown,
          });
          expect((await harness.firewall.readVmEntries(table.name, keys)).tapElements).toHaveLength(2);
        });

        it('answer an element that is absent as absent, beside the chain that is there', async () => {
          await writeVm(vmId, '172.30.0.5', guardOf('fctest0'));
          await harness.firewall.apply(
            `delete element ip ${table.name} egress { 172.30.0.5 }\ndelete element bridge ${table.name} guard { "fctest0" }\n`,
          );

          expect(await harness.firewall.readVmEntries(table.name, keys)).toEqual({
            ...emptyEgressTableState,
            vmChains: [vmId],
            guestElements: [{ address: '172.30.0.5', vmId }],
            guardChains: [vmId],
            tapElements: [{ set: 'taps', tap: 'fctest0', vmId }],
          });
        });

        it("include another VM's elements at the VM's address, host port or TAP (what a lost record leaves), not its chains", async () => {
          await writeVm(otherVmId, '172.30.0.5', guardOf('fctest0'), [{ protocol: 'tcp', hostPort: 8080, guestPort: 22 }]);

          expect(await harness.firewall.readVmEntries(table.name, keys)).toEqual({
            ...emptyEgressTableState,
            egressElements: [{ address: '172.30.0.5', chain: otherVmId }],
            guestElements: [{ address: '172.30.0.5', vmId: otherVmId }],
            portElements: [{ protocol: 'tcp', hostPort: 8080, address: '172.30.0.5', guestPort: 22, vmId: otherVmId }],
            guardElements: [{ tap: 'fctest0', chain: otherVmId }],
            tapElements: [{ set: 'taps', tap: 'fctest0', vmId: otherVmId }],
          });
        });

        it('read the ports map only for a VM with host ports, and one table when asked', async () => {
          await writeVm(vmId, '172.30.0.5', guardOf('fctest0'), [{ protocol: 'udp', hostPort: 5353, guestPort: 53 }]);

          const withoutPorts = await harness.firewall.readVmEntries(table.name, { ...keys, hostPorts: [] });
          const ipOnly = await harness.firewall.readVmEntries(table.name, keys, 'ip');
          const bridgeOnly = await harness.firewall.readVmEntries(table.name, keys, 'bridge');

          expect(withoutPorts.portElements).toEqual([]);
          expect(ipOnly).toMatchObject({ vmChains: [vmId], guardChains: [], guardElements: [], tapElements: [] });
          expect(ipOnly.portElements).toEqual([{ protocol: 'udp', hostPort: 5353, address: '172.30.0.5', guestPort: 53, vmId }]);
          expect(bridgeOnly).toMatchObject({ vmChains: [], egressElements: [], guestElements: [], guardChains: [vmId] });
        });

        it('is what removing the VM needs: its removal from its entries leaves nothing of it and all of the other', async () => {
          await writeVm(vmId, '172.30.0.5', guardOf('fctest0', sharedSet), [{ protocol: 'tcp', hostPort: 8080, guestPort: 80 }]);
          await writeVm(otherVmId, '172.30.0.6', guardOf('fctest1', sharedSet));
          const before = await harness.firewall.readTable(table.name);

          const entries = await harness.firewall.readVmEntries(table.name, keys);
          await harness.firewall.apply(removeVmsScript(table.name, new Set([vmId]), entries) ?? '');

          const after = await harness.firewall.readTable(table.name);
          expect(await harness.firewall.readVmEntries(table.name, keys)).toEqual(emptyEgressTableState);
          expect(after.vmChains).toEqual([otherVmId]);
          expect(after.guardElements).toEqual(before.guardElements.filter((element) => element.chain === otherVmId));
          expect(after.tapElements).toHaveLength(2);
        });

        it('refuses a name nft could misread before running anything', async () => {
          await expect(
            harness.firewall.readVmEntries(table.name, { ...keys, vmId: 'vm_x; flush ruleset' }),
          ).rejects.toMatchObject({
            code: 'VALIDATION_FAILED',
          });
          await expect(harness.firewall.readVmEntries('hearth; flush ruleset', keys)).rejects.toMatchObject({
            code: 'VALIDATION_FAILED',
          });
        });
      });

      it("never touches another tool's table", async () => {
        await harness.addForeignTable();

        await applyVm(vmId, '172.30.0.5');
        const script = removeVmsScript(table.name, new Set([vmId]), await harness.firewall.readTable(table.name));
        await harness.firewall.apply(script ?? '');

        expect(await harness.hasForeignTable()).toBe(true);
      });
    },
  );
}
