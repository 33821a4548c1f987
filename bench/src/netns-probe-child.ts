/**
 * The process `NetnsProbe` starts inside a network namespace: it reads one request a line on stdin
 * (`{"id","url","expected","timeoutMs","intervalMs"}`), GETs the URL until it answers 2xx (with the
 * expected body, when one is given) or the time is up, and writes one answer a line on stdout
 * (`{"id","body","firstAnswerAtMs","answeredAtMs"}` or `{"id","error"}`). One long-lived process polls every guest of the namespace,
 * so a probe costs an HTTP request, not two process starts.
 */
import http from 'node:http';
import { createInterface } from 'node:readline';

interface ProbeRequest {
  readonly id: number;
  readonly url: string;
  readonly expected: string | null;
  readonly timeoutMs: number;
  readonly intervalMs: number;
}

/** How long one attempt may take before the next starts. */
const attemptTimeoutMs = 500;

function getOnce(url: string): Promise<{ status: number; body: string } | undefined> {
  return new Promise((resolve) => {
    const request = http.get(url, { agent: false, timeout: attemptTimeoutMs }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', () => resolve(undefined));
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(undefined));
  });
}

async function probe(
  request: ProbeRequest,
): Promise<{ id: number; body?: string; error?: string; firstAnswerAtMs?: number; answeredAtMs?: number }> {
  const deadline = performance.now() + request.timeoutMs;
  let last = 'nothing answered';
  // When the URL first answered at all (any status, any body), in epoch ms: for a guest taking a
  // new address, when that address became reachable, before it answered as expected.
  let firstAnswerAtMs: number | undefined;
  for (;;) {
    const answer = await getOnce(request.url);
    if (answer !== undefined) {
      firstAnswerAtMs ??= Date.now();
      const isOk = answer.status >= 200 && answer.status < 300;
      if (isOk && (request.expected === null || answer.body === request.expected)) {
        return { id: request.id, body: answer.body, firstAnswerAtMs, answeredAtMs: Date.now() };
      }
      last = isOk ? `answered ${JSON.stringify(answer.body.slice(0, 200))}` : `answered ${answer.status}`;
    }
    if (performance.now() >= deadline) return { id: request.id, error: `${request.url} within ${request.timeoutMs} ms: ${last}` };
    await new Promise((resolve) => setTimeout(resolve, request.intervalMs));
  }
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const request = JSON.parse(line) as ProbeRequest;
  probe(request)
    .catch((error: unknown) => ({ id: request.id, error: `${request.url}: ${String(error)}` }))
    .then((answer) => process.stdout.write(`${JSON.stringify(answer)}\n`))
    .catch(() => process.exit(1));
});
// The parent closing stdin (or dying) ends the probe.
lines.on('close', () => process.exit(0));
process.stdout.write('ready\n');
