import { Progress } from '../common/progress';
import type { PerfOptions } from './options';
import type { Measured } from './report';
import { Stats } from './stats';
import { runWorker } from './worker';

const TICK_MS = 250;

/**
 * Runs `concurrency` workers for warm-up + duration (bounded: every worker loop ends at end.at and
 * each operation has its own deadline), recording only the measured window.
 */
export async function runLoad(opts: PerfOptions, progress: Progress, signal?: AbortSignal): Promise<Measured & { started: Date; finished: Date }> {
  const stats = new Stats();
  const t0 = Date.now();
  const measureAt = t0 + opts.warmupMs;
  const end = { at: measureAt + opts.durationMs };
  let interrupted = false;
  // An interrupt (Ctrl-C) ends the run early: searches in flight finish, the report covers the time measured.
  const onAbort = (): void => {
    interrupted = true;
    end.at = Math.min(end.at, Date.now());
  };
  if (signal?.aborted) onAbort();
  signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.warmupMs === 0) stats.recording = true;
  let measureStartedAt = opts.warmupMs === 0 ? t0 : 0;
  let lastOk = 0;
  let lastTick = t0;
  const tick = (): void => {
    const now = Date.now();
    if (!stats.recording && now >= measureAt) {
      stats.recording = true;
      measureStartedAt = now;
    }
    const total = Math.max(1, measureAt + opts.durationMs - t0);
    const rate = ((stats.ok - lastOk) * 1000) / Math.max(1, now - lastTick);
    lastOk = stats.ok;
    lastTick = now;
    const phase = stats.recording ? `${((now - measureStartedAt) / 1000).toFixed(1)}/${(opts.durationMs / 1000).toFixed(1)}s` : `warm-up ${((now - t0) / 1000).toFixed(1)}/${(opts.warmupMs / 1000).toFixed(1)}s`;
    progress.update(
      (now - t0) / total,
      `${phase}  ok ${stats.ok}  ${rate.toFixed(0)} ops/s  p99 ${stats.percentileMs(99).toFixed(3)} ms  errors ${stats.errorCount}`,
      now,
    );
  };
  const timer = setInterval(tick, TICK_MS);
  const workers = Array.from({ length: opts.concurrency }, () => runWorker({ opts, stats, end }));
  try {
    await Promise.all(workers);
  } finally {
    clearInterval(timer);
    signal?.removeEventListener('abort', onAbort);
  }
  const finishedAt = Date.now();
  tick();
  progress.done();
  if (measureStartedAt === 0) measureStartedAt = measureAt;
  const elapsedMs = Math.max(1, Math.min(finishedAt, end.at) - measureStartedAt);
  return {
    ok: stats.ok,
    errors: stats.errors,
    elapsedMs,
    connectionsOpened: stats.connects,
    latency: stats.latency(),
    interrupted,
    started: new Date(measureStartedAt),
    finished: new Date(finishedAt),
  };
}
