-- Who did what: every mutation of the public API and every refused attempt, with its outcome.
-- Written before the answer is sent. Entries of a project are shown to tokens of that project;
-- entries with no project (hosts, tokens of every project, refused anonymous attempts) only to
-- tokens bound to every project.
CREATE TABLE audit_log (
  id             bigserial PRIMARY KEY,
  at             timestamptz NOT NULL,
  token_id       text,
  token_name     text,
  project        text,
  action         text NOT NULL,
  target         text,
  outcome        text NOT NULL CHECK (outcome IN ('succeeded', 'refused', 'failed')),
  status_code    integer NOT NULL,
  error_code     text,
  correlation_id text NOT NULL,
  client_address text NOT NULL
);

CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_token_id_idx ON audit_log (token_id, id);
CREATE INDEX audit_log_project_idx ON audit_log (project, id);
