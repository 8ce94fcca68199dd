-- Per-key control (docs/keys.md): concurrency per key, rate per key, coalescing. Run by
-- src/shared/migrate.ts with search_path set to the store's schema, like 001_jobs.sql.

-- The key a running job holds (for operators and for the settle that releases it), the pending job's
-- coalescing key (cleared once the job starts), how often the job was held back by its keys, and how
-- many RateLimitedErrors it has thrown (capped by its definition's maximumThrottles).
ALTER TABLE jobs
  ADD COLUMN concurrency_key text,
  ADD COLUMN coalesce_key    text,
  ADD COLUMN holds           integer NOT NULL DEFAULT 0,
  ADD COLUMN throttles       integer NOT NULL DEFAULT 0;

-- Coalescing: at most one pending job per (type, key). createJobs' ON CONFLICT DO NOTHING relies on it.
CREATE UNIQUE INDEX jobs_type_coalesce_pending ON jobs (type, coalesce_key) WHERE coalesce_key IS NOT NULL AND state = 'pending';

-- One row per key. Every statement that reads a key's state to decide (the batch claim) locks the
-- key's row first (SELECT ... FOR UPDATE, in key order), so two workers claiming jobs of one key at
-- once are serialised by this row, and the second decides on the first's write.
CREATE TABLE job_keys (
  key             text COLLATE "C" PRIMARY KEY,
  -- Concurrency: job id -> epoch ms its hold ends. A hold is the job's claim seen from its key: taken
  -- by the claim, extended by the claim's renewal, dropped by the settle; one past its time counts for
  -- nothing, so a killed worker holds a key at most one lease period.
  holders         jsonb NOT NULL DEFAULT '{}',
  -- Rate: epoch ms of the starts still inside the key's window, oldest first.
  starts          float8[] NOT NULL DEFAULT '{}',
  -- A handler's RateLimitedError: no job of this key starts before this time.
  throttled_until timestamptz,
  updated_at      timestamptz NOT NULL DEFAULT now()
);
