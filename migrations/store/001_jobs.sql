-- The job store (docs/store.md): one row per job. src/shared/migrate.ts runs this file with
-- search_path set to the store's schema (calsync_jobs unless configured otherwise), so every name
-- below lands in that schema; the store's queries name the schema themselves.
CREATE TABLE jobs (
  -- "C": listing breaks ties by id; byte order is the same on every server (and, for ASCII ids, in JS).
  id                 text COLLATE "C" PRIMARY KEY,
  type               text NOT NULL,
  state              text NOT NULL CHECK (state IN ('pending', 'running', 'backoff', 'succeeded', 'dead', 'cancelled')),
  attempt            integer NOT NULL CHECK (attempt >= 1),
  idempotency_key    text,
  created_at         timestamptz NOT NULL,
  scheduled_at       timestamptz,
  started_at         timestamptz,
  settled_at         timestamptz,
  updated_at         timestamptz NOT NULL DEFAULT now(),
  last_error         jsonb,
  history            jsonb NOT NULL DEFAULT '[]',
  trace_id           text,
  dead_letter_reason text,
  payload            jsonb,
  payload_omitted    text CHECK (payload_omitted IN ('disabled', 'too_large')),
  retries            integer NOT NULL DEFAULT 0,
  -- The claim of the current attempt: which message holds it, until when (the database's clock).
  claim_message_id   text,
  claim_attempt      integer,
  claim_worker       text,
  claim_expires_at   timestamptz
);

-- Dedup: one job per (type, key) while its row is retained; the insert's ON CONFLICT relies on it.
CREATE UNIQUE INDEX jobs_type_idempotency_key ON jobs (type, idempotency_key) WHERE idempotency_key IS NOT NULL;
-- `jobs list --key K` without a type.
CREATE INDEX jobs_idempotency_key ON jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;
-- Listing, newest first, with the keyset cursor (created_at, id).
CREATE INDEX jobs_created ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_state_created ON jobs (state, created_at DESC, id DESC);
-- Pruning settled rows by age; unsettled rows are not in it.
CREATE INDEX jobs_settled ON jobs (settled_at) WHERE settled_at IS NOT NULL;
