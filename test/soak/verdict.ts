/**
 * "Growth levels off": the first third of a process's samples is warm-up; the mean of the last
 * third must not exceed the mean of the middle third by more than a tolerance (relative + an
 * absolute slack, so noise on small values does not fail a run). A leak at a steady rate shows as
 * last-third mean = middle-third mean + rate x (run / 3) and fails once that exceeds the tolerance.
 */
import type { Sample } from './sampler';

export interface Tolerance {
  rel: number;
  abs: number;
}

/** Documented in docs/reliability.md. */
export const TOLERANCES: Record<'rssMiB' | 'heapUsedMiB' | 'fds', Tolerance> = {
  rssMiB: { rel: 0.1, abs: 16 },
  heapUsedMiB: { rel: 0.15, abs: 8 },
  fds: { rel: 0.1, abs: 8 },
};

export interface SeriesVerdict {
  proc: string;
  metric: keyof typeof TOLERANCES;
  n: number;
  first: number;
  last: number;
  middleMean: number;
  lastMean: number;
  limit: number;
  ok: boolean;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/** Verdicts for every (process, metric) with at least 6 samples of one pid. */
export function verdicts(samples: Sample[], procs: string[]): SeriesVerdict[] {
  const out: SeriesVerdict[] = [];
  for (const proc of procs) {
    const mine = samples.filter((s) => s.proc === proc);
    const pid = mine[0]?.pid;
    const series = mine.filter((s) => s.pid === pid); // one process lifetime
    for (const metric of Object.keys(TOLERANCES) as (keyof typeof TOLERANCES)[]) {
      const xs = series.map((s) => s[metric]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
      if (xs.length < 6) continue;
      const third = Math.floor(xs.length / 3);
      const middle = xs.slice(third, 2 * third);
      const last = xs.slice(xs.length - third);
      const tol = TOLERANCES[metric];
      const m = mean(middle);
      const limit = m * (1 + tol.rel) + tol.abs;
      const l = mean(last);
      out.push({ proc, metric, n: xs.length, first: xs[0]!, last: xs[xs.length - 1]!, middleMean: m, lastMean: l, limit, ok: l <= limit });
    }
  }
  return out;
}
