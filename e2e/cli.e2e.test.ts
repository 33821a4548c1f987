import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingRequirements, parsePrometheusText, writeEmptyExt4, writeFakeKernel } from '@hearth/testkit';
import { cliMain, runCli, type CliRun } from './support/cli.js';
import { startStack, type Stack } from './support/stack.js';

const skipReason = missingRequirements({ root: true, database: true, commands: ['ip', 'mkfs.ext4', 'bash'] });

describe('the hearth CLI in a pipe', () => {
  it('ends quietly with 0 when its reader has gone (hearth … | head), never with a stack trace', async () => {
    const child = spawn(process.execPath, [cliMain, 'help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    // Closed before the CLI has written anything: its first write fails with EPIPE.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect([code, stderr]).toEqual([0, '']);
  });
});

// Each `hearth` is a new Node.js process: a second or more each on a busy 2-core machine, a dozen per test.
describe.skipIf(skipReason)(
  `the hearth CLI against real processes${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  { timeout: 120_000 },
  () => {
    let stack: Stack;
    let configHome: string;

    /** Runs `hearth …` with the admin token from HEARTH_URL/HEARTH_TOKEN unless `env` says otherwise. */
    function hearth(args: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): Promise<CliRun> {
      return runCli(args, {
        env: { XDG_CONFIG_HOME: configHome, HEARTH_URL: stack.managerUrl, HEARTH_TOKEN: stack.adminToken, ...env },
      });
    }

    async function json<T>(args: readonly string[]): Promise<T> {
      const run = await hearth(['-o', 'json', ...args]);
      expect(run.code, run.stderr).toBe(0);
      return JSON.parse(run.stdout) as T;
    }

    beforeAll(async () => {
      configHome = mkdtempSync(path.join(os.tmpdir(), 'hearth-cli-config-'));
      stack = await startStack();
      writeFakeKernel(path.join(stack.imageRoot, 'vmlinux'));
      writeEmptyExt4(path.join(stack.imageRoot, 'base.ext4'));
    });

    afterAll(async () => {
      await stack?.stop();
      if (configHome !== undefined) rmSync(configHome, { recursive: true, force: true });
    });

    it('registers images and creates a VM by image names, showing each state and host step until it runs', async () => {
      expect((await hearth(['image', 'register', 'vmlinux', '--kind', 'kernel', '--path', 'vmlinux'])).code).toBe(0);
      expect((await hearth(['image', 'register', 'base', '--kind', 'rootfs', '--path', 'base.ext4'])).code).toBe(0);
      const created = await hearth(['vm', 'create', 'web', '--kernel', 'vmlinux', '--rootfs', 'base', '--wait']);
      expect(created.code, created.stderr).toBe(0);
      expect(created.stdout).toMatch(/pending → scheduled/);
      expect(created.stdout).toMatch(/starting → running/);
      const vm = await json<{ id: string; state: string; steps: { name: string }[] }>(['vm', 'get', 'web']);
      expect(vm.state).toBe('running');
      for (const step of vm.steps) expect(created.stdout).toMatch(new RegExp(`^  ${step.name} +[0-9.]+ ms$`, 'm'));
      // An image no VM uses is removed by name.
      expect((await hearth(['image', 'register', 'spare', '--kind', 'kernel', '--path', 'vmlinux'])).code).toBe(0);
      expect((await json<{ name: string }[]>(['image', 'ls', '--kind', 'kernel'])).map((image) => image.name).sort()).toEqual([
        'spare',
        'vmlinux',
      ]);
      expect((await hearth(['image', 'rm', 'spare'])).code).toBe(0);
      expect((await hearth(['image', 'get', 'spare'])).code).toBe(3);
    });

    it('accepts a name or a unique id prefix, and refuses an ambiguous prefix and an unknown name', async () => {
      const second = await json<{ id: string }>(['vm', 'create', 'db', '--kernel', 'vmlinux', '--rootfs', 'base']);
      const web = await json<{ id: string }>(['vm', 'get', 'web']);
      const prefix = second.id.slice(0, [...second.id].findIndex((c, i) => c !== web.id[i]) + 1);
      expect((await json<{ id: string }>(['vm', 'get', prefix])).id).toBe(second.id);
      expect((await json<{ id: string }>(['vm', 'get', prefix.slice('vm_'.length)])).id).toBe(second.id);
      const ambiguous = await hearth(['vm', 'get', 'vm_']);
      expect(ambiguous.code).toBe(4);
      expect(ambiguous.stderr).toMatch(/give more of it/);
      expect((await hearth(['vm', 'get', 'nothing-called-so'])).code).toBe(3);
      const listed = await json<{ name: string }[]>(['vm', 'ls']);
      expect(listed.map((vm) => vm.name).sort()).toEqual(['db', 'web']);
    });

    it('stops, starts, pauses, resumes and deletes a VM by name', async () => {
      for (const [verb, state] of [
        ['stop', 'stopped'],
        ['start', 'running'],
        ['pause', 'paused'],
        ['resume', 'running'],
      ] as const) {
        const run = await hearth(['vm', verb, 'db']);
        expect(run.code, run.stderr).toBe(0);
        expect(run.stdout).toMatch(new RegExp(` ${state}\\n$`));
      }
      const events = await hearth(['vm', 'events', 'db']);
      expect(events.stdout).toMatch(/\tpaused → running\t/);
      expect((await hearth(['vm', 'rm', 'db'])).code).toBe(0);
      expect((await hearth(['vm', 'get', 'db'])).code).toBe(3);
    });

    it("lists events and the audit log, shows a token, makes a join token, lists a host's resources, and refuses to remove a live host", async () => {
      const web = await json<{ id: string; hostId: string }>(['vm', 'get', 'web']);
      const events = await hearth(['event', 'ls', '--vm', 'web']);
      expect(events.code, events.stderr).toBe(0);
      expect(events.stdout).toMatch(/\tvm\.state_changed\tstarting → running\t/);
      const created = await hearth(['-o', 'json', 'event', 'ls', '--type', 'vm.created']);
      const createdEvents = created.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { type: string; vmId: string });
      expect(new Set(createdEvents.map((event) => event.type))).toEqual(new Set(['vm.created']));
      expect(createdEvents.map((event) => event.vmId)).toContain(web.id);

      const audit = await json<{ action: string; outcome: string; target: string | null }[]>([
        'audit',
        'ls',
        '--action',
        'POST /v1/vms',
      ]);
      expect(audit.length).toBeGreaterThanOrEqual(2);
      expect(audit.every((entry) => entry.action === 'POST /v1/vms' && entry.outcome === 'succeeded')).toBe(true);
      expect(await json<unknown[]>(['audit', 'ls', '--last', '1'])).toHaveLength(1);

      const whoami = await json<{ tokenId: string; tokenName: string }>(['token', 'whoami']);
      expect(await json<{ id: string; name: string }>(['token', 'get', whoami.tokenId])).toMatchObject({
        id: whoami.tokenId,
        name: whoami.tokenName,
      });
      const mine = await json<{ tokenId: string | null }[]>(['audit', 'ls', '--token', whoami.tokenName, '--last', '3']);
      expect(mine.map((entry) => entry.tokenId)).toEqual([whoami.tokenId, whoami.tokenId, whoami.tokenId]);
      // A token by its name, as every other resource.
      const shortLived = await json<{ id: string }>(['token', 'create', 'short-lived', '--scope', 'vms:read']);
      expect((await hearth(['token', 'revoke', 'short-lived'])).code).toBe(0);
      expect(await json<{ id: string; revokedAt: string | null }>(['token', 'get', 'short-lived'])).toMatchObject({
        id: shortLived.id,
        revokedAt: expect.any(String) as unknown,
      });
      const joinToken = await json<{ token: string; expiresAt: string }>(['host', 'join-token', '--ttl', '60']);
      expect(joinToken.token.length).toBeGreaterThan(20);
      expect(Date.parse(joinToken.expiresAt) - Date.now()).toBeLessThanOrEqual(60_000);

      const [host] = await json<{ name: string }[]>(['host', 'ls']);
      const resources = await json<{ items: { vmId: string; kind: string }[] }>(['host', 'resources', host!.name]);
      expect(resources.items).toContainEqual(expect.objectContaining({ vmId: web.id, kind: 'tap' }));
      const removal = await hearth(['host', 'rm', host!.name]);
      expect([removal.code, removal.stderr]).toEqual([1, expect.stringContaining('HOST_STILL_ACTIVE')]);
    });

    it('exits 5 when a wait ends without the state, and 1 with the problem when the Manager refuses', async () => {
      const wait = await hearth(['vm', 'wait', 'web', '--state', 'stopped', '--timeout', '1']);
      expect(wait.code).toBe(5);
      const refused = await hearth(['token', 'create', 'bad', '--scope', 'no-such-scope']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/^hearth: VALIDATION_FAILED: .*correlation id/);
      const unauthenticated = await hearth(['-o', 'json', 'vm', 'ls'], { HEARTH_TOKEN: `hth_${'Z'.repeat(43)}` });
      expect(unauthenticated.code).toBe(1);
      expect(JSON.parse(unauthenticated.stderr)).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
      expect((await hearth(['vm', 'frobnicate'])).code).toBe(2);
      expect((await hearth(['vm', 'ls'], { HEARTH_URL: undefined, HEARTH_TOKEN: undefined })).code).toBe(6);
    });

    it('keeps contexts in its config file, with HEARTH_URL and HEARTH_TOKEN over them', async () => {
      const env = { HEARTH_URL: undefined, HEARTH_TOKEN: undefined };
      expect((await hearth(['context', 'set', 'local', '--url', stack.managerUrl, '--token', stack.adminToken], env)).code).toBe(
        0,
      );
      const whoami = await hearth(['-o', 'json', 'token', 'whoami'], env);
      expect(whoami.code, whoami.stderr).toBe(0);
      expect(JSON.parse(whoami.stdout)).toMatchObject({ scopes: expect.arrayContaining(['vms:write']) as unknown });
      expect((await hearth(['vm', 'ls'], { ...env, HEARTH_TOKEN: 'hth_wrong' })).code).toBe(1);
      const elsewhere = await hearth(['vm', 'ls'], { ...env, HEARTH_URL: 'http://127.0.0.1:9' });
      expect([elsewhere.code, elsewhere.stderr]).toEqual([1, expect.stringContaining('fetch failed')]);
      // The token is a secret: the file is the user's alone.
      expect(statSync(path.join(configHome, 'hearth', 'config.json')).mode & 0o777).toBe(0o600);
      expect((await hearth(['context', 'ls'], env)).stdout).toMatch(/\*\s+local\s+http/);
    });

    it('lists, cordons and uncordons hosts by name', async () => {
      const hosts = await json<{ id: string; name: string; isCordoned: boolean }[]>(['host', 'ls']);
      expect(hosts).toHaveLength(1);
      expect((await hearth(['host', 'cordon', hosts[0]!.name])).code).toBe(0);
      expect((await json<{ isCordoned: boolean }>(['host', 'get', hosts[0]!.name])).isCordoned).toBe(true);
      expect((await hearth(['host', 'uncordon', hosts[0]!.id])).code).toBe(0);
      expect((await json<{ isCordoned: boolean }>(['host', 'get', hosts[0]!.name])).isCordoned).toBe(false);
    });

    it("prints a host's Agent metrics, read through the Manager, in the Prometheus text format", async () => {
      const [host] = await json<{ name: string }[]>(['host', 'ls']);
      const run = await hearth(['host', 'metrics', host!.name]);
      expect(run.code, run.stderr).toBe(0);
      expect(parsePrometheusText(run.stdout).get('hearth_agent_vms')?.type).toBe('gauge');
    });

    it('creates a project with a quota, changes the quota and deletes the project', async () => {
      const created = await json<{ name: string; quota: { maxVms: number | null } }>([
        'project',
        'create',
        'team-cli',
        '--max-vms',
        '2',
      ]);
      expect(created).toMatchObject({ name: 'team-cli', quota: { maxVms: 2, maxVcpus: null } });
      const changed = await json<{ quota: { maxVms: number | null } }>(['project', 'quota', 'team-cli', '--max-vms', 'none']);
      expect(changed.quota.maxVms).toBeNull();
      expect((await hearth(['project', 'ls'])).stdout).toMatch(/^team-cli +no limit/m);
      expect((await hearth(['project', 'rm', 'team-cli'])).code).toBe(0);
      expect((await hearth(['project', 'get', 'team-cli'])).code).toBe(1);
    });

    it("replaces a VM's egress policy and rate limits by its name, refuses bad entries as usage, and shows both", async () => {
      const created = await json<{ rateLimits: unknown }>([
        'vm',
        'create',
        'walled',
        '--kernel',
        'vmlinux',
        '--rootfs',
        'base',
        '--limit',
        'drive.ops=500/1000+2000',
      ]);
      expect(created.rateLimits).toEqual({ drive: { ops: { size: 500, refillTimeMs: 1000, oneTimeBurst: 2000 } } });
      const denied = await hearth(['vm', 'egress', 'walled', '--deny-all']);
      expect(denied.code, denied.stderr).toBe(0);
      expect(denied.stdout).toMatch(/egress deny_all/);
      const listed = await json<{ egress: unknown }>(['vm', 'egress', 'walled', '--allow', '203.0.113.0/24:tcp:80,443']);
      expect(listed.egress).toEqual({
        mode: 'allow_list',
        rules: [{ cidr: '203.0.113.0/24', protocol: 'tcp', ports: [80, 443] }],
      });
      // Changed live through the host's Firecracker (PATCH of the interface and the drive).
      const limited = await hearth(['vm', 'limits', 'walled', '--limit', 'net-tx.bandwidth=1250000/100', '--unlimit', 'drive']);
      expect(limited.code, limited.stderr).toBe(0);
      expect(limited.stdout).toMatch(/rate limits net-tx\.bandwidth=1250000\/100$/m);
      const shown = (await hearth(['vm', 'get', 'walled'])).stdout;
      expect(shown).toMatch(/egress: +allow_list 203\.0\.113\.0\/24:tcp:80,443/);
      expect(shown).toMatch(/rate limits: +net-tx\.bandwidth=1250000\/100/);
      expect((await hearth(['vm', 'egress', 'walled', '--allow', '10.0.0.0/8:icmp'])).code).toBe(2);
      expect((await hearth(['vm', 'egress', 'walled'])).code).toBe(2);
      expect((await hearth(['vm', 'limits', 'walled', '--limit', 'disk.ops=1/1'])).code).toBe(2);
      expect((await hearth(['vm', 'rm', 'walled'])).code).toBe(0);
    });

    it("shows a VM's serial console (the guest's boot log) to its project only, and removes its log with the VM", async () => {
      const vm = await json<{ id: string }>(['vm', 'create', 'serial', '--kernel', 'vmlinux', '--rootfs', 'base']);
      const logs = await hearth(['vm', 'logs', 'serial']);
      expect(logs.code, logs.stderr).toBe(0);
      expect(logs.stdout).toMatch(/\r?\nLinux version .*\r\nCommand line: console=ttyS0 /);
      expect(logs.stdout).toMatch(/login: $/);
      expect((await hearth(['vm', 'logs', 'serial', '--bytes', '7'])).stdout).toBe('login: ');
      expect((await json<{ console: string }>(['vm', 'logs', 'serial'])).console).toBe(logs.stdout);

      expect((await stack.api('POST', '/v1/projects', { name: 'other-team' })).status).toBe(201);
      const other = await json<{ secret: string }>([
        'token',
        'create',
        'outsider',
        '--scope',
        'vms:read',
        '--project',
        'other-team',
      ]);
      const foreign = await hearth(['-o', 'json', 'vm', 'logs', vm.id], { HEARTH_TOKEN: other.secret });
      expect(foreign.code).toBe(3);
      expect(foreign.stdout).toBe('');
      const direct = await stack.api('GET', `/v1/vms/${vm.id}/console`, undefined, { authorization: `Bearer ${other.secret}` });
      expect(direct.status).toBe(404);
      expect(direct.body).toMatchObject({ code: 'VM_NOT_FOUND' });

      const stdoutLog = path.join(stack.runDir, 'vms', vm.id, 'stdout.log');
      expect(existsSync(stdoutLog)).toBe(true);
      expect((await hearth(['vm', 'rm', 'serial'])).code).toBe(0);
      expect(existsSync(stdoutLog)).toBe(false);
    });

    it('creates a VM from a template by name, snapshots it, restores and clones it, makes a template of the snapshot, and removes all', async () => {
      const template = await json<{ id: string; version: number }>(
        'template create small --kernel vmlinux --rootfs base --memory 192 --description tiny --egress deny --limit net-tx.bandwidth=1250000/100'.split(
          ' ',
        ),
      );
      const changed = await hearth(['template', 'set', 'small', '--vcpus', '1', '--restart', 'never']);
      expect(changed.code, changed.stderr).toBe(0);
      expect(changed.stdout).toContain(`${template.id} is at version ${template.version + 1}`);
      const vm = await json<{ id: string; state: string; vcpuCount: number; memoryMib: number; restartPolicy: string }>(
        'vm create from-template --template small --memory 160 --wait'.split(' '),
      );
      // The template's values, network settings included, and what was given in its place.
      expect(vm).toMatchObject({
        state: 'running',
        vcpuCount: 1,
        memoryMib: 160,
        restartPolicy: 'never',
        egress: { mode: 'deny_all' },
        rateLimits: { networkTx: { bandwidth: { size: 1_250_000, refillTimeMs: 100 } } },
      });

      const snapshot = await json<{ id: string; state: string; vmId: string }>(['snapshot', 'create', 'from-template']);
      expect(snapshot).toMatchObject({ state: 'ready', vmId: vm.id });
      const expiring = await json<{ expiresAt: string | null }>(['snapshot', 'expire', snapshot.id, '--in', '3600']);
      expect(Date.parse(expiring.expiresAt ?? '') - Date.now()).toBeGreaterThan(3_500_000);
      expect((await json<{ expiresAt: string | null }>(['snapshot', 'expire', snapshot.id, '--never'])).expiresAt).toBeNull();
      const malformed = await hearth(['snapshot', 'expire', snapshot.id, '--in', 'soon']);
      expect([malformed.code, malformed.stderr]).toEqual([2, expect.stringContaining('whole number of seconds')]);
      const listed = await json<{ id: string }[]>(['snapshot', 'ls', '--vm', 'from-template']);
      expect(listed.map((item) => item.id)).toEqual([snapshot.id]);
      const shown = await hearth(['snapshot', 'get', snapshot.id.slice(0, 'snap_'.length + 20)]);
      expect(shown.code, shown.stderr).toBe(0);
      expect(shown.stdout).toMatch(/^paused for: +[0-9.]+ ms$/m);
      const restored = await json<{ id: string; state: string; pendingRestore: unknown }>([
        'vm',
        'restore',
        'from-template',
        snapshot.id.slice(0, 'snap_'.length + 20),
        '--paused',
      ]);
      expect(restored).toMatchObject({ id: vm.id, state: 'paused', pendingRestore: null });

      // Clones of the snapshot, by --snapshot and by a template that carries it.
      const clones = await json<Array<{ name: string; state: string; restoredFrom: unknown }>>([
        'vm',
        'create',
        'fork',
        '--snapshot',
        snapshot.id.slice(0, 'snap_'.length + 20),
        '--count',
        '2',
        '--wait',
      ]);
      expect(clones.map((clone) => [clone.name, clone.state])).toEqual([
        ['fork-1', 'running'],
        ['fork-2', 'running'],
      ]);
      const warm = await json<{ id: string; snapshotId: string; vcpuCount: number; memoryMib: number }>([
        'template',
        'create',
        'warm',
        '--snapshot',
        snapshot.id,
      ]);
      expect(warm).toMatchObject({ snapshotId: snapshot.id, vcpuCount: 1, memoryMib: 160 });
      for (const name of ['fork-1', 'fork-2']) expect((await hearth(['vm', 'rm', name])).code).toBe(0);
      const fromWarm = await json<{ state: string; templateId: string; restoredFrom: { snapshotId: string } }>(
        'vm create warm-a --template warm --wait'.split(' '),
      );
      expect(fromWarm).toMatchObject({ state: 'running', templateId: warm.id, restoredFrom: { snapshotId: snapshot.id } });
      expect((await hearth(['template', 'set', 'warm', '--snapshot', 'none'])).code).toBe(0);
      expect((await hearth(['vm', 'rm', 'warm-a'])).code).toBe(0);
      expect((await hearth(['template', 'rm', 'warm'])).code).toBe(0);
      // The VM restored in place from it maps its memory file: the snapshot stays until the VM stops.
      const refused = await hearth(['snapshot', 'rm', snapshot.id]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('SNAPSHOT_IN_USE');
      expect((await hearth(['vm', 'stop', 'from-template'])).code).toBe(0);
      expect((await hearth(['snapshot', 'rm', snapshot.id])).code).toBe(0);
      expect((await hearth(['snapshot', 'get', snapshot.id])).code).toBe(3);

      expect((await hearth(['vm', 'rm', 'from-template'])).code).toBe(0);
      expect((await hearth(['template', 'rm', 'small'])).code).toBe(0);
      expect(await json<unknown[]>(['template', 'ls'])).toEqual([]);
    });
  },
);
