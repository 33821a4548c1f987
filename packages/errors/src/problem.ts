import type { FieldError } from './app-error.js';

/** RFC 9457 problem details as Hearth renders them. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly code: string;
  readonly correlationId: string;
  readonly errors?: readonly FieldError[];
  readonly details?: Readonly<Record<string, unknown>>;
}

export const problemContentType = 'application/problem+json';

export function problemTypeUri(code: string): string {
  return `urn:hearth:problem:${code}`;
}
