import * as hdr from 'hdr-histogram-js';

/** 1 µs .. 1 h at 3 significant digits. */
const HIGHEST_US = 3_600_000_000;

export interface LatencySummaryMs {
  readonly min: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p99_9: number;
  readonly max: number;
  readonly mean: number;
}

/** Counts and latencies of the measured window (single event loop: no locking needed). */
export class Stats {
  recording = false;
  ok = 0;
  /** Connections opened over the whole run, warm-up included. */
  connects = 0;
  readonly errors = new Map<string, number>();
  private readonly hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_US, numberOfSignificantValueDigits: 3 });

  recordOk(latencyNs: bigint): void {
    if (!this.recording) return;
    this.ok++;
    const us = Math.max(1, Math.min(HIGHEST_US, Math.round(Number(latencyNs) / 1000)));
    this.hist.recordValue(us);
  }

  recordError(kind: string): void {
    if (!this.recording) return;
    this.errors.set(kind, (this.errors.get(kind) ?? 0) + 1);
  }

  get errorCount(): number {
    let n = 0;
    for (const v of this.errors.values()) n += v;
    return n;
  }

  /** p-th percentile in ms (0 when nothing was recorded). */
  percentileMs(p: number): number {
    return this.hist.totalCount === 0 ? 0 : this.hist.getValueAtPercentile(p) / 1000;
  }

  latency(): LatencySummaryMs | undefined {
    if (this.hist.totalCount === 0) return undefined;
    // A percentile is reported as the top of its HDR bucket, which can pass the exact max: clamp.
    const max = this.hist.maxValue / 1000;
    const at = (p: number): number => Math.min(max, this.percentileMs(p));
    return {
      min: this.hist.minNonZeroValue / 1000,
      p50: at(50),
      p90: at(90),
      p99: at(99),
      p99_9: at(99.9),
      max,
      mean: this.hist.mean / 1000,
    };
  }
}
