import { mkdirSync, writeFileSync } from 'node:fs';
import { createPrivateKey } from 'node:crypto';
import path from 'node:path';
import { CertificateAuthority, generateKeyPair } from '@hearth/pki';
import { Agent, type Dispatcher } from 'undici';

/** URI name of a Manager's client certificate (what an Agent serves). */
const managerUri = 'urn:hearth:manager';

export interface ClientCertificate {
  readonly keyPem: string;
  readonly certificatePem: string;
}

/**
 * A cluster CA made by the test, given to its Managers as an operator's CA (MANAGER_CA_CERT_FILE,
 * MANAGER_CA_KEY_FILE), so the test can call Agents as a Manager does, and forge what an attacker
 * would try.
 */
export interface TestClusterTrust {
  /** The Manager environment that makes this the cluster's CA. */
  readonly managerEnv: Readonly<Record<string, string>>;
  readonly caCertificatePem: string;
  /** Calls Agents over mutual TLS with a Manager's client certificate of this cluster (any Agent of the cluster). */
  readonly managerDispatcher: Dispatcher;
  /** A client certificate of this CA naming `uris` (e.g. an Agent's identity, to play one), valid for an hour. */
  issueClientCertificate(uris: readonly string[]): Promise<ClientCertificate>;
  /** A dispatcher presenting `certificate` (or none), trusting Agents of this cluster. */
  dispatcherWith(certificate: ClientCertificate | undefined): Dispatcher;
  close(): Promise<void>;
}

/** Makes the CA and writes its files (the key 0600) under `dir`. */
export async function createTestClusterTrust(dir: string): Promise<TestClusterTrust> {
  const now = Date.now();
  const ca = await CertificateAuthority.create({
    commonName: 'Hearth test cluster CA',
    notBefore: new Date(now - 3_600_000),
    notAfter: new Date(now + 30 * 86_400_000),
  });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const certificateFile = path.join(dir, 'ca.pem');
  const keyFile = path.join(dir, 'ca-key.pem');
  const keyPem = createPrivateKey({ key: (await ca.export()).privateKeyPkcs8, format: 'der', type: 'pkcs8' })
    .export({ type: 'pkcs8', format: 'pem' })
    .toString();
  writeFileSync(certificateFile, ca.certificatePem);
  writeFileSync(keyFile, keyPem, { mode: 0o600 });

  const dispatchers: Dispatcher[] = [];
  const issueClientCertificate = async (uris: readonly string[]): Promise<ClientCertificate> => {
    const keys = await generateKeyPair();
    const issued = await ca.issue({
      publicKeyPem: keys.publicKeyPem,
      commonName: 'hearth-test',
      uris,
      usage: 'client',
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3_600_000),
    });
    return { keyPem: keys.privateKeyPem, certificatePem: issued.certificatePem };
  };
  const dispatcherWith = (certificate: ClientCertificate | undefined): Dispatcher => {
    const dispatcher = new Agent({
      connect: {
        ca: ca.certificatePem,
        ...(certificate === undefined ? {} : { cert: certificate.certificatePem, key: certificate.keyPem }),
        // Any Agent of this cluster: the test knows which port it calls.
        checkServerIdentity: () => undefined,
      },
    });
    dispatchers.push(dispatcher);
    return dispatcher;
  };
  const managerDispatcher = dispatcherWith(await issueClientCertificate([managerUri]));
  return {
    managerEnv: { MANAGER_CA_CERT_FILE: certificateFile, MANAGER_CA_KEY_FILE: keyFile },
    caCertificatePem: ca.certificatePem,
    managerDispatcher,
    issueClientCertificate,
    dispatcherWith,
    async close() {
      await Promise.all(dispatchers.map((dispatcher) => dispatcher.close().catch(() => undefined)));
    },
  };
}

/**
 * A one-time join token from the Manager at `managerUrl` (`POST /v1/hosts/join-tokens`), for an
 * Agent's first start (AGENT_JOIN_TOKEN).
 */
export async function createJoinToken(
  managerUrl: string,
  options: { readonly ttlSeconds?: number; readonly headers?: Readonly<Record<string, string>> } = {},
): Promise<string> {
  const response = await fetch(`${managerUrl}/v1/hosts/join-tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...options.headers },
    body: JSON.stringify(options.ttlSeconds === undefined ? {} : { ttlSeconds: options.ttlSeconds }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  if (response.status !== 201) throw new Error(`POST /v1/hosts/join-tokens answered ${response.status}: ${text}`);
  return (JSON.parse(text) as { token: string }).token;
}

/**
 * Joins the Manager at `managerUrl` as the Agent `agentId` would (a join token, then
 * `POST /v1/hosts/join` for a key made here) and answers the headers of its later calls
 * (register, heartbeat): for tests that play an Agent without running one.
 */
export async function joinAsAgent(
  managerUrl: string,
  agentId: string,
  options: { readonly headers?: Readonly<Record<string, string>> } = {},
): Promise<{ authorization: string }> {
  const token = await createJoinToken(managerUrl, options);
  const { publicKeyPem } = await generateKeyPair();
  const response = await fetch(`${managerUrl}/v1/hosts/join`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ agentId, publicKey: publicKeyPem }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`POST /v1/hosts/join answered ${response.status}: ${text}`);
  return { authorization: `Bearer ${(JSON.parse(text) as { credential: string }).credential}` };
}
