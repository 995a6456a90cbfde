/**
 * Load generator: runs checked flows with bounded concurrency, in count and in time, until told to
 * stop. Flow sizes cycle through a mix (small request/response, medium, bulk).
 */
import { runFlow, Tally, type FlowResult } from '../invariant';

export interface Lane {
  /** Group name in the tally (e.g. 'local', 'cross'). */
  group: string;
  port: number;
}

export interface FlowShape {
  bytes: number;
  rounds?: number;
}

/** small req/resp, medium, bulk */
export const DEFAULT_MIX: FlowShape[] = [
  { bytes: 2 * 1024, rounds: 8 },
  { bytes: 64 * 1024 },
  { bytes: 16 * 1024, rounds: 4 },
  { bytes: 512 * 1024 },
];

export interface LoadOptions {
  lanes: Lane[];
  seed: string;
  concurrency: number;
  /** Stop starting flows after this many (total over lanes). */
  maxFlows: number;
  /** Stop starting flows after this long. */
  maxMs: number;
  flowDeadlineMs: number;
  mix?: FlowShape[];
  tally?: Tally;
  /** Answers whether the target saw a flow (for 0-byte closes). */
  targetSaw?: (tag: string) => boolean;
  onResult?: (r: FlowResult) => void;
}

export interface Load {
  tally: Tally;
  /** Flows started so far. */
  started(): number;
  /** Flows finished so far. */
  finished(): number;
  /** Resolves once `n` more flows have finished (bounded by timeoutMs, then resolves anyway). */
  waitFinished(n: number, timeoutMs: number): Promise<boolean>;
  /** Stop starting flows; resolves when every started flow has ended (each is deadline-bounded). */
  stop(): Promise<Tally>;
  done: Promise<Tally>;
}

export function startLoad(opts: LoadOptions): Load {
  const tally = opts.tally ?? new Tally();
  const mix = opts.mix ?? DEFAULT_MIX;
  const t0 = Date.now();
  let started = 0;
  let finished = 0;
  let stopping = false;
  const waiters = new Set<{ target: number; resolve: (ok: boolean) => void; timer: NodeJS.Timeout }>();
  const worker = async (w: number): Promise<void> => {
    // bounded by maxFlows and maxMs
    while (!stopping && started < opts.maxFlows && Date.now() - t0 < opts.maxMs) {
      const i = started++;
      const lane = opts.lanes[(i + w) % opts.lanes.length]!;
      const shape = mix[i % mix.length]!;
      const r = await runFlow(
        { port: lane.port, bytes: shape.bytes, rounds: shape.rounds, seed: opts.seed, deadlineMs: opts.flowDeadlineMs, group: lane.group },
        opts.targetSaw,
      );
      tally.add(r);
      finished++;
      opts.onResult?.(r);
      for (const wt of waiters) {
        if (finished >= wt.target) {
          clearTimeout(wt.timer);
          waiters.delete(wt);
          wt.resolve(true);
        }
      }
      // a refused flow returns at once: do not spin on a dead port
      if (r.outcome === 'refused') await new Promise((res) => setTimeout(res, 20));
    }
  };
  const done = Promise.all(Array.from({ length: opts.concurrency }, (_x, w) => worker(w))).then(() => {
    for (const wt of waiters) {
      clearTimeout(wt.timer);
      wt.resolve(false);
    }
    waiters.clear();
    return tally;
  });
  return {
    tally,
    started: () => started,
    finished: () => finished,
    waitFinished: (n, timeoutMs) =>
      new Promise<boolean>((resolve) => {
        const target = finished + n;
        const wt = { target, resolve, timer: setTimeout(() => {
          waiters.delete(wt);
          resolve(false);
        }, timeoutMs) };
        waiters.add(wt);
      }),
    stop: () => {
      stopping = true;
      return done;
    },
    done,
  };
}
