import { createHash } from 'node:crypto';

/** A range of a file that holds data (`[start, end)` in bytes); everything between two is a hole. */
export interface DataRegion {
  readonly start: number;
  readonly end: number;
}

/**
 * The SHA-256 (hex) of a file's layout: one `start end\n` line per data region, in order. Taken
 * when a diff snapshot is written, it lets the host a copy lands on check that it holds the same
 * data regions, which the content's own digest cannot tell (a hole reads as zeros written).
 */
export function dataRegionsSha256(regions: readonly DataRegion[]): string {
  const hash = createHash('sha256');
  for (const region of regions) hash.update(`${region.start} ${region.end}\n`);
  return hash.digest('hex');
}

/** The media type of a file sent as its data regions (see `encodeDataRegionStream`). */
export { dataRegionStreamType } from '@hearth/contracts';

const magic = Buffer.from('HRTHDR01', 'latin1');
const headerBytes = 16;

function twoNumbers(first: number, second: number): Buffer {
  const bytes = Buffer.alloc(headerBytes);
  bytes.writeBigUInt64BE(BigInt(first), 0);
  bytes.writeBigUInt64BE(BigInt(second), 8);
  return bytes;
}

/**
 * A file as its data regions, so that the receiver can write them as data (zeros included) and
 * leave the rest as holes: `HRTHDR01`, the file's size (u64 big-endian), then for each region its
 * start and length (u64 big-endian each) followed by its bytes, in increasing order, and last a
 * region of length 0 starting at the file's size. `read` answers a region's bytes, exactly.
 */
export async function* encodeDataRegionStream(
  sizeBytes: number,
  regions: readonly DataRegion[],
  read: (region: DataRegion) => AsyncIterable<Uint8Array>,
): AsyncIterable<Uint8Array> {
  yield Buffer.concat([magic, twoNumbers(sizeBytes, 0).subarray(0, 8)]);
  for (const region of regions) {
    yield twoNumbers(region.start, region.end - region.start);
    let sent = 0;
    for await (const chunk of read(region)) {
      sent += chunk.byteLength;
      yield chunk;
    }
    if (sent !== region.end - region.start) {
      throw new Error(`the data region at ${region.start} gave ${sent} bytes, not ${region.end - region.start}`);
    }
  }
  yield twoNumbers(sizeBytes, 0);
}

/** What a data region stream holds, in order: the size first, each region before its bytes. */
export type DataRegionEvent =
  | { readonly kind: 'size'; readonly sizeBytes: number }
  | { readonly kind: 'region'; readonly region: DataRegion }
  | { readonly kind: 'data'; readonly position: number; readonly bytes: Uint8Array };

/** A data region stream that is cut short, out of order, larger than allowed or followed by more bytes. */
export class MalformedDataRegionStream extends Error {
  readonly isTooLarge: boolean;
  constructor(message: string, isTooLarge = false) {
    super(message);
    this.name = 'MalformedDataRegionStream';
    this.isTooLarge = isTooLarge;
  }
}

/** Reads exact byte counts from chunks as they come, without holding more than one chunk. */
class ChunkReader {
  private pending: Uint8Array = new Uint8Array(0);
  private isDone = false;
  constructor(private readonly iterator: AsyncIterator<Uint8Array>) {}

  /** Up to `maxBytes` (at least 1), or undefined at the end of the chunks. */
  async some(maxBytes: number): Promise<Uint8Array | undefined> {
    while (this.pending.byteLength === 0) {
      if (this.isDone) return undefined;
      const next = await this.iterator.next();
      if (next.done === true) this.isDone = true;
      else this.pending = next.value;
    }
    const taken = this.pending.subarray(0, maxBytes);
    this.pending = this.pending.subarray(taken.byteLength);
    return taken;
  }

  /** Ends the iterator when it has not reached its end (its `return`, which runs its clean-up). */
  async end(): Promise<void> {
    if (this.isDone) return;
    this.isDone = true;
    await this.iterator.return?.();
  }

  async exactly(count: number): Promise<Buffer> {
    const parts: Uint8Array[] = [];
    let read = 0;
    while (read < count) {
      const part = await this.some(count - read);
      if (part === undefined) throw new MalformedDataRegionStream('the data region stream ends early');
      parts.push(part);
      read += part.byteLength;
    }
    return Buffer.concat(parts);
  }
}

function safeNumber(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new MalformedDataRegionStream(`the ${what} is out of range`);
  return Number(value);
}

/**
 * The events of a stream written by `encodeDataRegionStream`, each checked as it arrives: a size of
 * at most `maxBytes`, regions non-empty, in increasing order with a hole between two, inside the
 * size, and nothing after the end (MalformedDataRegionStream otherwise).
 */
export async function* decodeDataRegionStream(
  chunks: AsyncIterable<Uint8Array>,
  maxBytes: number,
): AsyncIterable<DataRegionEvent> {
  const reader = new ChunkReader(chunks[Symbol.asyncIterator]());
  try {
    yield* readDataRegionEvents(reader, maxBytes);
  } finally {
    // Refused or left before its end: the source (a request body, an open file) is ended too.
    await reader.end();
  }
}

async function* readDataRegionEvents(reader: ChunkReader, maxBytes: number): AsyncIterable<DataRegionEvent> {
  const head = await reader.exactly(16);
  if (!head.subarray(0, 8).equals(magic)) throw new MalformedDataRegionStream('the stream does not hold data regions');
  const sizeBytes = safeNumber(head.readBigUInt64BE(8), 'size');
  if (sizeBytes > maxBytes) throw new MalformedDataRegionStream('the file is larger than allowed', true);
  yield { kind: 'size', sizeBytes };
  let previousEnd = -1;
  for (;;) {
    const frame = await reader.exactly(headerBytes);
    const start = safeNumber(frame.readBigUInt64BE(0), 'region start');
    const length = safeNumber(frame.readBigUInt64BE(8), 'region length');
    if (length === 0) {
      if (start !== sizeBytes) throw new MalformedDataRegionStream('the stream ends at another size than it announced');
      break;
    }
    const end = start + length;
    if (start <= previousEnd || end > sizeBytes) {
      throw new MalformedDataRegionStream(`the data region [${start}, ${end}) is out of order or past the file's end`);
    }
    previousEnd = end;
    yield { kind: 'region', region: { start, end } };
    for (let position = start; position < end;) {
      const bytes = await reader.some(end - position);
      if (bytes === undefined) throw new MalformedDataRegionStream('the data region stream ends early');
      yield { kind: 'data', position, bytes };
      position += bytes.byteLength;
    }
  }
  if ((await reader.some(1)) !== undefined) throw new MalformedDataRegionStream('bytes follow the end of the data regions');
}
