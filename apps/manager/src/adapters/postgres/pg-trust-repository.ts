import type { AgentCredential, JoinRecord, JoinTokenRecord, TrustRepository } from '../../application/ports/trust-repository.js';
import type { Database } from './database.js';
import { translated } from './database-errors.js';
import { agentAlreadyJoined, isJoinAskedAgain, joinTokenRefusal } from '../../domain/join-refusals.js';

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
        const row = await trx
          .selectFrom('join_tokens')
          .select(['id', 'expires_at', 'used_at', 'used_by_agent_id', 'used_by_key_sha256'])
          .where('token_hash', '=', join.tokenHash)
          .forUpdate()
          .executeTakeFirst();
        const token =
          row === undefined
            ? undefined
            : {
                expiresAt: new Date(row.expires_at),
                usedAt: row.used_at,
                usedByAgentId: row.used_by_agent_id,
                usedByKeySha256: row.used_by_key_sha256,
              };
        const replaced = isJoinAskedAgain(
          token,
          { agentId: join.credential.agentId, publicKeySha256: join.publicKeySha256 },
          join.at,
        )
          ? await trx
              .deleteFrom('agent_credentials')
              .where('join_token_id', '=', row!.id)
              .where('agent_id', '=', join.credential.agentId)
              // Only while no host registered with it: then the Agent never got it.
              .where((eb) =>
                eb.not(
                  eb.exists(eb.selectFrom('hosts').select('id').whereRef('hosts.credential_id', '=', 'agent_credentials.id')),
                ),
              )
              .returning('id')
              .executeTakeFirst()
          : undefined;
        if (replaced === undefined) {
          const refusal = joinTokenRefusal(token, join.at);
          if (refusal !== undefined) throw refusal;
        }
        const held = await trx
          .selectFrom('agent_credentials')
          .select('id')
          .where('agent_id', '=', join.credential.agentId)
          .forUpdate()
          .executeTakeFirst();
        if (held !== undefined) throw agentAlreadyJoined(join.credential.agentId);
        if (replaced === undefined) {
          await trx
            .updateTable('join_tokens')
            .set({ used_at: join.at, used_by_agent_id: join.credential.agentId, used_by_key_sha256: join.publicKeySha256 })
            .where('id', '=', row!.id)
            .execute();
        }
        await trx
          .insertInto('agent_credentials')
          .values({
            id: join.credential.id,
            agent_id: join.credential.agentId,
            secret_hash: join.credential.secretHash,
            join_token_id: row!.id,
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
