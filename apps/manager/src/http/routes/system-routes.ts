import { Type } from 'typebox';
import type { HttpServer } from '@hearth/http-server';
import { problemResponses } from '../schemas/common.js';

/**
 * What this replica does for the reconciler: `leader` (it holds the advisory lock and reconciles),
 * `follower` (another replica leads; this one takes over when it goes) or `disabled`
 * (MANAGER_RECONCILER_DISABLED).
 */
export type ReconcilerRole = 'leader' | 'follower' | 'disabled';

/** Read-only facts about the Manager replica that answers (several may share one database). */
export function registerSystemRoutes(app: HttpServer, reconcilerRole: () => ReconcilerRole): void {
  app.get(
    '/v1/system',
    {
      config: { auth: 'token' },
      schema: {
        operationId: 'getSystem',
        summary: 'This Manager replica: whether it leads the reconciler',
        tags: ['system'],
        response: {
          200: Type.Object({
            reconciler: Type.Union([Type.Literal('leader'), Type.Literal('follower'), Type.Literal('disabled')], {
              description: 'leader: this replica reconciles; follower: another one does; disabled: none here',
            }),
          }),
          ...problemResponses,
        },
      },
    },
    async () => ({ reconciler: reconcilerRole() }),
  );
}
