/**
 * What every chaos scenario shares: options, result, resource cleanup, and the "fault under load"
 * sequence (held flows established mid-stream, background load, fault, recovery, more load).
 */
import { cleanupAll } from '../../support';
import { runFlow, scenarioLine, Tally, type FlowResult } from '../invariant';
import { startLoad, type FlowShape, type Lane } from './load';
import type { VerifyingEcho } from './targets';

export interface ScenarioOptions {
  /** Flows of background load (besides the held ones). */
  flows: number;
  /** Upper bound on the load phases. */
  durationMs: number;
  seed: string;
  /** A flow neither finished nor failed within this is hung. */
  flowDeadlineMs: number;
  concurrency: number;
  /** Progress notes (stderr in the CLI). */
  note: (text: string) => void;
}

export interface ScenarioResult {
  name: string;
  tally: Tally;
  extras: Record<string, string | number>;
  /** The one printed line. */
  line: string;
  /** Evidence that the fault really happened and hit flows (the CI test asserts each is true). */
  checks: Record<string, boolean>;
}

export type Scenario = (o: ScenarioOptions) => Promise<ScenarioResult>;

/** Closers run in reverse order, then every process still running is killed by pid. */
export class Resources {
  private readonly closers: Array<() => Promise<unknown>> = [];
  add(fn: () => Promise<unknown>): void {
    this.closers.push(fn);
  }
  async close(): Promise<void> {
    for (const c of this.closers.splice(0).reverse()) await c().catch(() => undefined);
    await cleanupAll();
  }
}

/** Build the result (after cross-checking completed flows against the target's records). */
export function finish(
  name: string,
  tally: Tally,
  extras: Record<string, string | number>,
  checks: Record<string, boolean>,
  echo?: VerifyingEcho,
): ScenarioResult {
  if (echo !== undefined) extras.target_checked = tally.crossCheck(echo.records);
  const failed = Object.entries(checks).filter(([, v]) => !v).map(([k]) => k);
  if (failed.length > 0) extras.failed_checks = failed.join(',');
  return { name, tally, extras, checks, line: scenarioLine(name, tally, extras) };
}

export interface HeldFlows {
  /** Resolves once every held flow is established end to end (or the deadline passed). */
  established: Promise<number>;
  release(): void;
  done: Promise<FlowResult[]>;
}

/** `n` flows that send half, get it echoed, then wait for release() before the other half. */
export function holdFlows(lanes: Lane[], n: number, o: ScenarioOptions, bytes = 256 * 1024, echo?: VerifyingEcho): HeldFlows {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let up = 0;
  let onAll!: (n: number) => void;
  const established = new Promise<number>((r) => (onAll = r));
  const timer = setTimeout(() => onAll(up), Math.min(30_000, o.flowDeadlineMs));
  const done = Promise.all(
    Array.from({ length: n }, (_x, i) =>
      runFlow(
        {
          port: lanes[i % lanes.length]!.port,
          group: `held_${lanes[i % lanes.length]!.group}`,
          bytes,
          rounds: 2,
          seed: o.seed,
          gate,
          deadlineMs: o.flowDeadlineMs + 60_000,
          onEstablished: () => {
            if (++up === n) {
              clearTimeout(timer);
              onAll(up);
            }
          },
        },
        echo ? (t) => echo.seen.has(t) : undefined,
      ),
    ),
  );
  void done.then(() => {
    clearTimeout(timer);
    onAll(up);
  });
  return { established, release: () => release(), done };
}

/** Probe until one flow on `lane` completes exact; returns ms taken (or -1 at the deadline). */
export async function timeToExact(lane: Lane, o: ScenarioOptions, timeoutMs: number, echo?: VerifyingEcho, bytes = 8 * 1024): Promise<number> {
  const t0 = Date.now();
  const max = Math.ceil(timeoutMs / 50) + 10;
  for (let i = 0; i < max && Date.now() - t0 < timeoutMs; i++) {
    const r = await runFlow({ port: lane.port, bytes, seed: o.seed, deadlineMs: Math.min(10_000, o.flowDeadlineMs), group: 'probe' }, echo ? (t) => echo.seen.has(t) : undefined);
    if (r.outcome === 'completed_exact') return Date.now() - t0;
    if (r.outcome === 'corrupted' || r.outcome === 'hung') throw new Error(`probe flow ${r.outcome}: ${JSON.stringify(r)}`);
    await new Promise((res) => setTimeout(res, 50));
  }
  return -1;
}

export interface FaultRunPlan {
  lanes: Lane[];
  heldLanes: Lane[];
  held: number;
  heldBytes?: number;
  mix?: FlowShape[];
  echo: VerifyingEcho;
  /** Inject the fault (returns once it has happened). */
  fault: () => Promise<void>;
  /** Flows started during the outage before recovery begins. */
  outageFlows: number;
  /** Undo the fault (restart what was killed...). Optional. */
  recover?: () => Promise<void>;
  /** Lane whose first exact flow after recovery marks "service back". */
  probe: Lane;
  recoveryTimeoutMs: number;
}

export interface FaultRunOutcome {
  tally: Tally;
  held: Tally;
  recoveryMs: number;
  faultAtFlows: number;
}

/**
 * warm-up -> held flows established -> background load -> fault -> outage load -> recover ->
 * time to the first exact flow -> the rest of the load. Every phase is bounded.
 */
export async function faultUnderLoad(p: FaultRunPlan, o: ScenarioOptions): Promise<FaultRunOutcome> {
  const tally = new Tally();
  const saw = (t: string): boolean => p.echo.seen.has(t);
  const held = holdFlows(p.heldLanes, p.held, o, p.heldBytes, p.echo);
  const nEst = await held.established;
  o.note(`held flows established: ${nEst}/${p.held}`);
  const total = Math.max(p.outageFlows + 4, o.flows);
  const before = Math.max(2, Math.floor((total - p.outageFlows) / 2));
  const t0 = Date.now();
  const phase = (maxFlows: number) =>
    startLoad({
      lanes: p.lanes,
      seed: o.seed,
      concurrency: o.concurrency,
      maxFlows,
      maxMs: Math.max(5000, o.durationMs - (Date.now() - t0)),
      flowDeadlineMs: o.flowDeadlineMs,
      mix: p.mix,
      tally,
      targetSaw: saw,
    });
  // Before and during the fault: `before` flows, then the fault, then `outageFlows` more.
  const load1 = phase(before + p.outageFlows);
  await load1.waitFinished(before, o.durationMs / 2);
  const faultAtFlows = load1.finished();
  await p.fault();
  held.release();
  await load1.done;
  let recoveryMs: number;
  if (p.recover !== undefined) {
    const r0 = Date.now();
    await p.recover();
    const probe = await timeToExact(p.probe, o, p.recoveryTimeoutMs, p.echo);
    recoveryMs = probe < 0 ? -1 : Date.now() - r0;
  } else {
    recoveryMs = await timeToExact(p.probe, o, p.recoveryTimeoutMs, p.echo);
  }
  // After recovery: the rest.
  await phase(Math.max(2, total - load1.started())).done;
  const heldResults = await held.done;
  const heldTally = new Tally();
  for (const r of heldResults) {
    tally.add(r);
    heldTally.add(r);
  }
  return { tally, held: heldTally, recoveryMs, faultAtFlows };
}
