/** The embedded store: PGlite behind its socket, in memory or in a folder that outlives the process's store. */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import pg from 'pg';
import { startEmbeddedStore } from '../../src/store/embedded.js';
import { openStore } from '../../src/store/open-store.js';
import { PostgresJobStore } from '../../src/store/postgres-store.js';

describe('startEmbeddedStore', () => {
  test('keeps jobs in a folder it creates, across a close and a new start', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'calsync-pglite-'));
    const dir = join(parent, 'not', 'yet', 'there');
    try {
      const first = await startEmbeddedStore({ dir });
      expect(first.url).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
      const job = { id: randomUUID(), type: 'embedded.persist', idempotencyKey: 'k', createdAt: 1_700_000_000_000 };
      expect(await first.store.createJobs([job])).toEqual([{ id: job.id, created: true }]);
      await first.close();
      await first.close();

      const second = await startEmbeddedStore({ dir });
      try {
        expect(await second.store.migrate()).toEqual({ applied: [] });
        expect(await second.store.getJob(job.id)).toMatchObject({ state: 'pending', idempotencyKey: 'k', createdAt: 1_700_000_000_000 });
        expect(await second.store.createJobs([{ ...job, id: randomUUID() }])).toEqual([{ id: job.id, created: false }]);
      } finally {
        await second.close();
      }
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });

  test('openStore: embedded in memory, or a ConfigError when its folder cannot be made', async () => {
    const opened = await openStore({ kind: 'embedded' }, 'CALSYNC_STORE_URL');
    try {
      expect(opened).toMatchObject({ embedded: true, url: expect.stringMatching(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/) });
      await opened?.store.ping();
    } finally {
      await opened?.close();
    }
    const parent = await mkdtemp(join(tmpdir(), 'calsync-pglite-'));
    try {
      await writeFile(join(parent, 'file'), '');
      const dir = join(parent, 'file', 'data');
      await expect(openStore({ kind: 'embedded', dir }, 'CALSYNC_STORE_DIR')).rejects.toThrow(
        new RegExp(`^CALSYNC_STORE_DIR: could not start the embedded store in ${dir}: .*ENOTDIR`),
      );
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });

  test('one PGlite session, many connections: prepared statements never collide across clients or after a failed query', async () => {
    // pglite-socket serves every socket connection from one session, so a statement one client
    // prepared is still there for the next; the names must differ per client (postgres-sql.ts).
    const embedded = await startEmbeddedStore();
    try {
      const job = (): { id: string; type: string; createdAt: number } => ({
        id: randomUUID(),
        type: 'embedded.prepared',
        createdAt: 1_700_000_000_000,
      });
      // Another process's CLI, one after the other, through the socket (as `--store postgres://…` of `npm start`).
      for (let n = 0; n < 3; n++) {
        const outside = new PostgresJobStore({ pool: new pg.Pool({ connectionString: embedded.url, max: 1 }), closePool: true });
        try {
          const created = job();
          expect(await outside.createJobs([created])).toEqual([{ id: created.id, created: true }]);
        } finally {
          await outside.close();
        }
      }
      // The embedded store's own client after a query it failed (pg discards that connection).
      expect(await embedded.store.createJobs([job()])).toMatchObject([{ created: true }]);
      await expect(embedded.store.createJobs([{ ...job(), createdAt: Number.NaN }])).rejects.toThrow();
      expect(await embedded.store.createJobs([job()])).toMatchObject([{ created: true }]);
    } finally {
      await embedded.close();
    }
  });
});
