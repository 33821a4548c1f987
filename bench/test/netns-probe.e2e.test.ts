import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createNetns, missingRequirements, type Netns } from '@hearth/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsProbe } from '../src/netns-probe.js';

const skipReason = missingRequirements({ root: true, commands: ['ip'] });

/** An HTTP server inside the namespace, on its loopback: `/` answers `body`, anything else 404. */
function serveInside(netns: Netns, port: number, body: string): void {
  const script =
    `require('node:http').createServer((q, s) => { s.statusCode = q.url === '/' ? 200 : 404; s.end(${JSON.stringify(body)}); })` +
    `.listen(${port}, '127.0.0.1')`;
  netns.spawn([process.execPath, '-e', script], { stdio: 'ignore' });
}

describe.skipIf(skipReason !== undefined)(
  `a probe inside a network namespace${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    let netns: Netns;
    let probe: NetnsProbe;

    beforeAll(async () => {
      netns = await createNetns();
      probe = await NetnsProbe.start(netns);
    });

    afterAll(async () => {
      await probe?.close();
      await netns?.destroy();
    });

    it('waits for a server that starts after it began polling, and answers its body', async () => {
      const answered = probe.answered('http://127.0.0.1:8081/', { expected: 'hello', timeoutMs: 20_000 });
      serveInside(netns, 8081, 'hello');
      await expect(answered).resolves.toBe('hello');
    });

    it("asks from inside its namespace: the host's own loopback is out of its reach", async () => {
      const host = createServer((_request, response) => response.end('host'));
      await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
      const port = (host.address() as AddressInfo).port;
      try {
        await expect(probe.answered(`http://127.0.0.1:${port}/`, { timeoutMs: 1_000 })).rejects.toThrow(/nothing answered/);
        serveInside(netns, port, 'inside');
        await expect(probe.answered(`http://127.0.0.1:${port}/`, { timeoutMs: 20_000 })).resolves.toBe('inside');
      } finally {
        host.close();
      }
    });

    it('keeps polling past a wrong body and an error status, and says what it last saw when time is up', async () => {
      serveInside(netns, 8083, 'someone else');
      await expect(probe.answered('http://127.0.0.1:8083/', { expected: 'me', timeoutMs: 1_500 })).rejects.toThrow(
        /8083\/ within 1500 ms: answered "someone else"/,
      );
      await expect(probe.answered('http://127.0.0.1:8083/missing', { timeoutMs: 1_500 })).rejects.toThrow(/answered 404/);
    });

    it('says when the URL first answered at all, and when it answered as expected', async () => {
      // The fourth request and those after it get the expected body: three polls (20 ms apart) come first.
      const script =
        `let n = 0; require('node:http').createServer((q, s) => s.end(++n < 4 ? 'old' : 'new'))` + `.listen(8084, '127.0.0.1')`;
      netns.spawn([process.execPath, '-e', script], { stdio: 'ignore' });
      await probe.answered('http://127.0.0.1:8084/', { timeoutMs: 20_000 });
      const asked = Date.now();
      const answer = await probe.answeredWithTimes('http://127.0.0.1:8084/', { expected: 'new', timeoutMs: 20_000 });
      expect(answer.body).toBe('new');
      expect(answer.firstAnswerAtMs).toBeGreaterThanOrEqual(asked);
      expect(answer.answeredAtMs - answer.firstAnswerAtMs).toBeGreaterThanOrEqual(30);
    });

    it('rejects what is pending when its process ends', async () => {
      const other = await NetnsProbe.start(netns);
      const pending = other.answered('http://127.0.0.1:9/', { timeoutMs: 60_000 });
      await other.close();
      await expect(pending).rejects.toThrow(/ended/);
    });
  },
);
