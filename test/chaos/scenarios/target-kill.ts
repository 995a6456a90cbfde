/**
 * Issue 18: a connector with two targets (round_robin, tcp health checks); one target crashes
 * (every connection reset, listener gone) under load, then comes back on the same port. Flows that
 * were on it are reset (never truncated); new flows skip it at once (a refused dial), then avoid it
 * after `fall` checks; no flow fails at the agent (hub open_failed stays 0); it is used again after
 * `rise` checks. Client-side failures are only flows that were connected to it at the crash (`reset`,
 * or `refused` when the crash beat the flow's first byte to the target).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { makeTmpDir, metricValue, startAgentConnected, type AgentHandle, type JsonEvent } from '../../support';
import { meshHub } from '../support/cluster';
import { faultUnderLoad, finish, Resources, timeToExact, type ScenarioOptions, type ScenarioResult } from '../support/scenario';
import { startVerifyingEcho, type TargetRecord, type VerifyingEcho } from '../support/targets';

/** `seen` over several targets (the flow tag arrived at any of them). */
class AnySeen extends Set<string> {
  constructor(private readonly parts: () => VerifyingEcho[]) {
    super();
  }
  override has(tag: string): boolean {
    return this.parts().some((p) => p.seen.has(tag));
  }
}

const ts = (e: JsonEvent | undefined): number => (e === undefined ? NaN : Date.parse(String(e.ts)));

export async function targetKill(o: ScenarioOptions): Promise<ScenarioResult> {
  const res = new Resources();
  try {
    const a = await startVerifyingEcho();
    let b = await startVerifyingEcho();
    const retired: VerifyingEcho[] = [];
    res.add(() => a.close());
    res.add(() => b.close());
    const tA = `127.0.0.1:${a.port}`;
    const tB = `127.0.0.1:${b.port}`;
    const hub = await meshHub('hub-targets', { connector: 'echo' });
    res.add(() => hub.kill());
    const dir = makeTmpDir('nc-chaos-targets-');
    const config = path.join(dir, 'premise.yaml');
    const health = { interval_sec: 1, timeout_ms: 500, fall: 2, rise: 2, kind: 'tcp' };
    fs.writeFileSync(config, stringify({ connectors: [{ name: 'echo', targets: [tA, tB], strategy: 'round_robin', connect_timeout_ms: 1000, health }] }));
    const agent: AgentHandle = await startAgentConnected(hub, { agentId: 'agent-tk', connectors: {}, env: { NC_CONFIG: config }, timeoutMs: 60_000 });
    res.add(() => agent.kill());

    const union: VerifyingEcho = { ...a, seen: new AnySeen(() => [a, b, ...retired]) };
    const lane = { group: 'local', port: hub.listenPort };
    let killedAt = 0;
    let killMark = 0;
    let resetByKill = 0;
    let unhealthy: JsonEvent | undefined;
    let healthy: JsonEvent | undefined;
    let backAt = 0;
    let backMark = 0;
    const run = await faultUnderLoad(
      {
        lanes: [lane],
        heldLanes: [lane],
        held: 6,
        echo: union,
        outageFlows: Math.max(8, Math.floor(o.flows / 4)),
        fault: async () => {
          killMark = agent.proc.mark();
          killedAt = Date.now();
          resetByKill = await b.kill();
          retired.push(b);
          unhealthy = await agent.proc.waitForEventSince(killMark, 'target_unhealthy', (e) => e.target === tB, 30_000);
          // a flow right after the verdict: it must go straight to the survivor (one dial)
          await timeToExact(lane, o, 10_000, union);
          o.note(`target ${tB} killed (${resetByKill} connections reset); agent marked it unhealthy`);
        },
        recover: async () => {
          backMark = agent.proc.mark();
          backAt = Date.now();
          b = await startVerifyingEcho(Number(tB.split(':')[1]));
          healthy = await agent.proc.waitForEventSince(backMark, 'target_healthy', (e) => e.target === tB, 30_000);
          o.note(`target ${tB} back; agent marked it healthy`);
        },
        probe: lane,
        recoveryTimeoutMs: 60_000,
      },
      o,
    );
    const t = run.tally;
    const openFailed = metricValue(await hub.metrics(), 'nowconnect_open_failed_total', { connector: 'echo' });
    const opens = agent.proc.eventsSince(killMark, 'connection_open').filter((e) => e.connector === 'echo');
    const firstSkip = opens.find((e) => e.attempts !== undefined);
    const firstClean = opens.find((e) => e.target === tA && e.attempts === undefined && ts(e) > ts(unhealthy));
    const usedAgain = agent.proc.eventsSince(backMark, 'connection_open').filter((e) => e.target === tB && ts(e) >= ts(healthy)).length;
    const records = new Map<string, TargetRecord>([...a.records, ...retired.flatMap((r) => [...r.records]), ...b.records]);
    return finish(
      'target_kill',
      t,
      {
        held_reset: `${run.held.counts.reset}/${run.held.attempted}`,
        killed_target_connections_reset: resetByKill,
        kill_to_first_skip_ms: ts(firstSkip) - killedAt,
        kill_to_unhealthy_ms: ts(unhealthy) - killedAt,
        kill_to_first_flow_routed_around_without_a_dial_ms: ts(firstClean) - killedAt,
        back_to_healthy_ms: ts(healthy) - backAt,
        flows_on_it_after_rise: usedAgain,
        hub_open_failed: openFailed,
      },
      {
        target_killed: resetByKill > 0,
        in_flight_flows_on_it_reset: run.held.counts.reset > 0 && run.held.counts.reset < run.held.attempted,
        // a dial to the dead target never failed a flow: the agent skipped to the other one
        no_open_failed: openFailed === 0,
        // the only failures are flows that were on it: the held ones plus at most one per load worker
        failures_only_flows_on_it: t.counts.reset + t.counts.refused <= resetByKill + o.concurrency,
        routed_around: firstClean !== undefined,
        used_again_after_rise: healthy !== undefined && usedAgain > 0,
      },
      { ...union, records },
    );
  } finally {
    await res.close();
  }
}
