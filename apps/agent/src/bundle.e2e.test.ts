import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  agentMain,
  createNetns,
  firecrackerDoubleBin,
  freePort,
  missingRequirements,
  startProcess,
  waitFor,
} from '@hearth/testkit';

const skipReason =
  missingRequirements({ root: true, commands: ['ip'] }) ??
  (existsSync(agentMain) ? undefined : 'the Agent is not built (npm run build)');
const packageVersion = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
  .version;

describe.skipIf(skipReason)(`the bundled Agent${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('runs from its one file, copied alone to another directory, and reports its package version', async () => {
    const directory = mkdtempSync(path.join(os.tmpdir(), 'hearth-bundle-'));
    const netns = await createNetns();
    try {
      const file = path.join(directory, 'hearth-agent.mjs');
      copyFileSync(agentMain, file);
      const url = `http://127.0.0.1:${await freePort()}`;
      const agent = startProcess(['node', file], {
        env: {
          AGENT_BIND: url.slice('http://'.length),
          AGENT_REGISTER: 'false',
          FC_RUN_DIR: path.join(directory, 'fc'),
          FC_BRIDGE: 'hbr0',
          FC_NETNS: netns.name,
          FIRECRACKER_BIN: firecrackerDoubleBin,
          AGENT_IMAGE_ROOT: directory,
          AGENT_SPAWN_MODE: 'direct',
        },
      });
      try {
        let health: { facts?: { agentVersion?: string } } = {};
        await waitFor(
          async () => {
            const response = await fetch(`${url}/agent/v1/health`).catch(() => undefined);
            if (response?.status !== 200) return false;
            health = (await response.json()) as typeof health;
            return true;
          },
          { timeoutMs: 20_000, description: () => `the copied Agent answers /health\n${agent.output()}` },
        );
        expect(health.facts?.agentVersion).toBe(packageVersion);
      } finally {
        await agent.stop();
      }
    } finally {
      await netns.destroy();
      rmSync(directory, { recursive: true, force: true });
    }
  }, 40_000);
});
