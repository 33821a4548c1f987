-- Trust between Managers and Agents (ADR 0014).

-- The cluster's certificate authority, shared by every Manager replica on this database. Its private
-- key is here only encrypted (AES-256-GCM) under a key-encryption key that lives outside the
-- database (MANAGER_CA_KEK_FILE); a CA whose key an operator keeps in a file (MANAGER_CA_KEY_FILE)
-- has no key here at all. Created by the first Manager that starts; never replaced.
CREATE TABLE certificate_authorities (
  is_singleton          boolean PRIMARY KEY DEFAULT true CONSTRAINT certificate_authorities_is_singleton_check CHECK (is_singleton),
  certificate_pem       text NOT NULL,
  encrypted_private_key text,
  -- Which key-encryption key sealed it (a fingerprint), so a replica given another one says so.
  key_encryption_key_id text,
  created_at            timestamptz NOT NULL
);

-- One-time join tokens: only their SHA-256 is kept. A token is used at most once, before it expires.
CREATE TABLE join_tokens (
  id               text PRIMARY KEY,
  token_hash       text NOT NULL CONSTRAINT join_tokens_token_hash_key UNIQUE,
  created_at       timestamptz NOT NULL,
  expires_at       timestamptz NOT NULL,
  used_at          timestamptz,
  used_by_agent_id text
);

-- The credential an Agent got when it joined: the SHA-256 of its bearer secret. One per Agent
-- identity; removed with the Agent's host, which revokes it and the certificates issued for it.
CREATE TABLE agent_credentials (
  id            text PRIMARY KEY,
  agent_id      text NOT NULL CONSTRAINT agent_credentials_agent_id_key UNIQUE,
  secret_hash   text NOT NULL CONSTRAINT agent_credentials_secret_hash_key UNIQUE,
  join_token_id text NOT NULL,
  created_at    timestamptz NOT NULL
);

-- The credential the host's Agent registered with: the Manager calls only an Agent whose
-- certificate names this credential and the host's Agent identity.
ALTER TABLE hosts ADD COLUMN credential_id text;
