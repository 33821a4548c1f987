import { isHearthError } from '@hearth/sdk';

/** What went wrong, for a person: the problem's message and code, and the id that finds it in the logs. */
export interface ReadableError {
  readonly message: string;
  readonly code: string | undefined;
  readonly correlationId: string | undefined;
  /** Which fields were wrong, as `field: message`. */
  readonly fields: readonly string[];
}

export function readableError(error: unknown): ReadableError {
  if (isHearthError(error)) {
    return {
      message: error.message,
      code: error.code,
      correlationId: error.correlationId === '' ? undefined : error.correlationId,
      fields: error.errors.map((each) => `${each.field}: ${each.message}`),
    };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { message: message === '' ? 'Something went wrong' : message, code: undefined, correlationId: undefined, fields: [] };
}
