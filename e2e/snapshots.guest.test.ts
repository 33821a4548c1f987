import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hearth } from '@hearth/sdk';
import { findGuestImages, missingRequirements, waitFor } from '@hearth/testkit';
import { httpGet, registerGuestImages, waitForGuestHttp } from './support/guest.js';
import { startStack, type Stack } from './support/stack.js';

/**
 * Snapshots, clones and the serial console with real guests under QEMU (the double's QEMU backend),
 * through the unchanged Manager and Agent. One source guest is booted and shared by the cases, in
 * order: its console, its clones, its pause → snapshot → resume cycles, its restore in place. Each
 * guest's identity (its instance id, hostname, address and MAC) is what the guest read from its own
 * MMDS (`GET /identity` of the guest image).
 */
interface Vm {
  id: string;
  name: string;
  state: string;
  guestMac: string;
  network: { ipAddress: string; prefixLength: number } | null;
}

interface Snapshot {
  id: string;
  state: string;
  pauseMs: number;
}

const images = await findGuestImages();
const skipReason =
  missingRequirements({ root: true, database: true, commands: ['ip', 'busybox', 'qemu-system-x86_64'] }) ?? images.missing;

describe.skipIf(skipReason)(
  `snapshots, clones and the serial console of real guests${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    let stack: Stack;
    let hearth: Hearth;
    let source: Vm;

    const ipOf = (vm: Vm): string => vm.network?.ipAddress ?? '';
    const url = (vm: Vm, route: string): string => `http://${ipOf(vm)}${route}`;
    const read = (vm: Vm, name: string) => httpGet(stack.netns, url(vm, `/cgi-bin/read?name=${name}`));
    async function write(vm: Vm, name: string): Promise<void> {
      expect(await httpGet(stack.netns, url(vm, `/cgi-bin/write?name=${name}`))).toContain(`${name} written-by=`);
    }
    /** Waits until `vm` answers at its own address with the identity it read from its own MMDS. */
    function identity(vm: Vm): Promise<string> {
      const expected = `instance-id=${vm.id} host=${vm.name} addr=${ipOf(vm)}/${String(vm.network?.prefixLength)} mac=${vm.guestMac.toLowerCase()}\n`;
      return waitFor(async () => ((await httpGet(stack.netns, url(vm, '/identity'))) === expected ? expected : undefined), {
        timeoutMs: 60_000,
        intervalMs: 100,
        description: `${vm.name} answers at ${ipOf(vm)} as itself`,
      });
    }
    /** Waits until `vm` is running; a timeout reports its record, events and console. */
    async function running(vm: Vm): Promise<void> {
      try {
        await waitFor(async () => (await stack.api<Vm>('GET', `/v1/vms/${vm.id}`)).body.state === 'running' || undefined, {
          timeoutMs: 120_000,
          intervalMs: 200,
          description: `${vm.name} running`,
        });
      } catch (err) {
        const [record, events, console] = await Promise.all(
          ['', '/events', '/console'].map(async (route) =>
            JSON.stringify((await stack.api('GET', `/v1/vms/${vm.id}${route}`)).body),
          ),
        );
        const dir = path.join(stack.runDir, 'vms', vm.id);
        const files = existsSync(dir)
          ? readdirSync(dir)
              .filter((f) => /\.(log|out|err)$|stderr|stdout/.test(f))
              .map((f) => `--- ${f}\n${readFileSync(path.join(dir, f), 'utf8').slice(-3000)}`)
          : [];
        throw new Error(
          `${String(err)}\nvm: ${record}\nevents: ${events}\nconsole: ${console?.slice(-3000)}\nfiles of ${dir}:\n${files.join('\n')}`,
        );
      }
    }
    /** The socket the command line of the VMM working in the VM's directory names (one there is). */
    function vmmOf(vm: Vm): { socketArgument: string; workingDirectory: string } {
      const directory = path.join(stack.runDir, 'vms', vm.id);
      for (const entry of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
        try {
          const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
          const at = args.indexOf('--api-sock');
          if (at >= 0 && readlinkSync(`/proc/${entry}/cwd`) === directory) {
            return { socketArgument: args[at + 1] ?? '', workingDirectory: directory };
          }
        } catch {
          // gone meanwhile
        }
      }
      return { socketArgument: '', workingDirectory: '' };
    }
    async function snapshot(vm: Vm): Promise<Snapshot> {
      const taken = await stack.api<Snapshot>('POST', `/v1/vms/${vm.id}/snapshots`, {});
      expect(taken.status, JSON.stringify(taken.body)).toBe(201);
      expect(taken.body.state).toBe('ready');
      return taken.body;
    }

    beforeAll(async () => {
      // The Agent guards each TAP (ADR 0033, whatever the egress mode): a clone resumes with its
      // source's MAC and address until it reads its own from MMDS, and without the guard its first
      // frames would teach the bridge that the source lives behind the clone's TAP.
      stack = await startStack({
        // Two warm VMMs for three clones: two are restored into VMMs started ahead, one into its own.
        doubleEnv: { FC_DOUBLE_BACKEND: 'qemu', AGENT_EGRESS: 'nat', AGENT_UPLINK: 'lo', AGENT_VMM_POOL_SIZE: '2' },
        bridgeCidr: '172.30.0.1/16',
      });
      await stack.netns.exec(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      hearth = new Hearth({ baseUrl: stack.managerUrl, token: stack.adminToken });
      const { kernel, rootfs } = await registerGuestImages(hearth, images.dir!, stack.imageRoot);
      const started = performance.now();
      const created = await stack.api<Vm>('POST', '/v1/vms', {
        name: 'source',
        vcpuCount: 1,
        memoryMib: 128,
        kernelImageId: kernel.id,
        rootfsImageId: rootfs.id,
        bootArgs: 'console=ttyS0 reboot=k panic=1',
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      source = created.body;
      await waitForGuestHttp(stack.netns, ipOf(source));
      const answeringMs = performance.now() - started;
      await identity(source);
      console.log(
        `source: create → answering HTTP ${answeringMs.toFixed(0)} ms, → identity from MMDS ${(performance.now() - started).toFixed(0)} ms`,
      );
    }, 180_000);

    afterAll(async () => {
      await stack?.stop();
    });

    it('types a command on the serial console through the Manager and sees the shell run it', async () => {
      const session = await hearth.vms.attachConsole(source.id, { backlogBytes: 1024 });
      let output = '';
      session.onData((bytes) => (output += Buffer.from(bytes).toString('latin1')));
      try {
        // The shell computes the answer: an echo of the typed line alone would not contain it.
        session.write('echo serial-$((6 * 7))-$(hostname)\r');
        await waitFor(() => output.includes(`serial-42-${source.name}`) || undefined, {
          timeoutMs: 30_000,
          description: `the shell's answer on the console (so far: ${JSON.stringify(output.slice(-300))})`,
        });
      } finally {
        session.close();
      }
    }, 60_000);

    it('three clones of a snapshot each answer at their own address as themselves, with the snapshot disk and their own writes', async () => {
      await write(source, 'filea');
      const snap = await snapshot(source);
      await write(source, 'fileb');

      const started = performance.now();
      // Three restores under TCG on a shared machine outlast one HTTP request: ask, then watch.
      const cloned = await stack.api<{ items: Vm[] }>('POST', '/v1/vms?wait=false', {
        name: 'clone',
        snapshotId: snap.id,
        count: 3,
      });
      expect(cloned.status, JSON.stringify(cloned.body)).toBe(202);
      const clones = cloned.body.items;
      const timings = await Promise.all(
        clones.map(async (vm) => {
          await running(vm);
          const runningMs = performance.now() - started;
          await identity(vm);
          return `${runningMs.toFixed(0)}/${(performance.now() - started).toFixed(0)}`;
        }),
      );
      console.log(`3 clones: POST → running/answering as itself, each: ${timings.join(', ')} ms`);
      // Each clone's VMM works in the clone's directory: two were warm (their command line names the
      // pool's directory they were started in), one was started for its clone.
      const vmms = clones.map((vm) => vmmOf(vm));
      for (const [i, vmm] of vmms.entries()) expect(vmm.workingDirectory).toBe(path.join(stack.runDir, 'vms', clones[i]!.id));
      expect(vmms.filter((vmm) => vmm.socketArgument.startsWith(`${path.join(stack.runDir, 'vmm-pool')}/`))).toHaveLength(2);
      expect(new Set([source, ...clones].map(ipOf)).size).toBe(4);
      expect(new Set([source, ...clones].map((vm) => vm.guestMac)).size).toBe(4);

      for (const vm of clones) {
        expect(await read(vm, 'filea'), vm.name).toContain('filea written-by=source');
        expect(await read(vm, 'fileb'), vm.name).toBeUndefined(); // busybox wget fails on the 404
      }
      await write(clones[0]!, 'filec');
      expect(await read(clones[0]!, 'filec')).toContain(`filec written-by=${clones[0]!.name}`);
      for (const vm of [source, clones[1]!, clones[2]!]) expect(await read(vm, 'filec'), vm.name).toBeUndefined();

      // The source runs on, with what it wrote after the snapshot.
      expect(await read(source, 'fileb')).toContain('fileb written-by=source');
      await identity(source);

      // Its MMDS is its guest's own: nothing answers for the MMDS address on the bridge.
      await stack.netns.exec(['ip', 'route', 'replace', '169.254.169.254', 'dev', stack.bridge]);
      expect(await httpGet(stack.netns, 'http://169.254.169.254/latest/meta-data/instance-id')).toBeUndefined();

      for (const vm of clones) expect((await stack.api('DELETE', `/v1/vms/${vm.id}`)).status).toBe(200);
      expect((await stack.api('DELETE', `/v1/snapshots/${snap.id}`)).status).toBe(204);
      // The pool's directory holds the warm VMMs started since, and nothing a clone's VMM left there.
      const poolDirectory = path.join(stack.runDir, 'vmm-pool');
      await waitFor(() => readdirSync(poolDirectory).length === 2 || undefined, {
        timeoutMs: 60_000,
        intervalMs: 200,
        description: 'the pool refilled',
      });
      expect(readdirSync(poolDirectory).map((entry) => existsSync(path.join(poolDirectory, entry, 'fc.sock')))).toEqual([
        true,
        true,
      ]);
    }, 300_000);

    it('pause → snapshot → resume twice in a row loses nothing', async () => {
      for (const round of ['one', 'two']) {
        await write(source, `before${round}`);
        expect((await stack.api<Vm>('POST', `/v1/vms/${source.id}/pause`)).status).toBe(200);
        const snap = await snapshot(source);
        expect((await stack.api<Vm>('GET', `/v1/vms/${source.id}`)).body.state).toBe('paused');
        expect((await stack.api<Vm>('POST', `/v1/vms/${source.id}/resume`)).status).toBe(200);
        await identity(source);
        expect((await stack.api('DELETE', `/v1/snapshots/${snap.id}`)).status).toBe(204);
      }
      for (const name of ['filea', 'fileb', 'beforeone', 'beforetwo']) {
        expect(await read(source, name), name).toContain(`${name} written-by=source`);
      }
      await write(source, 'after');
      expect(await read(source, 'after')).toContain('after written-by=source');
    }, 180_000);

    it('restores in place: the guest is back at its snapshot, answers as itself, and what it wrote since is gone', async () => {
      await write(source, 'keep');
      const snap = await snapshot(source);
      await write(source, 'lose');
      const started = performance.now();
      const restored = await hearth.vms.restore(source.id, snap.id);
      expect(restored.state).toBe('running');
      const runningMs = performance.now() - started;
      await identity(source);
      console.log(
        `restore in place: POST → running ${runningMs.toFixed(0)} ms, → answering as itself ${(performance.now() - started).toFixed(0)} ms`,
      );
      expect(await read(source, 'keep')).toContain('keep written-by=source');
      expect(await read(source, 'lose')).toBeUndefined(); // busybox wget fails on the 404
      await write(source, 'afterrestore');
      expect(await read(source, 'afterrestore')).toContain('afterrestore written-by=source');
      // Its VMM maps the snapshot's memory file: the snapshot is kept while it runs (it goes with the VM).
      expect((await stack.api('DELETE', `/v1/snapshots/${snap.id}`)).status).toBe(409);
    }, 180_000);
  },
);
