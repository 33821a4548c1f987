import { Readable } from 'node:stream';
import {
  CleanupResult,
  SnapshotCopyParams,
  SnapshotCopyRequest,
  SnapshotCopyResult,
  SnapshotFileParams,
} from '@hearth/contracts';
import type { HttpServer } from '@hearth/http-server';
import { dataRegionStreamType } from '../domain/data-region-stream.js';
import type { AgentContext } from '../application/agent-context.js';
import {
  deleteSnapshotCopy,
  encodingOfMediaType,
  mediaTypeOf,
  openSnapshotFile,
  prepareSnapshotCopy,
  receiveSnapshotFile,
} from '../application/use-cases/snapshot-copies.js';

/**
 * `/snapshots/:snapshotId`: a snapshot's files read from the host that holds them, and a copy of
 * them received by another, file by file, each checked against its SHA-256. Only these routes take
 * a raw body (`application/octet-stream`, or a file as its data regions,
 * `application/vnd.hearth.data-regions`: a diff's memory always, any other file when the asker's
 * Accept header names that type), streamed to its file rather than buffered: each file's largest
 * size is recorded with the copy and enforced as the bytes arrive.
 */
export async function registerSnapshotCopyRoutes(app: HttpServer, context: AgentContext): Promise<void> {
  app.addContentTypeParser(['application/octet-stream', dataRegionStreamType], (_request, payload, done) => done(null, payload));
  app.get('/snapshots/:snapshotId/files/:file', { schema: { params: SnapshotFileParams } }, async (request, reply) => {
    const accepted = request.headers.accept?.split(',').map((type) => encodingOfMediaType(type)) ?? [];
    const opened = await openSnapshotFile(
      context,
      request.params.snapshotId,
      request.params.file,
      accepted.includes('data_regions'),
    );
    reply.type(mediaTypeOf(opened.encoding));
    // A file sent as its data regions is as long as they are: its length is not known before.
    if (opened.encoding === 'whole') reply.header('content-length', opened.sizeBytes);
    return reply.send(Readable.from(opened.chunks, { objectMode: false }));
  });
  app.put(
    '/snapshots/:snapshotId',
    { schema: { params: SnapshotCopyParams, body: SnapshotCopyRequest, response: { 200: SnapshotCopyResult } } },
    (request) => prepareSnapshotCopy(context, request.params.snapshotId, request.body),
  );
  app.put(
    '/snapshots/:snapshotId/files/:file',
    { schema: { params: SnapshotFileParams, response: { 200: SnapshotCopyResult } } },
    (request) =>
      receiveSnapshotFile(
        context,
        request.params.snapshotId,
        request.params.file,
        request.body as AsyncIterable<Uint8Array>,
        encodingOfMediaType(request.headers['content-type']),
      ),
  );
  app.delete('/snapshots/:snapshotId', { schema: { params: SnapshotCopyParams, response: { 200: CleanupResult } } }, (request) =>
    deleteSnapshotCopy(context, request.params.snapshotId),
  );
}
