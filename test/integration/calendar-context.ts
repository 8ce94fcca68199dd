/**
 * A `JobContext` for calling calendar handlers directly: silent pino logger, real AbortSignal, recorded
 * checkpoints. Like the runtime, `saveCheckpoint` is continue-as-new: it aborts the signal
 * (`CheckpointSavedError`), and `runToCompletion` plays the queue's part by re-invoking the handler with
 * the saved state until a run completes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { JobContext } from '../../src/machines/define-job.js';
import { CheckpointSavedError } from '../../src/runtime/job-error.js';
import type { CalendarEvent } from '../../src/jobs/calendar/schemas.js';

export interface TestContext<C> {
  ctx: JobContext<C>;
  controller: AbortController;
  /** Every state passed to `saveCheckpoint`, in order. */
  checkpoints: C[];
}

export function testContext<C = unknown>(
  options: { checkpoint?: C; attempt?: number; onCheckpoint?: (state: C, count: number, controller: AbortController) => void } = {},
): TestContext<C> {
  const controller = new AbortController();
  const checkpoints: C[] = [];
  const ctx: JobContext<C> = {
    jobId: 'job-test',
    type: 'test',
    attempt: options.attempt ?? 1,
    signal: controller.signal,
    logger: pino({ level: 'silent' }),
    idempotencyKey: undefined,
    checkpoint: options.checkpoint,
    async saveCheckpoint(state) {
      checkpoints.push(structuredClone(state));
      options.onCheckpoint?.(state, checkpoints.length, controller);
      // Continue-as-new, as in the runtime: the continuation is queued, this run must stop.
      if (!controller.signal.aborted) controller.abort(new CheckpointSavedError());
    },
    async heartbeat() {},
  };
  return { ctx, controller, checkpoints };
}

/** What `runToCompletion` saw: each run's result and every checkpoint saved, in order. */
export interface Completion<C, S> {
  runs: S[];
  checkpoints: C[];
}

/**
 * Runs a checkpointing job the way the queue does: `step` gets a fresh context whose `checkpoint` is the
 * state the previous run saved (or `options.checkpoint` first), until a run reports `completed`. A run
 * that neither completes nor saves exactly one checkpoint fails the test.
 */
export async function runToCompletion<C, S extends { completed: boolean }>(
  step: (ctx: JobContext<C>) => Promise<S>,
  options: { checkpoint?: C; maxRuns?: number } = {},
): Promise<Completion<C, S>> {
  const runs: S[] = [];
  const checkpoints: C[] = [];
  let checkpoint = options.checkpoint;
  const maxRuns = options.maxRuns ?? 1_000;
  for (;;) {
    if (runs.length >= maxRuns) throw new Error(`runToCompletion: not completed after ${maxRuns} runs`);
    const run = testContext<C>(checkpoint === undefined ? {} : { checkpoint });
    const stats = await step(run.ctx);
    runs.push(stats);
    checkpoints.push(...run.checkpoints);
    if (stats.completed) {
      if (run.checkpoints.length > 0) throw new Error('runToCompletion: a run both completed and saved a checkpoint');
      return { runs, checkpoints };
    }
    if (run.checkpoints.length !== 1)
      throw new Error(`runToCompletion: run ${runs.length} neither completed nor saved one checkpoint (saved ${run.checkpoints.length})`);
    checkpoint = run.checkpoints[0];
  }
}

/** `count` distinct events `${prefix}-0001`… one hour each, a day apart. */
export function makeEvents(prefix: string, count: number): CalendarEvent[] {
  return Array.from({ length: count }, (_, i) => {
    const start = new Date(Date.UTC(2027, 0, 1, 9) + i * 86_400_000);
    return {
      uid: `${prefix}-${String(i).padStart(4, '0')}`,
      summary: `${prefix} event ${i}`,
      start: start.toISOString(),
      end: new Date(start.getTime() + 3_600_000).toISOString(),
      description: `number ${i}`,
    };
  });
}

/**
 * The python of the peers' `icalendar` venv (scripts/peers/icalendar.sh, installed by `npm test`):
 * Python's `icalendar`, an iCalendar parser independent of ical.js, reads back what the jobs write.
 */
const ICALENDAR_PYTHON = join(
  process.env.CALSYNC_PEERS_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'calsync-jobs', 'peers'),
  'icalendar',
  'bin',
  'python',
);

/** What Python's `icalendar` reads from one VEVENT: times as UTC ISO text (`+00:00`), or dates. */
export interface PythonEvent {
  uid: string;
  summary: string | null;
  description: string | null;
  location: string | null;
  start: string;
  end: string | null;
  startTzid: string | null;
  startLocal: string | null;
  rrule: string | null;
  exdates: string[];
  recurrenceId: string | null;
  /** `start` plus 0, 1, 2 ... 6 days in wall time (Python's datetime arithmetic on zoned values), in UTC. */
  startPlusDays: string[];
  attendees: { email: string; cn: string | null; role: string | null; partstat: string | null }[];
  alarms: { action: string; triggerSeconds: number | null }[];
}

const PYTHON_READER = `
import json, sys, datetime
from icalendar import Calendar
cal = Calendar.from_ical(sys.stdin.buffer.read())
def iso(v):
    if isinstance(v, datetime.datetime):
        return v.astimezone(datetime.timezone.utc).isoformat() if v.tzinfo else 'floating:' + v.isoformat()
    return v.isoformat()
def s(ev, name):
    v = ev.get(name)
    return None if v is None else str(v)
out = {'vtimezones': [str(tz.get('tzid')) for tz in cal.walk('VTIMEZONE')], 'events': []}
for ev in cal.walk('VEVENT'):
    start = ev.decoded('dtstart')
    end = ev.decoded('dtend') if ev.get('dtend') is not None else None
    ex = ev.get('exdate')
    exl = [] if ex is None else (ex if isinstance(ex, list) else [ex])
    att = ev.get('attendee')
    attl = [] if att is None else (att if isinstance(att, list) else [att])
    alarms = []
    for a in ev.walk('VALARM'):
        t = a.decoded('trigger')
        alarms.append({'action': str(a.get('action')), 'triggerSeconds': t.total_seconds() if isinstance(t, datetime.timedelta) else None})
    out['events'].append({
        'uid': str(ev.get('uid')), 'summary': s(ev, 'summary'), 'description': s(ev, 'description'), 'location': s(ev, 'location'),
        'start': iso(start), 'end': None if end is None else iso(end),
        'startTzid': ev['dtstart'].params.get('TZID'),
        'startLocal': start.replace(tzinfo=None).isoformat() if isinstance(start, datetime.datetime) else None,
        'rrule': ev['rrule'].to_ical().decode() if ev.get('rrule') is not None else None,
        'exdates': [iso(d.dt) for e in exl for d in e.dts],
        'recurrenceId': iso(ev.decoded('recurrence-id')) if ev.get('recurrence-id') is not None else None,
        'startPlusDays': [iso(start + datetime.timedelta(days=i)) for i in range(7)],
        'attendees': [{'email': str(a).replace('mailto:', ''), 'cn': a.params.get('CN'), 'role': a.params.get('ROLE'), 'partstat': a.params.get('PARTSTAT')} for a in attl],
        'alarms': alarms,
    })
json.dump(out, sys.stdout, ensure_ascii=False)
`;

/** Parses `ics` with Python's `icalendar` (the peers' venv; a missing one fails with the command to run). */
export function readWithPythonIcalendar(ics: string): { vtimezones: string[]; events: PythonEvent[] } {
  if (!existsSync(ICALENDAR_PYTHON))
    throw new Error(`${ICALENDAR_PYTHON} is missing: run bash scripts/peers/icalendar.sh install (npm test does)`);
  const result = spawnSync(ICALENDAR_PYTHON, ['-c', PYTHON_READER], { input: ics, encoding: 'utf8', timeout: 30_000 });
  if (result.status !== 0) throw new Error(`python icalendar failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as { vtimezones: string[]; events: PythonEvent[] };
}
