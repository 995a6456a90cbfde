/**
 * Samples of a running process: RSS and open fds from /proc/<pid>, and — for a hub, whose /metrics
 * carries prom-client's default metrics — heap used and event-loop lag. The agent has no HTTP
 * endpoint (SPEC §4): heap and lag are not available for it (null).
 */
import { metricValue, scrape } from '../support';
import { procStats } from '../chaos/support/cluster';

export interface Sample {
  /** Seconds since the soak started. */
  t: number;
  proc: string;
  pid: number;
  rssMiB: number;
  fds: number;
  heapUsedMiB: number | null;
  /** nodejs_eventloop_lag_p99_seconds (ms); null when not exported. */
  lagP99Ms: number | null;
  /** nodejs_eventloop_lag_max_seconds (ms). */
  lagMaxMs: number | null;
}

export interface Watched {
  name: string;
  pid: () => number | undefined;
  /** http://127.0.0.1:<port> of a hub (for /metrics), undefined for an agent. */
  httpUrl?: () => string;
}

const MiB = 1024 * 1024;

export async function sampleOne(w: Watched, t: number): Promise<Sample | undefined> {
  const pid = w.pid();
  if (pid === undefined) return undefined;
  let st: { rssKiB: number; fds: number };
  try {
    st = procStats(pid);
  } catch {
    return undefined; // not running right now (a fault)
  }
  let heap: number | null = null;
  let p99: number | null = null;
  let max: number | null = null;
  if (w.httpUrl !== undefined) {
    try {
      const text = await scrape(w.httpUrl());
      heap = metricValue(text, 'nodejs_heap_size_used_bytes') / MiB;
      p99 = /^nodejs_eventloop_lag_p99_seconds /m.test(text) ? metricValue(text, 'nodejs_eventloop_lag_p99_seconds') * 1000 : null;
      max = /^nodejs_eventloop_lag_max_seconds /m.test(text) ? metricValue(text, 'nodejs_eventloop_lag_max_seconds') * 1000 : null;
    } catch {
      /* scrape failed: RSS and fds still count */
    }
  }
  return { t, proc: w.name, pid, rssMiB: st.rssKiB / 1024, fds: st.fds, heapUsedMiB: heap, lagP99Ms: p99, lagMaxMs: max };
}
