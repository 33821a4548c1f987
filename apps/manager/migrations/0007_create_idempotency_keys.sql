-- One row per `Idempotency-Key` used on a POST: claimed (status_code NULL) before the request runs,
-- completed with the response that is then replayed to every retry until it expires.
CREATE TABLE idempotency_keys (
  key          text NOT NULL,
  method       text NOT NULL,
  route        text NOT NULL,
  fingerprint  text NOT NULL,
  status_code  integer,
  headers      jsonb NOT NULL DEFAULT '{}',
  body         text,
  created_at   timestamptz NOT NULL,
  completed_at timestamptz,
  expires_at   timestamptz NOT NULL,
  CONSTRAINT idempotency_keys_pkey PRIMARY KEY (key, method, route)
);

CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);
