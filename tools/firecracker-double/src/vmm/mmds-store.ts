import { mergePatch } from '../json/merge-patch.js';
import { VmmError } from './errors.js';

const NOT_INIT = 'MMDS error: The MMDS data store is not initialized.';
const TOO_BIG = "MMDS limit exceeded error: The MMDS patch request doesn't fit.";

/** The MMDS data store with its serialized-size limit (413 when exceeded, behaviour.md#endpoint-mmds). */
export class MmdsStore {
  private data: unknown = undefined;

  constructor(private readonly limit: number) {}

  get initialized(): boolean {
    return this.data !== undefined;
  }

  get(): unknown {
    return this.data ?? null;
  }

  put(value: unknown): void {
    this.check(value);
    this.data = value;
  }

  patch(value: unknown): void {
    if (this.data === undefined) throw new VmmError(NOT_INIT);
    const next = mergePatch(this.data, value);
    this.check(next);
    this.data = next;
  }

  private check(value: unknown): void {
    if (Buffer.byteLength(JSON.stringify(value)) > this.limit) throw new VmmError(TOO_BIG, 413);
  }
}

export const MMDS_NOT_INITIALIZED = NOT_INIT;
