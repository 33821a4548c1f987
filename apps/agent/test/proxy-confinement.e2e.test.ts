import { chmod, lstat, mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  agentMain,
  createAgentProcess,
  createNetns,
  firecrackerDoubleBin,
  missingRequirements,
  repoRoot,
  type HearthProcess,
  type Netns,
} from '@hearth/testkit';
import { doubleUnavailableReason, makeImages, makeTempDir, specFor, type ImageFiles } from './support.js';

const skipReason =
  missingRequirements({ root: true, commands: ['ip'] }) ??
  doubleUnavailableReason(repoRoot, firecrackerDoubleBin) ??
  (existsSync(agentMain) ? undefined : 'the Agent is not built (npm run build)');

interface Problem {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly correlationId: string;
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

describe.skipIf(skipReason)(
  `the Agent's Firecracker proxy confines host paths, over a real Agent and the Firecracker double${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    let netns: Netns;
    let directory: string;
    let runDir: string;
    let outside: string;
    let images: ImageFiles;
    let agent: HearthProcess;
    const appliedVmId = 'vm_01JPR0XYC0NF1NEDAAAAAAAAA0';
    const steppedVmId = 'vm_01JPR0XYC0NF1NEDAAAAAAAAA1';

    async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown; type: string }> {
      const response = await fetch(`${agent.url}/agent/v1${path}`, {
        method,
        ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      });
      const text = await response.text();
      return {
        status: response.status,
        json: text === '' ? undefined : (JSON.parse(text) as unknown),
        type: response.headers.get('content-type') ?? '',
      };
    }

    async function expectRefused(
      response: { status: number; json: unknown; type: string },
      status: number,
      code: string,
      hidden: readonly string[] = [runDir],
    ): Promise<Problem> {
      expect(response.status, JSON.stringify(response.json)).toBe(status);
      expect(response.type).toContain('application/problem+json');
      const problem = response.json as Problem;
      expect(problem).toMatchObject({ status, code });
      expect(problem.correlationId).toEqual(expect.any(String));
      // Nothing of the host's layout beyond what the caller sent.
      for (const path of hidden) expect(problem.detail).not.toContain(path);
      return problem;
    }

    beforeAll(async () => {
      netns = await createNetns();
      directory = await makeTempDir();
      runDir = join(directory, 'run');
      outside = join(directory, 'outside');
      await mkdir(outside, { recursive: true });
      images = await makeImages(directory);
      agent = await createAgentProcess({
        name: 'proxy-host',
        managerUrl: '',
        netns,
        bridge: 'pxbr0',
        bridgeCidr: '172.31.7.1/24',
        runDir,
        imageRoot: images.root,
        logFile: join(directory, 'agent.log'),
        env: { AGENT_REGISTER: 'false' },
      });
      await agent.start();
    });

    afterAll(async () => {
      try {
        for (const vmId of [appliedVmId, steppedVmId]) {
          if (agent !== undefined) await fetch(`${agent.url}/agent/v1/vms/${vmId}`, { method: 'DELETE' }).catch(() => undefined);
        }
      } finally {
        await agent?.stop();
        await netns?.destroy();
        if (directory !== undefined) await rm(directory, { recursive: true, force: true });
      }
    });

    it('refuses a snapshot over a root-owned file outside the VM directory of a paused VM, leaving the file as it was', async () => {
      const victim = join(outside, 'root-only.conf');
      await writeFile(victim, 'precious\n', { mode: 0o600 });
      await chmod(victim, 0o600);
      expect((await call('PUT', `/vms/${appliedVmId}`, specFor(images))).status).toBe(200);
      expect((await call('PATCH', `/vms/${appliedVmId}/proxy/vm`, { state: 'Paused' })).status).toBe(204);

      const response = await call('PUT', `/vms/${appliedVmId}/proxy/snapshot/create`, {
        snapshot_path: victim,
        mem_file_path: join(outside, 'memory'),
      });

      const problem = await expectRefused(response, 403, 'PROXY_PATH_FORBIDDEN');
      expect(problem.detail).toContain(victim);
      expect(await readFile(victim, 'utf8')).toBe('precious\n');
      expect(await exists(join(outside, 'memory'))).toBe(false);
    });

    it('refuses to change the logger the Agent configured', async () => {
      const response = await call('PUT', `/vms/${appliedVmId}/proxy/logger`, { log_path: join(outside, 'applied.log') });

      await expectRefused(response, 409, 'PROXY_OVERRIDES_AGENT_CONFIG');
      expect(await exists(join(outside, 'applied.log'))).toBe(false);
    });

    it('refuses a logger path outside the run directory on a VMM started step by step, and none appears', async () => {
      expect((await call('POST', `/vms/${steppedVmId}/tap`)).status).toBe(200);
      expect((await call('POST', `/vms/${steppedVmId}/spawn`)).status).toBe(200);
      const logPath = join(outside, 'planted.log');

      const response = await call('PUT', `/vms/${steppedVmId}/proxy/logger`, { log_path: logPath, level: 'Info' });

      await expectRefused(response, 403, 'PROXY_PATH_FORBIDDEN');
      expect(await exists(logPath)).toBe(false);
    });

    it('refuses /etc/shadow as a drive', async () => {
      const response = await call('PUT', `/vms/${steppedVmId}/proxy/drives/rootfs`, {
        drive_id: 'rootfs',
        path_on_host: '/etc/shadow',
        is_root_device: true,
        is_read_only: true,
      });

      await expectRefused(response, 403, 'PROXY_PATH_FORBIDDEN');
      const config = await call('GET', `/vms/${steppedVmId}/proxy/vm/config`);
      expect((config.json as { drives: unknown[] }).drives).toEqual([]);
    });

    it('refuses a symlink in the VM directory that leads outside it', async () => {
      const link = join(runDir, 'vms', steppedVmId, 'escape');
      await symlink(outside, link);

      const response = await call('PUT', `/vms/${steppedVmId}/proxy/logger`, { log_path: join(link, 'via-link.log') });

      await expectRefused(response, 403, 'PROXY_PATH_FORBIDDEN', [outside]);
      expect(await exists(join(outside, 'via-link.log'))).toBe(false);
    });

    it('takes a snapshot inside the VM directory, reports its files and removes them when the VM is deleted', async () => {
      const vmDirectory = join(runDir, 'vms', appliedVmId);
      const snapshot = { snapshot_path: join(vmDirectory, 'snap.state'), mem_file_path: join(vmDirectory, 'snap.mem') };

      const response = await call('PUT', `/vms/${appliedVmId}/proxy/snapshot/create`, snapshot);

      expect(response.status, JSON.stringify(response.json)).toBe(204);
      expect(await exists(snapshot.snapshot_path)).toBe(true);
      expect(await exists(snapshot.mem_file_path)).toBe(true);
      const described = (await call('GET', `/vms/${appliedVmId}`)).json as { resources: { kind: string; ref: string }[] };
      expect(described.resources.filter((resource) => resource.kind === 'file').map((resource) => resource.ref)).toEqual([
        snapshot.snapshot_path,
        snapshot.mem_file_path,
      ]);
      // The inventory, which the Manager's host resource ledger is read from, lists them too.
      const inventory = (await call('GET', '/inventory')).json as {
        vms: { vmId: string; resources: { kind: string; ref: string }[] }[];
      };
      const listed = inventory.vms.find((vm) => vm.vmId === appliedVmId)?.resources ?? [];
      expect(listed.filter((resource) => resource.kind === 'file')).toHaveLength(2);

      const deleted = await call('DELETE', `/vms/${appliedVmId}`);

      expect(deleted.status, JSON.stringify(deleted.json)).toBe(200);
      const removed = (deleted.json as { removed: { kind: string; ref: string }[] }).removed;
      expect(removed).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ kind: 'file', ref: snapshot.snapshot_path }),
          expect.objectContaining({ kind: 'file', ref: snapshot.mem_file_path }),
        ]),
      );
      expect(await exists(vmDirectory)).toBe(false);
      expect(await readdir(join(runDir, 'vms'))).not.toContain(appliedVmId);
    });
  },
);
