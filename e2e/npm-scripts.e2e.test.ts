import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import { promisify } from 'node:util';
import path from 'node:path';
import {
  createNetns,
  descendantPids,
  freePort,
  missingRequirements,
  repoRoot,
  waitFor,
  waitForPidsToExit,
  type Netns,
} from '@hearth/testkit';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { endRun, npmRun, type NpmRun } from './support/npm-run.js';
import { request } from './support/http.js';

/** Lines that are JSON log records below `warn` (pino level 40). */
function infoLogLines(output: string): string[] {
  return output.split('\n').filter((line) => /"level":(10|20|30)\b/.test(line));
}

const execFileAsync = promisify(execFile);

/** The lines of the README's first `hearth` CLI example, without comments. */
function readmeCliSteps(): string[] {
  const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## The `hearth` CLI'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  return block
    .split('\n')
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

const startSkip = missingRequirements({ root: true, commands: ['ip', 'mkfs.ext4', 'npm'] });

describe.skipIf(startSkip)(`npm start over real processes${startSkip ? ` (skipped: ${startSkip})` : ''}`, () => {
  let run: NpmRun | undefined;
  let netns: Netns | undefined;
  let workDir: string | undefined;
  // One embedded database for the file: its first start (initdb, migrations) is the slow part.
  let sharedDataDir: string | undefined;

  afterAll(() => {
    if (sharedDataDir !== undefined) rmSync(path.dirname(sharedDataDir), { recursive: true, force: true });
  });

  afterEach(async () => {
    await endRun(run);
    await netns?.destroy();
    if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
    run = undefined;
    netns = undefined;
    workDir = undefined;
  });

  async function startHearth(): Promise<{ managerUrl: string; agentUrl: string; bridge: string }> {
    netns = await createNetns();
    workDir = mkdtempSync(path.join(os.tmpdir(), 'hearth-npm-start-'));
    const [managerPort, agentPort] = [await freePort(), await freePort()];
    const managerUrl = `http://127.0.0.1:${managerPort}`;
    const bridge = 'hstart0';
    sharedDataDir ??= path.join(mkdtempSync(path.join(os.tmpdir(), 'hearth-npm-start-db-')), 'manager');
    const dataDir = sharedDataDir;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      MANAGER_BIND: `127.0.0.1:${managerPort}`,
      AGENT_BIND: `127.0.0.1:${agentPort}`,
      MANAGER_DATA_DIR: dataDir,
      // ./data/images as under `npm start` in a checkout: the README's steps make their files there.
      MANAGER_IMAGE_ROOT: path.join(workDir, 'data', 'images'),
      // Beside the database, as `npm start` keeps them (./data/manager, ./data/fc): the Agent's identity
      // lives in its run directory, so each run is the same host again, as a restart on one machine is.
      FC_RUN_DIR: path.join(path.dirname(dataDir), 'fc'),
      // The bridge, the TAPs and the VMMs go into the test's namespace, never the host's.
      FC_NETNS: netns.name,
      FC_BRIDGE: bridge,
      FC_BRIDGE_ADDR: '172.31.7.1/24',
      // The Firecracker double, whatever this machine has on PATH.
      PATH: (process.env['PATH'] ?? '')
        .split(':')
        .filter((dir) => !existsSync(path.join(dir, 'firecracker')))
        .join(':'),
    };
    delete env['FIRECRACKER_BIN'];
    delete env['DATABASE_URL'];
    delete env['MANAGER_LOG_LEVEL'];
    delete env['AGENT_LOG_LEVEL'];
    run = npmRun('start', env);
    const current = run;
    // It builds first (incremental), then the embedded database's first start: minutes on a busy machine.
    // Its banner's last line: the lines before it (the token, the commands to try) may reach this
    // process in a later read than "Hearth is up".
    await waitFor(() => current.output().includes('Ctrl-C stops the Manager') || current.npm.exitCode !== null, {
      timeoutMs: 240_000,
      description: 'npm start says Hearth is up',
    }).catch((error: Error) => {
      throw new Error(`${error.message}; it said:\n${current.output()}`);
    });
    expect(current.npm.exitCode, current.output()).toBeNull();
    // The Agent joined the cluster by itself and serves HTTPS to the Manager's certificate only.
    return { managerUrl, agentUrl: `https://127.0.0.1:${agentPort}`, bridge };
  }

  /**
   * Runs one line of the README's CLI block as bash runs it in `checkout` (the directory `npm start`
   * runs in): `npx hearth` is the file npm links, `sudo` runs the command as it is (the test is root),
   * and the CLI keeps its contexts in `checkout`. Resolves with its exit code and output.
   */
  async function readmeLine(
    line: string,
    managerUrl: string,
    token: string,
    checkout: string,
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    const prelude = 'npx() { [ "$1" = hearth ] && shift; "$HEARTH_BIN" "$@"; }; sudo() { "$@"; };';
    return new Promise((resolve) => {
      const child = execFile(
        'bash',
        ['-c', `${prelude}\n${line}`],
        {
          cwd: checkout,
          env: {
            ...process.env,
            HEARTH_BIN: path.join(repoRoot, 'apps/cli/bin/hearth.mjs'),
            HEARTH_URL: managerUrl,
            HEARTH_TOKEN: token,
            XDG_CONFIG_HOME: path.join(checkout, 'config'),
          },
          timeout: 120_000,
        },
        (error, stdout, stderr) =>
          resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr }),
      );
      // No input: `hearth vm console` shows the console and detaches at its end.
      child.stdin?.end();
    });
  }

  /**
   * The README's CLI block, line by line as it writes them, each to exit 0: make a kernel and a rootfs
   * in ./data/images, register them, `hearth vm create --wait`, and every command after it. Lines that
   * follow a VM until interrupted (`--follow`) are left out; `hearth vm console` gets no input, so it
   * shows the console and detaches. `<snapshot>` and `<host>` are the ones the lines before made.
   */
  async function runReadme(managerUrl: string, agentUrl: string, checkout: string): Promise<{ hostName: string; token: string }> {
    // The admin token the Manager made at its first start, where `npm start` says it is.
    const tokenFile = path.join(sharedDataDir!, 'admin-token');
    const token = readFileSync(tokenFile, 'utf8').trim();
    expect(run?.output()).toContain(`export HEARTH_URL=${managerUrl} HEARTH_TOKEN=$(cat ${tokenFile})`);
    expect(run?.output()).toContain('npx hearth host ls');
    // `npm start` keeps the database in ./data/manager, where the README reads the token.
    symlinkSync(sharedDataDir!, path.join(checkout, 'data', 'manager'));
    const asAdmin = { authorization: `Bearer ${token}` };
    const host = await waitFor(
      async () => {
        const hosts = await request<{
          items: Array<{ name: string; status: string; addr: string; facts: Record<string, unknown> }>;
        }>(managerUrl, 'GET', '/v1/hosts', undefined, asAdmin);
        return hosts.body.items.find((each) => each.status === 'healthy' && each.addr === agentUrl);
      },
      // The same Agent at a new address is taken for itself once the old address has fallen silent
      // (a live clone elsewhere is refused): up to a few heartbeat intervals.
      { timeoutMs: 60_000, description: 'the local Agent is a healthy host at its address' },
    );
    // The host says it runs the double, not Firecracker.
    expect(host.facts).toMatchObject({ hasFirecracker: true, firecrackerKind: 'double', firecrackerVersion: '1.16.1' });
    const snapshotOf = async (vmName: string): Promise<string> => {
      const vms = await request<{ items: Array<{ id: string }> }>(
        managerUrl,
        'GET',
        `/v1/vms?name=${vmName}`,
        undefined,
        asAdmin,
      );
      const snapshots = await request<{ items: Array<{ id: string }> }>(
        managerUrl,
        'GET',
        `/v1/snapshots?vmId=${vms.body.items[0]!.id}`,
        undefined,
        asAdmin,
      );
      return snapshots.body.items[0]!.id;
    };
    const lines = readmeCliSteps().filter((line) => !line.includes('--follow'));
    expect(
      lines.filter((line) => /^npx hearth vm create \S+ .*--wait/.test(line)),
      'the README creates a VM with --wait',
    ).not.toEqual([]);
    let created = false;
    for (const line of lines) {
      let command = line.replace('<host>', host.name);
      if (command.includes('<snapshot>')) command = command.replaceAll('<snapshot>', await snapshotOf('api'));
      const result = await readmeLine(command, managerUrl, token, checkout);
      expect(result.code, `${line}\n${result.stdout}${result.stderr}`).toBe(0);
      if (!created && /^npx hearth vm create \S+ .*--wait/.test(line)) {
        created = true;
        // Each state, then each host step's time, as the README shows.
        expect(result.stdout).toMatch(/starting → running\n/);
        expect(result.stdout).toMatch(/host steps:\n(?: {2}\S+ +\d.* ms\n)+/);
      }
    }
    return { hostName: host.name, token };
  }

  /** The processes under the npm process now: npm, the script, the Manager and the Agent. */
  function processesOf(current: NpmRun): number[] {
    const children = descendantPids(current.npm.pid as number);
    expect(children.length, 'npm, the script, the Manager and the Agent').toBeGreaterThanOrEqual(3);
    return children;
  }

  /** Sends `signal` to the npm process: npm ends within 15 s, and every process in `children` within 5 s more. */
  async function expectStopsOn(signal: 'SIGINT' | 'SIGTERM', current: NpmRun, children: readonly number[]): Promise<void> {
    process.kill(current.npm.pid as number, signal);
    const exit = await Promise.race([current.exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), 15_000))]);
    expect(exit, `npm still runs 15 s after ${signal}:\n${current.output()}`).not.toBeNull();
    await expect(waitForPidsToExit(children, 5_000)).resolves.toBeUndefined();
  }

  it('SIGINT to the npm process stops the Manager and the Agent within seconds', { timeout: 300_000 }, async () => {
    await startHearth();
    const current = run as NpmRun;
    await expectStopsOn('SIGINT', current, processesOf(current));
  });

  it(
    'logs no heartbeat or request at info by default, stops on SIGTERM within seconds, and says what stays after it',
    // The README's whole CLI block, some 30 commands, each a new Node.js process: minutes on a busy machine.
    { timeout: 480_000 },
    async () => {
      const { managerUrl, agentUrl, bridge } = await startHearth();
      const current = run as NpmRun;
      // Before the VM: its VMM stays when the Agent stops.
      const children = processesOf(current);
      // A create, and the heartbeat and inventory rounds that brought the host to healthy, all ran.
      const { hostName, token } = await runReadme(managerUrl, agentUrl, workDir as string);
      // The README ends by draining the host: one VM running again, for what stays after the stop.
      const stays = await readmeLine(
        `npx hearth host uncordon ${hostName} && npx hearth vm create stays --template small --wait`,
        managerUrl,
        token,
        workDir as string,
      );
      expect(stays.code, stays.stderr).toBe(0);
      expect(infoLogLines(current.output())).toEqual([]);
      // npm start set up trust by itself: the Agent joined with a token and keeps its key to itself.
      const trustFile = path.join(path.dirname(sharedDataDir as string), 'fc', 'agent-trust.json');
      expect(statSync(trustFile).mode & 0o777).toBe(0o600);
      await expect(fetch(`${agentUrl}/agent/v1/inventory`, { signal: AbortSignal.timeout(5_000) })).rejects.toThrow();

      await expectStopsOn('SIGTERM', current, children);
      const output = current.output();
      const { stdout } = await (netns as Netns).exec(['ip', '-o', 'link', 'show', 'type', 'tun']);
      const tap = /^\d+: ([^:@]+)/m.exec(stdout)?.[1];
      expect(tap, 'the VM and its TAP stay (the Agent leaves VMs running)').toBeDefined();
      expect(output).toMatch(/1 VM .*stays? running/);
      expect(output).toContain(tap as string);
      expect(output).toContain(`ip -n ${(netns as Netns).name} link delete ${bridge}`);
      // What it says to run removes everything: the VMM, its TAP, the bridge and the firewall tables.
      const commands = [...output.matchAll(/(?:^\[start\] +|remove it with: )sudo (.+)$/gm)].map((match) => match[1]!);
      expect(commands.some((command) => command.includes('nft delete table bridge hearth'))).toBe(true);
      for (const command of commands) await execFileAsync('bash', ['-c', command]);
      const links = await (netns as Netns).exec(['ip', '-o', 'link', 'show']);
      expect(
        links.stdout
          .trim()
          .split('\n')
          .map((line) => /^\d+: ([^:@]+)/.exec(line)?.[1]),
      ).toEqual(['lo']);
      expect((await (netns as Netns).exec(['nft', 'list', 'tables'])).stdout.trim()).toBe('');
    },
  );
});
