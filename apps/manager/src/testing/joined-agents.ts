import { generateKeyPair } from '@hearth/pki';
import type { UseCaseDependencies } from '../application/dependencies.js';
import { joinHost } from '../application/use-cases/join-host.js';
import { createJoinToken } from '../application/use-cases/join-tokens.js';

type Deps = Parameters<typeof joinHost>[0] & Parameters<typeof createJoinToken>[0];

const joined = new WeakMap<object, Map<string, Promise<{ authorization: string }>>>();

/**
 * The headers an Agent of identity `agentId` sends the Manager once it has joined (made here
 * through the use cases, as `POST /v1/hosts/join` does; once per identity and set of dependencies).
 */
export function joinedAgentHeaders(deps: Deps | UseCaseDependencies, agentId: string): Promise<{ authorization: string }> {
  let byAgent = joined.get(deps.trust);
  if (byAgent === undefined) {
    byAgent = new Map();
    joined.set(deps.trust, byAgent);
  }
  let headers = byAgent.get(agentId);
  if (headers === undefined) {
    headers = (async () => {
      const { token } = await createJoinToken(deps, {});
      const { publicKeyPem } = await generateKeyPair();
      const { credential } = await joinHost(deps, { joinToken: token, agentId, publicKeyPem });
      return { authorization: `Bearer ${credential}` };
    })();
    byAgent.set(agentId, headers);
  }
  return headers;
}
