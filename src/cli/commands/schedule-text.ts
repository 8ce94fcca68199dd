/** How the `schedules` commands print a schedule: its timing in a few words, and `schedules show`. */
import type { ScheduleDetail, ScheduleView } from '../../ops/schedules.js';
import { columns, cut } from './text.js';

/** How a schedule ticks, in a few words. */
export function timingText(view: ScheduleView): string {
  const base = view.everyMs !== null ? `every ${durationText(view.everyMs)}` : `cron "${view.cron}" ${view.timezone ?? 'UTC'}`;
  return view.jitterMs > 0 ? `${base} ±${durationText(view.jitterMs)}` : base;
}

/** Milliseconds as the largest unit that divides them: 300000 → 5m. */
export function durationText(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** The human-readable `schedules show`. */
export function scheduleText(detail: ScheduleDetail): string {
  const lines = [
    `schedule ${detail.id}${detail.paused ? ' (paused)' : ''}`,
    `  job:              ${detail.job.type} ${cut(JSON.stringify(detail.job.payload), 100)}`,
    `  ticks:            ${timingText(detail)}`,
    `  overlap:          ${detail.overlap}`,
    `  catch-up window:  ${durationText(detail.catchupWindowMs)}`,
    `  start / end:      ${detail.startAt ?? '-'} / ${detail.endAt ?? '-'}`,
    `  fired / skipped:  ${detail.firedTotal} / ${detail.skippedTotal}`,
    `  buffered tick:    ${detail.bufferedTickAt ?? '-'}`,
    `  created:          ${detail.createdAt}`,
    `  updated:          ${detail.updatedAt}`,
    '',
    detail.paused ? 'next runs (when resumed, from then on):' : 'next runs:',
    ...(detail.upcoming.length === 0 ? ['  (none: the schedule has ended)'] : detail.upcoming.map((at) => `  ${at}`)),
    '',
    'last runs, newest first:',
  ];
  if (detail.runs.length === 0) lines.push('  (none yet)');
  else
    lines.push(
      ...columns([
        ['  TICK', 'FIRED', 'KIND', 'JOB', 'OUTCOME'],
        ...detail.runs.map((run) => [`  ${run.tickAt}`, run.firedAt, run.kind, run.jobId, run.state ?? '(pruned)']),
      ]),
    );
  return lines.join('\n');
}
