import type { HttpRequest } from '../http/parser.js';
import { rustDebugString } from '../json/rust-debug.js';

const METHOD_DEBUG: Record<string, string> = { GET: 'Get', PUT: 'Put', PATCH: 'Patch', DELETE: 'Delete' };

/**
 * The request log line (behaviour.md#logging): bodies are omitted for /mmds and, below Debug level, for
 * /cpu-config.
 */
export function describeRequest(req: HttpRequest, debugEnabled: boolean): string {
  const head = `${METHOD_DEBUG[req.method]} request on ${rustDebugString(req.path)}`;
  let text: string;
  if (req.body === null || req.path === '/mmds') text = head;
  else if (req.path === '/cpu-config' && !debugEnabled) {
    text = `${head}. To view the CPU template received by the API, configure log-level to DEBUG`;
  } else text = `${head} with body ${rustDebugString(req.body.toString('utf8'))}`;
  return `The API server received a ${text}.`;
}
