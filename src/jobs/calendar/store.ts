/**
 * The PostgreSQL side of `calendar.sync`: the stored sync token of a calendar and its events.
 */
import type pg from 'pg';
import type { ParsedEvent } from './ical.js';

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
      await client.query(
        `INSERT INTO events (account_id, calendar, href, uid, etag, summary, starts_at, ends_at, ical, updated_at)
         SELECT $1, $2, u.href, u.uid, u.etag, u.summary, u.starts_at, u.ends_at, u.ical, now()
           FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::timestamptz[], $9::text[])
                AS u(href, uid, etag, summary, starts_at, ends_at, ical)
         ON CONFLICT (account_id, calendar, href) DO UPDATE SET
           uid = EXCLUDED.uid, etag = EXCLUDED.etag, summary = EXCLUDED.summary, starts_at = EXCLUDED.starts_at,
           ends_at = EXCLUDED.ends_at, ical = EXCLUDED.ical, updated_at = now()`,
        [
          batch.accountId,
          batch.calendar,
          batch.upserts.map((o) => o.href),
          batch.upserts.map((o) => o.event.uid ?? null),
          batch.upserts.map((o) => o.etag ?? null),
          batch.upserts.map((o) => o.event.summary ?? null),
          batch.upserts.map((o) => o.event.startsAt ?? null),
          batch.upserts.map((o) => o.event.endsAt ?? null),
          batch.upserts.map((o) => o.ical),
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
