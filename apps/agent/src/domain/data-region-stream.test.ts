import { describe, expect, it } from 'vitest';
import {
  dataRegionsSha256,
  decodeDataRegionStream,
  encodeDataRegionStream,
  MalformedDataRegionStream,
  type DataRegion,
  type DataRegionEvent,
} from './data-region-stream.js';

async function* chunks(...parts: Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const part of parts) yield part;
}

/** Chunks that say whether their source was ended (run to its end or stopped by its reader). */
function watchedChunks(parts: readonly Uint8Array[]): { chunks: AsyncIterable<Uint8Array>; isEnded: () => boolean } {
  let isEnded = false;
  async function* source(): AsyncIterable<Uint8Array> {
    try {
      for (const part of parts) yield part;
    } finally {
      isEnded = true;
    }
  }
  return { chunks: source(), isEnded: () => isEnded };
}

async function bytesOf(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(Buffer.from(part));
  return Buffer.concat(parts);
}

async function eventsOf(stream: AsyncIterable<Uint8Array>, maxBytes = 1024): Promise<DataRegionEvent[]> {
  const events: DataRegionEvent[] = [];
  for await (const event of decodeDataRegionStream(stream, maxBytes)) events.push(event);
  return events;
}

/** One byte at a time: the decoder must not depend on how the bytes are cut. */
async function* byteByByte(bytes: Buffer): AsyncIterable<Uint8Array> {
  for (const byte of bytes) yield Buffer.from([byte]);
}

function frame(start: number, length: number): Buffer {
  const bytes = Buffer.alloc(16);
  bytes.writeBigUInt64BE(BigInt(start), 0);
  bytes.writeBigUInt64BE(BigInt(length), 8);
  return bytes;
}

const head = (sizeBytes: number): Buffer => Buffer.concat([Buffer.from('HRTHDR01'), frame(sizeBytes, 0).subarray(0, 8)]);

describe('data region streams', () => {
  const content = Buffer.from('B\0\0\0\0\0\0\0');
  const regions: DataRegion[] = [
    { start: 0, end: 1 },
    { start: 4, end: 6 },
  ];

  it('carry each data region, zeros included, with the file size, and decode to the same regions however the bytes are cut', async () => {
    const encoded = await bytesOf(
      encodeDataRegionStream(content.length, regions, (region) => chunks(content.subarray(region.start, region.end))),
    );
    // 16 bytes of head, a 16-byte frame before each region, 16 bytes of end: 51 bytes for 3 of data.
    expect(encoded.length).toBe(16 + 16 + 1 + 16 + 2 + 16);

    const events = await eventsOf(byteByByte(encoded));

    expect(events.filter((event) => event.kind !== 'data')).toEqual([
      { kind: 'size', sizeBytes: 8 },
      { kind: 'region', region: regions[0] },
      { kind: 'region', region: regions[1] },
    ]);
    const written = Buffer.alloc(8, 0xff);
    for (const event of events) if (event.kind === 'data') Buffer.from(event.bytes).copy(written, event.position);
    expect(written).toEqual(Buffer.from([0x42, 0xff, 0xff, 0xff, 0, 0, 0xff, 0xff]));
  });

  it('refuse regions out of order, touching, past the end, a size above the limit, a stream cut short or followed by bytes', async () => {
    const cases: [string, Buffer][] = [
      ['overlapping', Buffer.concat([head(8), frame(4, 2), Buffer.alloc(2), frame(5, 1), Buffer.alloc(1), frame(8, 0)])],
      ['touching', Buffer.concat([head(8), frame(0, 2), Buffer.alloc(2), frame(2, 1), Buffer.alloc(1), frame(8, 0)])],
      ['past the end', Buffer.concat([head(8), frame(6, 4), Buffer.alloc(4), frame(8, 0)])],
      ['cut short', Buffer.concat([head(8), frame(0, 4), Buffer.alloc(2)])],
      ['without its end', Buffer.concat([head(8), frame(0, 4), Buffer.alloc(4)])],
      ['another size at its end', Buffer.concat([head(8), frame(7, 0)])],
      ['followed by bytes', Buffer.concat([head(8), frame(8, 0), Buffer.from('x')])],
      ['not a data region stream', Buffer.concat([Buffer.from('NOTHEARTH'), Buffer.alloc(20)])],
    ];
    for (const [what, bytes] of cases) {
      await expect(eventsOf(chunks(bytes)), what).rejects.toBeInstanceOf(MalformedDataRegionStream);
    }
    await expect(eventsOf(chunks(head(2048), frame(2048, 0)))).rejects.toMatchObject({ isTooLarge: true });
  });

  it('end the source of a stream they refuse before its end, and of one whose reader stops early', async () => {
    const refused: [string, Buffer[], number][] = [
      ['larger than allowed', [head(2048), frame(2048, 0)], 1024],
      ['out of order', [head(8), frame(4, 2), Buffer.alloc(2), frame(5, 1), Buffer.alloc(1), frame(8, 0)], 1024],
      ['followed by bytes', [head(8), frame(8, 0), Buffer.from('x'), Buffer.from('y')], 1024],
    ];
    for (const [what, parts, maxBytes] of refused) {
      const source = watchedChunks(parts);
      await expect(eventsOf(source.chunks, maxBytes), what).rejects.toBeInstanceOf(MalformedDataRegionStream);
      expect(source.isEnded(), what).toBe(true);
    }

    const source = watchedChunks([head(8), frame(0, 1), Buffer.from('B'), frame(8, 0)]);
    for await (const event of decodeDataRegionStream(source.chunks, 1024)) if (event.kind === 'size') break;
    expect(source.isEnded()).toBe(true);
  });

  it('digest a layout so that a hole and zeros written differ', () => {
    expect(dataRegionsSha256(regions)).not.toBe(dataRegionsSha256([{ start: 0, end: 1 }]));
    expect(dataRegionsSha256(regions)).toBe(dataRegionsSha256(regions.map((region) => ({ ...region }))));
  });
});
