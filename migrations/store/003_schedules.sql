-- Schedules (docs/schedules.md): periodic jobs kept in the store, fired by the scheduler every worker
-- runs. Like 001_jobs.sql this runs with search_path set to the store's schema.
CREATE TABLE schedules (
  id                 text COLLATE "C" PRIMARY KEY,
  job_type           text NOT NULL,
  -- The payload boxed as {"v": payload}, so a JSON null survives (a bare null reads as SQL NULL).
  payload_box        jsonb NOT NULL,
  every_ms           bigint CHECK (every_ms > 0),
  cron               text,
  timezone           text,
  jitter_ms          bigint NOT NULL DEFAULT 0 CHECK (jitter_ms >= 0),
  overlap            text NOT NULL CHECK (overlap IN ('skip', 'bufferOne', 'allowAll')),
  catchup_window_ms  bigint NOT NULL CHECK (catchup_window_ms >= 0),
  start_at           timestamptz,
  end_at             timestamptz,
  paused             boolean NOT NULL DEFAULT false,
  -- The next tick (its nominal time), when it fires (plus its jitter), and when the row is next looked
  -- at (the fire time, or sooner while a bufferOne tick waits). NULL once the schedule has ended.
  next_tick_at       timestamptz,
  next_fire_at       timestamptz,
  due_at             timestamptz,
  buffered_tick_at   timestamptz,
  -- The job of the latest run: overlap is judged from its row in jobs.
  last_job_id        text,
  -- The latest runs (at most 10), oldest first: [{tickAt, jobId, firedAt, kind}].
  runs               jsonb NOT NULL DEFAULT '[]',
  fired_total        bigint NOT NULL DEFAULT 0,
  skipped_total      bigint NOT NULL DEFAULT 0,
  -- The scheduler's lease on the row while it fires the due ticks (a claim; the database's clock).
  lease_token        text,
  lease_until        timestamptz,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  CHECK ((every_ms IS NULL) <> (cron IS NULL))
);

-- The scheduler's claim: due rows in due order; paused and ended rows are not in it.
CREATE INDEX schedules_due ON schedules (due_at) WHERE NOT paused AND due_at IS NOT NULL;
