/**
 * The soak: two HA hubs (active, one redis-server) and an agent on hub A serving a verifying echo;
 * mixed traffic on both hubs (local on A, cross-replica via B) for the whole run; a fault every
 * `faultEveryMs` (agent kill -9 + restart, then redis kill -9 + restart, alternating); every
 * `sampleEveryMs` a sample of each process (RSS, fds, heap, event-loop lag). Every flow goes through
 * the invariant checker.
 */
import { startRedis, type AgentHandle } from '../support';
import { Tally } from '../chaos/invariant';
import { agentLoose, agentOn, linkUp, meshHub } from '../chaos/support/cluster';
import { startLoad, type FlowShape } from '../chaos/support/load';
import { Resources } from '../chaos/support/scenario';
import { startVerifyingEcho } from '../chaos/support/targets';
import { sampleOne, type Sample, type Watched } from './sampler';
import { verdicts, type SeriesVerdict } from './verdict';

export interface SoakOptions {
  durationMs: number;
  sampleEveryMs: number;
  faultEveryMs: number;
  concurrency: number;
  seed: string;
  note: (t: string) => void;
}

export interface FaultRecord {
  t: number;
  kind: 'agent_kill' | 'redis_kill';
  /** ms until service was back (agent connected / registry recovered), -1 if not within 60 s. */
  backMs: number;
}

export interface SoakResult {
  options: Omit<SoakOptions, 'note'>;
  tally: Tally;
  samples: Sample[];
  faults: FaultRecord[];
  verdicts: SeriesVerdict[];
  pass: boolean;
  line: string;
}

/** bulk, request/response, short */
const SOAK_MIX: FlowShape[] = [
  { bytes: 1024 * 1024 },
  { bytes: 4 * 1024, rounds: 16 },
  { bytes: 512 },
  { bytes: 64 * 1024, rounds: 2 },
  { bytes: 512 },
];

export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const res = new Resources();
  try {
    const echo = await startVerifyingEcho();
    res.add(() => echo.close());
    const redis = await startRedis();
    res.add(() => redis.kill());
    const secret = `soak-${o.seed}-0123456789abcdef0123`;
    const a = await meshHub('hub-a', { redis, secret, connector: 'echo' });
    res.add(() => a.kill());
    const b = await meshHub('hub-b', { redis, secret, connector: 'echo' });
    res.add(() => b.kill());
    await Promise.all([linkUp(a, 'hub-b'), linkUp(b, 'hub-a')]);
    const connectors = { echo: `127.0.0.1:${echo.port}` };
    let agent: AgentHandle = await agentOn(a, 'agent-soak', connectors);
    res.add(() => agent.kill());

    const watched: Watched[] = [
      { name: 'hub_a', pid: () => a.proc.pid, httpUrl: () => a.httpUrl },
      { name: 'hub_b', pid: () => b.proc.pid, httpUrl: () => b.httpUrl },
      { name: 'agent', pid: () => (agent.proc.running ? agent.proc.pid : undefined) },
    ];
    const samples: Sample[] = [];
    const faults: FaultRecord[] = [];
    const t0 = Date.now();
    const tally = new Tally();
    const load = startLoad({
      lanes: [
        { group: 'local', port: a.listenPort },
        { group: 'cross', port: b.listenPort },
      ],
      seed: o.seed,
      concurrency: o.concurrency,
      maxFlows: 10_000_000,
      maxMs: o.durationMs,
      flowDeadlineMs: 30_000,
      mix: SOAK_MIX,
      tally,
      targetSaw: (t) => echo.seen.has(t),
    });

    let nextSample = 0;
    let nextFault = o.faultEveryMs;
    let faultNo = 0;
    const maxTicks = Math.ceil(o.durationMs / Math.min(o.sampleEveryMs, o.faultEveryMs)) + 10;
    for (let tick = 0; tick < maxTicks; tick++) {
      const now = Date.now() - t0;
      if (now >= o.durationMs) break;
      if (now >= nextSample) {
        nextSample += o.sampleEveryMs;
        for (const w of watched) {
          const s = await sampleOne(w, Math.round((Date.now() - t0) / 100) / 10);
          if (s !== undefined) samples.push(s);
        }
        const last = samples.filter((s) => s.proc === 'hub_a').at(-1);
        o.note(`t=${Math.round(now / 1000)}s flows=${tally.attempted} hub_a rss=${last?.rssMiB.toFixed(1)} MiB fds=${last?.fds}`);
      }
      if (now >= nextFault && now < o.durationMs - 5000) {
        nextFault += o.faultEveryMs;
        const kind = faultNo++ % 2 === 0 ? 'agent_kill' : 'redis_kill';
        const f0 = Date.now();
        let back = -1;
        try {
          if (kind === 'agent_kill') {
            await agent.kill();
            const m = a.proc.mark();
            agent = await agentLoose(a, 'agent-soak', connectors);
            await a.proc.waitForEventSince(m, 'agent_connected', (e) => e.agent_id === 'agent-soak', 60_000);
          } else {
            const m = { a: a.proc.mark(), b: b.proc.mark() };
            await redis.kill();
            await b.proc.waitForEventSince(m.b, 'registry_degraded', undefined, 30_000);
            await redis.restart();
            await Promise.all([
              a.proc.waitForEventSince(m.a, 'registry_recovered', undefined, 60_000),
              b.proc.waitForEventSince(m.b, 'registry_recovered', undefined, 60_000),
            ]);
          }
          back = Date.now() - f0;
        } catch (e) {
          o.note(`fault ${kind}: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
        }
        faults.push({ t: Math.round((f0 - t0) / 100) / 10, kind, backMs: back });
        o.note(`fault ${kind} at t=${Math.round((f0 - t0) / 1000)}s, back after ${back} ms`);
        continue;
      }
      const wait = Math.max(10, Math.min(nextSample, nextFault, o.durationMs) - (Date.now() - t0));
      await new Promise((r) => setTimeout(r, wait)); // pacing of the sampler, not synchronisation
    }
    await load.stop();
    // final sample after the load stopped
    for (const w of watched) {
      const s = await sampleOne(w, Math.round((Date.now() - t0) / 100) / 10);
      if (s !== undefined) samples.push(s);
    }
    tally.crossCheck(echo.records);
    const v = verdicts(samples, ['hub_a', 'hub_b']);
    const faultsOk = faults.every((f) => f.backMs >= 0);
    const pass = tally.counts.corrupted === 0 && tally.counts.hung === 0 && v.every((x) => x.ok) && faultsOk && tally.attempted > 0;
    const series = (proc: string, pick: (s: Sample) => number | null, digits = 0): string => {
      const xs = samples.filter((s) => s.proc === proc).map(pick).filter((x): x is number => x !== null);
      return xs.length === 0 ? 'n/a' : `${xs[0]!.toFixed(digits)}->${xs[xs.length - 1]!.toFixed(digits)}`;
    };
    const maxOf = (proc: string, pick: (s: Sample) => number | null): string => {
      const xs = samples.filter((s) => s.proc === proc).map(pick).filter((x): x is number => x !== null);
      return xs.length === 0 ? 'n/a' : Math.max(...xs).toFixed(1);
    };
    const faultText = ['agent_kill', 'redis_kill'].map((k) => `${k}:${faults.filter((f) => f.kind === k).length}`).join(',');
    const line =
      `soak duration=${Math.round(o.durationMs / 1000)}s ${tally.countsText()} (faults=${faultText} samples=${samples.length} ` +
      `hub_a_rss_mib=${series('hub_a', (s) => s.rssMiB)} hub_b_rss_mib=${series('hub_b', (s) => s.rssMiB)} ` +
      `hub_a_heap_mib=${series('hub_a', (s) => s.heapUsedMiB)} hub_a_fds=${series('hub_a', (s) => s.fds)} ` +
      `hub_b_fds=${series('hub_b', (s) => s.fds)} hub_a_lag_p99_ms_max=${maxOf('hub_a', (s) => s.lagP99Ms)} ` +
      `agent_rss_mib=${series('agent', (s) => s.rssMiB)} verdict=${pass ? 'levels_off' : 'FAIL'})`;
    return {
      options: { durationMs: o.durationMs, sampleEveryMs: o.sampleEveryMs, faultEveryMs: o.faultEveryMs, concurrency: o.concurrency, seed: o.seed },
      tally,
      samples,
      faults,
      verdicts: v,
      pass,
      line,
    };
  } finally {
    await res.close();
  }
}
