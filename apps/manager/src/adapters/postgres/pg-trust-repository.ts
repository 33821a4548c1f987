import type { AgentCredential, JoinRecord, JoinTokenRecord, TrustRepository } from '../../application/ports/trust-repository.js';
import type { Database } from './database.js';
import { translated } from './database-errors.js';
import { agentAlreadyJoined, joinTokenRefusal } from '../../domain/join-refusals.js';

const dayMs = 86_400_000;

export class PgTrustRepository implements TrustRepository {
  constructor(private readonly db: Database) {}

  async createJoinToken(token: JoinTokenRecord): Promise<void> {
    await translated(() =>
      this.db.transaction().execute(async (trx) => {
        await trx
          .deleteFrom('join_tokens')
          .where('expires_at', '<', new Date(token.createdAt.getTime() - dayMs))
          .execute();
        await trx
          .insertInto('join_tokens')
          .values({ id: token.id, token_hash: token.tokenHash, created_at: token.createdAt, expires_at: token.expiresAt })
          .execute();
      }),
    );
  }

  async join(join: JoinRecord): Promise<AgentCredential> {
    return translated(() =>
      this.db.transaction().execute(async (trx) => {
        const token = await trx
          .selectFrom('join_tokens')
          .select(['id', 'expires_at', 'used_at'])
          .where('token_hash', '=', join.tokenHash)
          .forUpdate()
          .executeTakeFirst();
        const refusal = joinTokenRefusal(
          token === undefined ? undefined : { expiresAt: new Date(token.expires_at), usedAt: token.used_at },
          join.at,
        );
        if (refusal !== undefined) throw refusal;
        const held = await trx
          .selectFrom('agent_credentials')
          .select('id')
          .where('agent_id', '=', join.credential.agentId)
          .forUpdate()
          .executeTakeFirst();
        if (held !== undefined) throw agentAlreadyJoined(join.credential.agentId);
        await trx
          .updateTable('join_tokens')
          .set({ used_at: join.at, used_by_agent_id: join.credential.agentId })
          .where('id', '=', token!.id)
          .execute();
        await trx
          .insertInto('agent_credentials')
          .values({
            id: join.credential.id,
            agent_id: join.credential.agentId,
            secret_hash: join.credential.secretHash,
            join_token_id: token!.id,
            created_at: join.at,
          })
          .execute();
        return { id: join.credential.id, agentId: join.credential.agentId };
      }),
    );
  }

  async findCredential(secretHash: string): Promise<AgentCredential | undefined> {
    const row = await translated(() =>
      this.db.selectFrom('agent_credentials').select(['id', 'agent_id']).where('secret_hash', '=', secretHash).executeTakeFirst(),
    );
    return row === undefined ? undefined : { id: row.id, agentId: row.agent_id };
  }
}
