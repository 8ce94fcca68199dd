-- What a calendar UI needs to show an event without re-parsing its iCalendar text (docs/calendar.md,
-- "The events table"). All-day events have dates, not instants: start_date/end_date (end exclusive) with
-- all_day, and starts_at/ends_at NULL. Timed events keep their instants in starts_at/ends_at, their
-- zone in time_zone and their wall-clock times in starts_local/ends_local; a floating time (no zone) is
-- read in the calendar's zone, or has floating = true and starts_at NULL when the calendar has none.
-- A recurring event's row is its master: starts_at is its first occurrence, rrule/exdates its rule
-- (expand it with expandOccurrences, src/jobs/calendar/occurrences.ts).
ALTER TABLE events
  ADD COLUMN all_day      boolean NOT NULL DEFAULT false,
  ADD COLUMN start_date   date,
  ADD COLUMN end_date     date,
  ADD COLUMN time_zone    text,
  ADD COLUMN floating     boolean NOT NULL DEFAULT false,
  ADD COLUMN starts_local timestamp without time zone,
  ADD COLUMN ends_local   timestamp without time zone,
  ADD COLUMN rrule        text,
  ADD COLUMN exdates      text[] NOT NULL DEFAULT '{}',
  ADD COLUMN attendees    jsonb NOT NULL DEFAULT '[]',
  ADD COLUMN reminders    jsonb NOT NULL DEFAULT '[]';

CREATE INDEX events_by_start_date ON events (account_id, calendar, start_date);

-- Rows written before this migration were read with the host's zone: the next sync of each calendar is a
-- full one that downloads every object again (no stored token, no stored ETag).
UPDATE events SET etag = NULL;
UPDATE calendars SET sync_token = NULL;
