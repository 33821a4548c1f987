import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

const storage = new AsyncLocalStorage<string>();

/** A caller-supplied request id is kept only when it is short and made of safe characters. */
const wellFormedRequestId = /^[A-Za-z0-9._:-]{8,128}$/;

export const requestIdHeader = 'x-request-id';

export function acceptOrMakeRequestId(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value !== undefined && wellFormedRequestId.test(value) ? value : randomUUID();
}

/** Runs `fn` with `correlationId` visible to `currentCorrelationId()` in everything it calls. */
export function runWithCorrelationId<T>(correlationId: string, fn: () => T): T {
  return storage.run(correlationId, fn);
}

export function currentCorrelationId(): string | undefined {
  return storage.getStore();
}

/** Enters the correlation context for the rest of the current async execution. */
export function enterCorrelationId(correlationId: string): void {
  storage.enterWith(correlationId);
}
