/**
 * The PostgreSQL side of `calendar.sync`: the stored sync token of a calendar and its events (one row per
 * object: its times, all-day dates, zone, rule, attendees and reminders, and the raw text; migrations/002).
 */
import type pg from 'pg';
import type { ParsedEvent } from './ical-read.js';

export interface StoredObject {
  href: string;
  etag: string | undefined;
  ical: string;
  event: ParsedEvent;
}

export interface ApplyBatch {
  accountId: string;
  calendar: string;
  upserts: readonly StoredObject[];
  deletes: readonly string[];
  /** Set on the batch that completes a sync: the calendar's token moves in the same transaction. */
  completeWithToken?: string;
}

/** The calendar's stored sync token (`undefined` before its first completed sync). */
export async function loadSyncToken(pool: pg.Pool, accountId: string, calendar: string): Promise<string | undefined> {
  const { rows } = await pool.query<{ sync_token: string | null }>(
    'SELECT sync_token FROM calendars WHERE account_id = $1 AND calendar = $2',
    [accountId, calendar],
  );
  return rows[0]?.sync_token ?? undefined;
}

/** href → etag of every stored event of the calendar. */
export async function loadEtags(pool: pg.Pool, accountId: string, calendar: string): Promise<Map<string, string | null>> {
  const { rows } = await pool.query<{ href: string; etag: string | null }>(
    'SELECT href, etag FROM events WHERE account_id = $1 AND calendar = $2',
    [accountId, calendar],
  );
  return new Map(rows.map((row) => [row.href, row.etag]));
}

/** Applies one batch atomically. */
export async function applyBatch(pool: pg.Pool, batch: ApplyBatch): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('INSERT INTO calendars (account_id, calendar) VALUES ($1, $2) ON CONFLICT DO NOTHING', [
      batch.accountId,
      batch.calendar,
    ]);
    if (batch.deletes.length > 0) {
      await client.query('DELETE FROM events WHERE account_id = $1 AND calendar = $2 AND href = ANY($3::text[])', [
        batch.accountId,
        batch.calendar,
        batch.deletes,
      ]);
    }
    if (batch.upserts.length > 0) {
      const rows = batch.upserts;
      await client.query(
        `INSERT INTO events (account_id, calendar, href, uid, etag, summary, starts_at, ends_at, ical, all_day, start_date, end_date,
                             time_zone, floating, starts_local, ends_local, rrule, exdates, attendees, reminders, updated_at)
         SELECT $1, $2, u.href, u.uid, u.etag, u.summary, u.starts_at, u.ends_at, u.ical, u.all_day, u.start_date, u.end_date,
                u.time_zone, u.floating, u.starts_local, u.ends_local, u.rrule,
                ARRAY(SELECT jsonb_array_elements_text(u.exdates)), u.attendees, u.reminders, now()
           FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::timestamptz[], $9::text[], $10::boolean[],
                       $11::date[], $12::date[], $13::text[], $14::boolean[], $15::timestamp[], $16::timestamp[], $17::text[],
                       $18::jsonb[], $19::jsonb[], $20::jsonb[])
                AS u(href, uid, etag, summary, starts_at, ends_at, ical, all_day, start_date, end_date, time_zone, floating,
                     starts_local, ends_local, rrule, exdates, attendees, reminders)
         ON CONFLICT (account_id, calendar, href) DO UPDATE SET
           uid = EXCLUDED.uid, etag = EXCLUDED.etag, summary = EXCLUDED.summary, starts_at = EXCLUDED.starts_at,
           ends_at = EXCLUDED.ends_at, ical = EXCLUDED.ical, all_day = EXCLUDED.all_day, start_date = EXCLUDED.start_date,
           end_date = EXCLUDED.end_date, time_zone = EXCLUDED.time_zone, floating = EXCLUDED.floating,
           starts_local = EXCLUDED.starts_local, ends_local = EXCLUDED.ends_local, rrule = EXCLUDED.rrule,
           exdates = EXCLUDED.exdates, attendees = EXCLUDED.attendees, reminders = EXCLUDED.reminders, updated_at = now()`,
        [
          batch.accountId,
          batch.calendar,
          rows.map((o) => o.href),
          rows.map((o) => o.event.uid ?? null),
          rows.map((o) => o.etag ?? null),
          rows.map((o) => o.event.summary ?? null),
          // ISO text, not Date: pg would format a Date in the host's zone, and text keeps this independent of it.
          rows.map((o) => o.event.startsAt?.toISOString() ?? null),
          rows.map((o) => o.event.endsAt?.toISOString() ?? null),
          rows.map((o) => o.ical),
          rows.map((o) => o.event.allDay),
          rows.map((o) => o.event.startDate ?? null),
          rows.map((o) => o.event.endDate ?? null),
          rows.map((o) => o.event.timeZone ?? null),
          rows.map((o) => o.event.floating),
          rows.map((o) => o.event.startLocal ?? null),
          rows.map((o) => o.event.endLocal ?? null),
          rows.map((o) => o.event.rrule ?? null),
          rows.map((o) => JSON.stringify(o.event.exdates)),
          rows.map((o) => JSON.stringify(o.event.attendees)),
          rows.map((o) => JSON.stringify(o.event.reminders)),
        ],
      );
    }
    if (batch.completeWithToken !== undefined) {
      await client.query('UPDATE calendars SET sync_token = $3, synced_at = now() WHERE account_id = $1 AND calendar = $2', [
        batch.accountId,
        batch.calendar,
        batch.completeWithToken,
      ]);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
