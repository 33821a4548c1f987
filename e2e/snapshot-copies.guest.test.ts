import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hearth } from '@hearth/sdk';
import { findGuestImages, missingRequirements, waitFor } from '@hearth/testkit';
import { leaksOn, startCluster, type Cluster, type ClusterVm } from './support/cluster.js';
import { httpGet, registerGuestImages } from './support/guest.js';
import { sentBytesOf, sha256Of, snapshotFiles } from './support/snapshot-files.js';

/**
 * A real guest's snapshot cloned on another host: two Agents, each in its own network namespace,
 * their VMs real guests under QEMU (the double's QEMU backend). The source runs on one host, its
 * snapshot's files (QEMU's memory stream, the device state, the disk copy) cross to the other
 * through the Manager as data regions, and the clone restored from them there answers at its own
 * address with the snapshot's disk.
 */
interface GuestVm extends ClusterVm {
  readonly guestMac: string;
  readonly network: { ipAddress: string; prefixLength: number } | null;
}

interface HostView {
  readonly id: string;
  readonly name: string;
}

const images = await findGuestImages();
const skipReason =
  missingRequirements({ root: true, database: true, commands: ['ip', 'busybox', 'qemu-system-x86_64'] }) ?? images.missing;

describe.skipIf(skipReason)(
  `a real guest's snapshot cloned on another host${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    let cluster: Cluster;
    let hosts: HostView[];
    let imageIds: { kernelImageId: string; rootfsImageId: string };

    const agentOf = (hostId: string) => cluster.agents[hosts.findIndex((host) => host.id === hostId)]!;
    const ipOf = (vm: GuestVm): string => vm.network?.ipAddress ?? '';
    const get = (vm: GuestVm, route: string) => httpGet(agentOf(vm.hostId).netns, `http://${ipOf(vm)}${route}`);

    /** Waits until `vm` answers at its own address, in its host's namespace, with the identity it read from its own MMDS. */
    function identity(vm: GuestVm): Promise<string> {
      const expected = `instance-id=${vm.id} host=${vm.name} addr=${ipOf(vm)}/${String(vm.network?.prefixLength)} mac=${vm.guestMac.toLowerCase()}\n`;
      return waitFor(async () => ((await get(vm, '/identity')) === expected ? expected : undefined), {
        timeoutMs: 90_000,
        intervalMs: 200,
        description: `${vm.name} answers at ${ipOf(vm)} as itself`,
      });
    }

    beforeAll(async () => {
      cluster = await startCluster({
        agentCount: 2,
        // The Agent guards each TAP whatever the egress mode (ADR 0033): a clone resumes with its
        // source's MAC and address until it reads its own from MMDS.
        agentEnv: { FC_DOUBLE_BACKEND: 'qemu', AGENT_EGRESS: 'nat', AGENT_UPLINK: 'lo' },
        bridgeCidr: '172.30.0.1/16',
        // Guests boot and restore under software emulation: a create or a restore in flight is
        // left to its request for longer than the crash tests' short grace.
        managerEnv: { MANAGER_RECONCILE_GRACE_MS: '30000' },
      });
      for (const agent of cluster.agents) await agent.netns.exec(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      hosts = (await cluster.api<{ items: HostView[] }>('GET', '/v1/hosts')).body.items;
      hosts = cluster.agents.map((agent) => hosts.find((host) => host.name === agent.name)!);
      const hearth = new Hearth({ baseUrl: cluster.managerUrl, token: cluster.adminToken });
      const { kernel, rootfs } = await registerGuestImages(hearth, images.dir!, cluster.imageRoot);
      imageIds = { kernelImageId: kernel.id, rootfsImageId: rootfs.id };
    }, 180_000);

    afterAll(async () => {
      await cluster?.stop();
    });

    it('clones on the other host from the files copied there: the clone answers as itself with the snapshot disk', async () => {
      const [first, second] = hosts as [HostView, HostView];
      // The source goes to the first host, the clone to the second.
      expect((await cluster.api('POST', `/v1/hosts/${second.id}/cordon`)).status).toBe(200);
      const created = await cluster.api<GuestVm>('POST', '/v1/vms', {
        name: 'far-source',
        vcpuCount: 1,
        memoryMib: 128,
        ...imageIds,
        bootArgs: 'console=ttyS0 reboot=k panic=1',
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const source = created.body;
      expect(source.hostId).toBe(first.id);
      await identity(source);
      expect(await get(source, '/cgi-bin/write?name=filea')).toContain('filea written-by=');

      const taken = await cluster.api<{ id: string; state: string }>('POST', `/v1/vms/${source.id}/snapshots`, {});
      expect(taken.status, JSON.stringify(taken.body)).toBe(201);
      const snapshot = taken.body;
      expect(await get(source, '/cgi-bin/write?name=fileb')).toContain('fileb written-by=');

      expect((await cluster.api('POST', `/v1/hosts/${second.id}/uncordon`)).status).toBe(200);
      expect((await cluster.api('POST', `/v1/hosts/${first.id}/cordon`)).status).toBe(200);
      try {
        const started = performance.now();
        const cloned = await cluster.api<GuestVm>('POST', '/v1/vms', { name: 'far-clone', snapshotId: snapshot.id });
        const cloneMs = performance.now() - started;
        expect(cloned.status, JSON.stringify(cloned.body)).toBe(201);
        const clone = cloned.body;
        expect(clone.hostId).toBe(second.id);
        expect(ipOf(clone)).not.toBe(ipOf(source));
        await identity(clone);
        expect(await get(clone, '/cgi-bin/read?name=filea')).toContain('filea written-by=');
        expect(await get(clone, '/cgi-bin/read?name=fileb')).toBeUndefined(); // busybox wget fails on the 404
        // The source runs on, with what it wrote since.
        expect(await get(source, '/cgi-bin/read?name=fileb')).toContain('fileb written-by=');

        // What arrived is what was taken, byte for byte.
        const sourceFiles = snapshotFiles(path.join(agentOf(source.hostId).runDir, 'vms', source.id), snapshot.id);
        const copiedFiles = snapshotFiles(path.join(agentOf(clone.hostId).runDir, 'snapshots', snapshot.id), snapshot.id);
        for (const [index, file] of copiedFiles.entries()) expect(sha256Of(file), file).toBe(sha256Of(sourceFiles[index]!));
        const sentBytes = sentBytesOf(agentOf(source.hostId).logFile);
        const memoryBytes = statSync(sourceFiles[1]!).size;
        const memorySent = sentBytes.get(`${snapshot.id} memory`) ?? 0;
        console.log(
          `a real guest's snapshot copied to another host: memory ${(memoryBytes / 2 ** 20).toFixed(1)} MiB, ` +
            `${(memorySent / 2 ** 20).toFixed(1)} MiB of it sent; clone POST → running ${cloneMs.toFixed(0)} ms`,
        );
        // QEMU's stream holds few zero blocks (it writes none for zero pages): nearly all of it crosses,
        // framed as data regions (a header, and a few bytes a region).
        expect(memorySent).toBeGreaterThan(0);
        expect(memorySent).toBeLessThanOrEqual(memoryBytes * 1.01 + 4096);

        const cloneDeleted = await cluster.api('DELETE', `/v1/vms/${clone.id}`);
        expect(cloneDeleted.status, JSON.stringify(cloneDeleted.body)).toBe(200);
        expect((await cluster.api('DELETE', `/v1/snapshots/${snapshot.id}`)).status).toBe(204);
        for (const file of [...sourceFiles, ...copiedFiles]) expect(existsSync(file), file).toBe(false);
        const sourceDeleted = await cluster.api('DELETE', `/v1/vms/${source.id}`);
        expect(sourceDeleted.status, JSON.stringify(sourceDeleted.body)).toBe(200);
        const vms = await cluster.vms();
        for (const [index, agent] of cluster.agents.entries()) expect(await leaksOn(agent, hosts[index]!.id, vms)).toEqual([]);
      } finally {
        await cluster.api('POST', `/v1/hosts/${first.id}/uncordon`);
      }
    }, 300_000);
  },
);
