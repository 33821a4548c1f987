import { errorCodes, type ErrorCode } from './error-codes.js';
import type { ErrorKind } from './error-kind.js';

/** One offending field of a request. `field` is a JSON pointer into the body or a parameter name. */
export interface FieldError {
  readonly field: string;
  readonly message: string;
}

export interface AppErrorOptions {
  /** Safe to show to the caller. */
  readonly details?: Readonly<Record<string, unknown>>;
  /**
   * How the host is built, for the log only and never shown to a caller: command lines, stderr,
   * paths, addresses. The message and `details` say what happened; this says where and how.
   */
  readonly diagnostics?: Readonly<Record<string, unknown>>;
  readonly errors?: readonly FieldError[];
  readonly cause?: unknown;
}

/** The one error type that crosses ports. It carries a stable code and no transport status. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly kind: ErrorKind;
  readonly details: Readonly<Record<string, unknown>> | undefined;
  readonly errors: readonly FieldError[] | undefined;
  readonly diagnostics: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.kind = errorCodes[code].kind;
    this.details = options.details;
    this.errors = options.errors;
    this.diagnostics = options.diagnostics;
  }

  get title(): string {
    return errorCodes[this.code].title;
  }
}

export function isAppError(value: unknown): value is AppError {
  return value instanceof AppError;
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(errorCodes, value);
}
