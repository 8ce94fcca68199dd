-- The calendar store that calendar.sync fills: one row per synced calendar (with the sync token of the
-- last completed sync) and one row per calendar object.
CREATE TABLE calendars (
  account_id text NOT NULL,
  calendar   text NOT NULL,
  sync_token text,
  synced_at  timestamptz,
  PRIMARY KEY (account_id, calendar)
);

CREATE TABLE events (
  account_id text NOT NULL,
  calendar   text NOT NULL,
  href       text NOT NULL,
  uid        text,
  etag       text,
  summary    text,
  starts_at  timestamptz,
  ends_at    timestamptz,
  ical       text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, calendar, href),
  FOREIGN KEY (account_id, calendar) REFERENCES calendars (account_id, calendar) ON DELETE CASCADE
);

CREATE INDEX events_by_uid ON events (account_id, calendar, uid);
CREATE INDEX events_by_start ON events (account_id, calendar, starts_at);
