import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hearth } from '@hearth/sdk';
import { createNetns, findGuestImages, missingRequirements, type Netns } from '@hearth/testkit';
import { httpGet, registerGuestImages, waitForGuestHttp } from './support/guest.js';
import { attachGuestShell, type GuestShell } from './support/guest-shell.js';
import { startStack, type Stack } from './support/stack.js';

/**
 * Guest networking with real guests under QEMU, through the unchanged Manager and Agent with egress
 * through NAT. Beside the Agent's namespace (its bridge, TAPs and VMMs) a second namespace stands
 * in for the internet: a server at an address outside the address pool, reached by the host's
 * uplink (a veth pair between the two). Three guests are booted once and shared, in order:
 * `web` (egress allowed, a published port, in the shared network `lab`), `locked` (egress denied,
 * in `lab`) and `loner` (in no shared network). Each guest fetches on command: a `wget` typed on its
 * serial console through the Manager.
 */
interface Vm {
  id: string;
  name: string;
  version: number;
  network: { ipAddress: string } | null;
}

const gateway = '172.30.0.1';
const uplinkAddress = '203.0.113.1';
const internetAddress = '203.0.113.80';
const publishedPort = 8080;

/** The internet's server: answers with the address a request came from, and prints each request it gets. */
const serverScript = `
require('node:http').createServer((request, response) => {
  console.log('request ' + request.url + ' from ' + request.socket.remoteAddress);
  response.end('internet saw ' + request.socket.remoteAddress);
}).listen(80, '${internetAddress}', () => console.log('listening'));
`;

const images = await findGuestImages();
const skipReason =
  missingRequirements({ root: true, database: true, commands: ['ip', 'nft', 'busybox', 'qemu-system-x86_64'] }) ?? images.missing;

describe.skipIf(skipReason)(
  `guest networking with real guests: NAT, egress policies, published ports, isolation${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    let stack: Stack | undefined;
    let internet: Netns | undefined;
    let server: ChildProcess | undefined;
    let serverLog = '';
    let hearth: Hearth;
    let web: Vm;
    let locked: Vm;
    let loner: Vm;
    const shells = new Map<string, GuestShell>();
    let fetches = 0;

    const ipOf = (vm: Vm): string => vm.network?.ipAddress ?? '';
    const shell = (vm: Vm): GuestShell => shells.get(vm.id)!;

    /**
     * `vm` fetches from the internet's server, once, for at most 3 s. Answers what the server
     * answered, or null when the guest got nothing, in which case the server is also required not
     * to have seen the request (it did not get lost on the way back).
     */
    async function fetchFromInternet(vm: Vm): Promise<string | null> {
      const path = `/${vm.name}/${String(++fetches)}`;
      const result = await shell(vm).run(`timeout 3 wget -q -O - 'http://${internetAddress}${path}'`);
      if (result.status === 0) return result.output;
      expect(serverLog, `the server saw ${path} that ${vm.name} did not get an answer to`).not.toContain(`request ${path} `);
      return null;
    }

    /** `from` fetches the page of `to`'s HTTP server, once, for at most 3 s; null when nothing answered. */
    async function fetchGuest(from: Vm, to: Vm): Promise<string | null> {
      const result = await shell(from).run(`timeout 3 wget -q -O - 'http://${ipOf(to)}/'`);
      return result.status === 0 ? result.output : null;
    }

    async function setEgress(vm: Vm, policy: { mode: string }): Promise<number> {
      const started = performance.now();
      const changed = await stack!.api<Vm>('PUT', `/v1/vms/${vm.id}/egress`, policy);
      const ms = performance.now() - started;
      expect(changed.status, JSON.stringify(changed.body)).toBe(200);
      return ms;
    }

    beforeAll(async () => {
      internet = await createNetns();
      await internet.exec(['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'up0']);
      await internet.exec(['ip', 'addr', 'add', `${internetAddress}/24`, 'dev', 'eth0']);
      await internet.exec(['ip', 'link', 'set', 'eth0', 'up']);
      server = internet.spawn(['node', '-e', serverScript], { stdio: ['ignore', 'pipe', 'inherit'] });
      const listening = new Promise<void>((resolve, reject) => {
        server!.stdout?.on('data', (chunk: Buffer) => {
          serverLog += String(chunk);
          if (serverLog.includes('listening')) resolve();
        });
        server!.on('exit', (code) => reject(new Error(`the internet's server exited (${String(code)})`)));
      });
      const outside = internet;
      stack = await startStack({
        doubleEnv: { FC_DOUBLE_BACKEND: 'qemu', AGENT_EGRESS: 'nat', AGENT_UPLINK: 'up0' },
        bridgeCidr: `${gateway}/16`,
        // The host's uplink, the other end of the internet's veth, before the Agent starts: its
        // first facts then show forwarding on. The internet has no route back to the guests' pool,
        // so only masqueraded traffic can be answered.
        async prepareNetns(host) {
          await outside.exec(['ip', 'link', 'set', 'up0', 'netns', host.name]);
          await host.exec(['ip', 'addr', 'add', `${uplinkAddress}/24`, 'dev', 'up0']);
          await host.exec(['ip', 'link', 'set', 'up0', 'up']);
          await host.exec(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
        },
      });
      await listening;
      hearth = new Hearth({ baseUrl: stack.managerUrl, token: stack.adminToken });

      const { kernel, rootfs } = await registerGuestImages(hearth, images.dir!, stack.imageRoot);
      const create = async (body: Record<string, unknown>): Promise<Vm> => {
        const created = await stack!.api<Vm>('POST', '/v1/vms', {
          vcpuCount: 1,
          memoryMib: 128,
          kernelImageId: kernel.id,
          rootfsImageId: rootfs.id,
          bootArgs: 'console=ttyS0 reboot=k panic=1',
          ...body,
        });
        expect(created.status, JSON.stringify(created.body)).toBe(201);
        return created.body;
      };
      const started = performance.now();
      [web, locked, loner] = await Promise.all([
        create({ name: 'web', sharedNetwork: 'lab', ports: [{ hostPort: publishedPort, guestPort: 80, protocol: 'tcp' }] }),
        create({ name: 'locked', sharedNetwork: 'lab', egress: { mode: 'deny_all' } }),
        create({ name: 'loner' }),
      ]);
      await Promise.all(
        [web, locked, loner].map(async (vm) => {
          await waitForGuestHttp(stack!.netns, ipOf(vm));
          shells.set(vm.id, await attachGuestShell(hearth, vm.id));
        }),
      );
      console.log(`3 guests: create → each answering HTTP and its console shell: ${(performance.now() - started).toFixed(0)} ms`);
    }, 240_000);

    afterAll(async () => {
      for (const open of shells.values()) open.close();
      await stack?.stop();
      await internet?.destroy();
    });

    it('a guest with egress allowed reaches the internet through NAT, seen from the uplink address; a denied one does not', async () => {
      const [fromWeb, fromLocked] = await Promise.all([fetchFromInternet(web), fetchFromInternet(locked)]);
      expect(fromWeb).toBe(`internet saw ${uplinkAddress}`);
      expect(fromLocked).toBeNull();
    }, 60_000);

    it('a policy changed on the running guest takes effect by the time the Manager answers', async () => {
      const timings: string[] = [];
      for (const [vm, policy, expected] of [
        [locked, { mode: 'allow_all' }, `internet saw ${uplinkAddress}`],
        [web, { mode: 'deny_all' }, null],
        [web, { mode: 'allow_all' }, `internet saw ${uplinkAddress}`],
      ] as const) {
        const started = performance.now();
        const changeMs = await setEgress(vm, policy);
        // One fetch right after the answer, no retry: the new policy is in force already.
        expect(await fetchFromInternet(vm), `${vm.name} after ${policy.mode}`).toBe(expected);
        timings.push(
          `${vm.name} → ${policy.mode}: PUT ${changeMs.toFixed(0)} ms, PUT + fetch ${(performance.now() - started).toFixed(0)} ms`,
        );
      }
      console.log(`egress policy change with real guests: ${timings.join('; ')}`);
    }, 90_000);

    it("a published port reaches the guest's HTTP server from the internet", async () => {
      const page = await httpGet(internet!, `http://${uplinkAddress}:${publishedPort}/`);
      expect(page).toContain(`HEARTH-GUEST-OK host=${web.name} `);
      // A port nobody published is not forwarded.
      expect(await httpGet(internet!, `http://${uplinkAddress}:${publishedPort + 1}/`)).toBeUndefined();
    }, 30_000);

    it('two guests reach each other only when both joined one shared network', async () => {
      // Both ways within `lab`; neither way between `lab` and `loner`, which otherwise reaches the internet.
      const [webToLocked, lockedToWeb, lonerToWeb, webToLoner, lonerOut] = await Promise.all([
        fetchGuest(web, locked),
        fetchGuest(locked, web),
        fetchGuest(loner, web),
        fetchGuest(web, loner),
        fetchFromInternet(loner),
      ]);
      expect(webToLocked).toContain(`HEARTH-GUEST-OK host=${locked.name} `);
      expect(lockedToWeb).toContain(`HEARTH-GUEST-OK host=${web.name} `);
      expect(lonerOut).toBe(`internet saw ${uplinkAddress}`);
      expect(lonerToWeb).toBeNull();
      expect(webToLoner).toBeNull();
      // The host still reaches each of them: what stopped the guests is the guard between them.
      for (const vm of [web, loner])
        expect(await httpGet(stack!.netns, `http://${ipOf(vm)}/`), vm.name).toContain('HEARTH-GUEST-OK');
    }, 60_000);
  },
);
