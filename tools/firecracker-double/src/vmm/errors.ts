/** A VMM action failure: answered as `{"fault_message": ...}` with status 400 (or 413). */
export class VmmError extends Error {
  constructor(
    message: string,
    readonly status = 400,
    /** Restore failures are fatal: the process exits 1 after answering (behaviour.md#fatal-errors). */
    readonly fatal = false,
  ) {
    super(message);
  }
}

export const PRE_BOOT = 'The requested operation is not supported before starting the microVM.';
export const POST_BOOT = 'The requested operation is not supported after starting the microVM.';

export function fail(message: string): never {
  throw new VmmError(message);
}
