/**
 * Hub restart with a thundering herd: 100 agents (a few real agent processes plus the rest as real
 * AgentRunner instances sharing one process, see support/herd-agents.ts) are connected; the hub is
 * killed (-9) under load and started again on the same ports. Figures: time until every agent is
 * back, time until flows work, and how new flows spread over the agents.
 */
import * as path from 'node:path';
import { metricValue, Proc, REPO_ROOT, startRedis } from '../../support';
import { agentLoose, meshHub, until } from '../support/cluster';
import { startLoad } from '../support/load';
import { finish, Resources, timeToExact, type ScenarioOptions, type ScenarioResult } from '../support/scenario';
import { startVerifyingEcho } from '../support/targets';
import { Tally } from '../invariant';

export interface HerdOptions {
  agents: number;
  /** Of which real agent processes. */
  processes: number;
}

export function herd(h: HerdOptions = { agents: 100, processes: 3 }) {
  return async (o: ScenarioOptions): Promise<ScenarioResult> => {
    const res = new Resources();
    try {
      const echo = await startVerifyingEcho();
      res.add(() => echo.close());
      const redis = await startRedis();
      res.add(() => redis.kill());
      const secret = `chaos-herd-${o.seed}-0123456789abcdef`;
      let hub = await meshHub('hub-herd', { redis, secret, connector: 'echo' });
      res.add(() => hub.kill());
      const connectors = { echo: `127.0.0.1:${echo.port}` };
      for (let i = 0; i < h.processes; i++) {
        const a = await agentLoose(hub, `proc-${i}`, connectors);
        res.add(() => a.kill());
      }
      const inProc = h.agents - h.processes;
      const herdProc = new Proc(process.execPath, [path.join(REPO_ROOT, 'scripts', 'run-ts.js'), path.join(REPO_ROOT, 'test', 'chaos', 'support', 'herd-agents.ts')], {
        name: 'herd-agents',
        cwd: REPO_ROOT,
        env: { HERD_COUNT: String(inProc), HERD_PREFIX: 'herd', HERD_URL: hub.tunnelUrl, HERD_SECRET: secret, HERD_CONNECTORS: `echo=${connectors.echo}` },
      });
      res.add(() => herdProc.kill());
      await herdProc.waitForEvent('herd_started', undefined, 120_000);
      const connected = async (): Promise<number> => metricValue(await hub.metrics(), 'nowconnect_agents_connected');
      const allUp = await until(async () => (await connected()) >= h.agents, 120_000, 250);
      if (!allUp) throw new Error(`herd: only ${await connected()}/${h.agents} agents connected before the restart`);
      o.note(`${h.agents} agents connected`);

      const tally = new Tally();
      const saw = (t: string): boolean => echo.seen.has(t);
      const lane = { group: 'before', port: hub.listenPort };
      const warm = startLoad({ lanes: [lane], seed: o.seed, concurrency: o.concurrency, maxFlows: Math.max(4, Math.floor(o.flows / 3)), maxMs: o.durationMs / 3, flowDeadlineMs: o.flowDeadlineMs, tally, targetSaw: saw });
      await warm.done;
      // kill -9 (no flow in flight: clients of the killed process itself are owner_kill's subject) and start again on the same ports
      const ports = { port: hub.port, listenPort: hub.listenPort };
      const killedAt = Date.now();
      const exit = await hub.kill();
      hub = await meshHub('hub-herd', { redis, secret, connector: 'echo', ...ports });
      res.add(() => hub.kill());
      const upAt = Date.now();
      // From the hub answering again: the first exact flow, and every agent back.
      const firstFlow = timeToExact({ group: 'probe', port: hub.listenPort }, o, 60_000, echo);
      const back = await until(async () => (await connected()) >= h.agents, 120_000, 100);
      const allBackMs = Date.now() - upAt;
      const flowMs = await firstFlow;
      // After: flows over the whole herd; count the agents they used.
      const mark = hub.proc.mark();
      await startLoad({ lanes: [{ group: 'after', port: hub.listenPort }], seed: o.seed, concurrency: o.concurrency, maxFlows: Math.max(o.flows, h.agents), maxMs: o.durationMs, flowDeadlineMs: o.flowDeadlineMs, tally, targetSaw: saw, mix: [{ bytes: 4096 }, { bytes: 32 * 1024, rounds: 2 }] }).done;
      const used = new Set(hub.proc.events.slice(Math.max(0, mark - (hub.proc.mark() - hub.proc.events.length))).filter((e) => e.event === 'connection_open').map((e) => String(e.agent_id)));
      const after = tally.group('after');
      return finish(
        'herd',
        tally,
        {
          agents: h.agents,
          agent_processes: h.processes,
          hub_exit: String(exit.signal ?? exit.code),
          restart_ms: upAt - killedAt,
          all_agents_back_ms: back ? allBackMs : -1,
          first_flow_ms: flowMs,
          after_exact: `${after.counts.completed_exact}/${after.attempted}`,
          agents_used_after: used.size,
        },
        {
          hub_killed: exit.signal === 'SIGKILL',
          all_agents_back: back,
          flows_work_after: after.attempted > 0 && after.counts.completed_exact === after.attempted,
          spread_over_agents: used.size >= Math.min(h.agents, after.attempted) / 2,
        },
        echo,
      );
    } finally {
      await res.close();
    }
  };
}
