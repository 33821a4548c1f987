import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HostFiles } from '../application/ports/host-files.js';
import { dataRegionsSha256, decodeDataRegionStream, type DataRegion } from '../domain/data-region-stream.js';

/** A world for one test: the adapter, a root it may read and write under, and a way to lay out a sparse file there. */
export interface DataRegionTransferHarness {
  readonly files: HostFiles;
  readonly root: string;
  /** Writes a file of `sizeBytes` with each of `written` as data (zeros written included) and holes elsewhere. */
  writeSparse(
    path: string,
    sizeBytes: number,
    written: readonly { readonly at: number; readonly bytes: Buffer }[],
  ): Promise<void>;
  /** The file's bytes, holes read as zeros. */
  read(path: string): Promise<Buffer>;
  cleanup(): Promise<void>;
}

const page = 4096;
const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

async function* streamOf(parts: readonly Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const part of parts) yield part;
}

/** The behaviour every `HostFiles` adapter shares when a diff's memory file is sent and received as its data regions. */
export function describeDataRegionTransfer(name: string, makeHarness: () => Promise<DataRegionTransferHarness>): void {
  describe(`${name}: a file sent and received as its data regions`, () => {
    let harness: DataRegionTransferHarness;
    let source: string;
    let destination: string;
    let content: Buffer;
    const layout = [
      { start: 2 * page, end: 3 * page },
      { start: 5 * page, end: 7 * page },
    ];

    beforeEach(async () => {
      harness = await makeHarness();
      source = `${harness.root}/diff.memory`;
      destination = `${harness.root}/copied.memory`;
      // A page the guest wrote, then two pages it wrote back to zeros: both data; the rest holes.
      await harness.writeSparse(source, 16 * page, [
        { at: 2 * page, bytes: Buffer.alloc(page, 0x42) },
        { at: 5 * page, bytes: Buffer.alloc(2 * page) },
      ]);
      content = await harness.read(source);
    });

    afterEach(async () => {
      await harness.cleanup();
    });

    async function sent(): Promise<AsyncIterable<Uint8Array>> {
      const opened = await harness.files.openDataRegionsForReading(harness.root, source);
      if (!('chunks' in opened)) throw new Error(`the source is ${opened.check.kind}`);
      return opened.chunks;
    }

    it('keeps the content and the layout, zeros written included, both digests checked', async () => {
      expect(await harness.files.dataRegionsSha256Of(harness.root, source)).toBe(dataRegionsSha256(layout));

      const received = await harness.files.receiveFile(destination, await sent(), {
        sha256: sha256(content),
        maxBytes: content.length,
        dataRegionsSha256: dataRegionsSha256(layout),
      });

      expect(received).toEqual({ kind: 'verified', sizeBytes: 16 * page });
      expect((await harness.read(destination)).equals(content)).toBe(true);
      expect(await harness.files.dataRegionsSha256Of(harness.root, destination)).toBe(dataRegionsSha256(layout));
    });

    it('sends a file where holes and zeros mean the same as its bytes other than zeros only, and receives it with its content', async () => {
      const opened = await harness.files.openDataRegionsForReading(harness.root, source, 'zeros_as_holes');
      if (!('chunks' in opened)) throw new Error(`the source is ${opened.check.kind}`);
      const stream: Uint8Array[] = [];
      for await (const chunk of opened.chunks) stream.push(chunk);
      const regions: DataRegion[] = [];
      for await (const event of decodeDataRegionStream(streamOf(stream), content.length))
        if (event.kind === 'region') regions.push(event.region);

      const received = await harness.files.receiveFile(
        destination,
        streamOf(stream),
        { sha256: sha256(content), maxBytes: content.length },
        'data_regions',
      );

      // The page the guest wrote only: the zeros written and the holes are alike here, and left out.
      expect(regions).toEqual([{ start: 2 * page, end: 3 * page }]);
      expect(received).toEqual({ kind: 'verified', sizeBytes: 16 * page });
      expect((await harness.read(destination)).equals(content)).toBe(true);
    });

    it('refuses a file without a layout sent as data regions with other bytes or cut short, keeping nothing', async () => {
      const expected = { sha256: sha256(content), maxBytes: content.length };
      const stream: Uint8Array[] = [];
      for await (const chunk of await sent()) stream.push(chunk);
      const whole = Buffer.concat(stream);

      expect(
        await harness.files.receiveFile(destination, streamOf([whole]), { ...expected, sha256: '0'.repeat(64) }, 'data_regions'),
      ).toMatchObject({ kind: 'digest_mismatch' });
      expect(
        await harness.files.receiveFile(destination, streamOf([whole.subarray(0, 40)]), expected, 'data_regions'),
      ).toMatchObject({
        kind: 'malformed',
      });
      expect(
        await harness.files.receiveFile(destination, streamOf([Buffer.from('not regions at all')]), expected, 'data_regions'),
      ).toMatchObject({
        kind: 'malformed',
      });
      for (const path of [destination, `${destination}.partial`]) expect(await harness.files.exists(path), path).toBe(false);
    });

    it('refuses another layout than recorded, other bytes, a larger file or a stream cut short, keeping nothing', async () => {
      const expected = { sha256: sha256(content), maxBytes: content.length, dataRegionsSha256: dataRegionsSha256(layout) };
      const lostZeros = dataRegionsSha256([{ start: 2 * page, end: 3 * page }]);
      const cutShort = async function* (): AsyncIterable<Uint8Array> {
        let sentBytes = 0;
        for await (const chunk of await sent()) {
          if (sentBytes > page) return;
          sentBytes += chunk.byteLength;
          yield chunk;
        }
      };

      expect(
        await harness.files.receiveFile(destination, await sent(), { ...expected, dataRegionsSha256: lostZeros }),
      ).toMatchObject({
        kind: 'layout_mismatch',
      });
      expect(await harness.files.receiveFile(destination, await sent(), { ...expected, sha256: '0'.repeat(64) })).toMatchObject({
        kind: 'digest_mismatch',
      });
      expect(await harness.files.receiveFile(destination, await sent(), { ...expected, maxBytes: page })).toEqual({
        kind: 'too_large',
      });
      expect(await harness.files.receiveFile(destination, cutShort(), expected)).toMatchObject({ kind: 'malformed' });
      for (const path of [destination, `${destination}.partial`]) expect(await harness.files.exists(path), path).toBe(false);
    });

    it('ends the stream it is sent when it refuses it before its end (larger than allowed, malformed)', async () => {
      const expected = { sha256: sha256(content), maxBytes: content.length, dataRegionsSha256: dataRegionsSha256(layout) };
      const stream: Uint8Array[] = [];
      for await (const chunk of await sent()) stream.push(chunk);
      const whole = Buffer.concat(stream);
      // A region that overlaps the one before it, then the rest: malformed after its first region.
      const overlapping = Buffer.concat([whole.subarray(0, 32 + page), whole.subarray(16, 32 + page), whole.subarray(32 + page)]);
      const cases: [string, AsyncIterable<Uint8Array>, Partial<typeof expected>, string][] = [
        ["the sender's file", await sent(), { maxBytes: page }, 'too_large'],
        ['larger than allowed', streamOf([whole.subarray(0, 16), whole.subarray(16)]), { maxBytes: page }, 'too_large'],
        ['malformed', streamOf([overlapping.subarray(0, 32 + page), overlapping.subarray(32 + page)]), {}, 'malformed'],
      ];
      for (const [what, source, changed, kind] of cases) {
        const ended = { isEnded: false };
        const watched = async function* (): AsyncIterable<Uint8Array> {
          try {
            yield* source;
          } finally {
            ended.isEnded = true;
          }
        };

        expect(await harness.files.receiveFile(destination, watched(), { ...expected, ...changed }), what).toMatchObject({
          kind,
        });
        expect(ended.isEnded, what).toBe(true);
      }
      for (const path of [destination, `${destination}.partial`]) expect(await harness.files.exists(path), path).toBe(false);
    });
  });
}
