/**
 * Rolling restart under load (issue 15): two HA replicas, an agent holding `links: 2` (one link to
 * each, both URLs given). Each hub in turn is SIGTERM'd (drain), waited for, and started again on the
 * same addresses; the next one goes only once the agent has its link back. Clients on the surviving
 * replica (group `surviving`: its hub was not restarted while the flow ran) must see no refusal, no
 * corruption, no hang; clients of the replica being restarted (group `restarting`) are reset or
 * refused, never silently truncated. Held flows, established mid-stream on each hub before its
 * SIGTERM and released after it exited, must all be reset.
 */
import { startRedis } from '../../support';
import { runFlow, Tally, type FlowResult } from '../invariant';
import { agentLoose, linkUp, meshHub, type MeshHub } from '../support/cluster';
import { DEFAULT_MIX } from '../support/load';
import { finish, holdFlows, Resources, type ScenarioOptions, type ScenarioResult } from '../support/scenario';
import { startVerifyingEcho } from '../support/targets';

const REPLICAS = ['hub-a', 'hub-b'] as const;
type Replica = (typeof REPLICAS)[number];

export async function rollingRestart(o: ScenarioOptions): Promise<ScenarioResult> {
  const res = new Resources();
  try {
    const echo = await startVerifyingEcho();
    res.add(() => echo.close());
    const redis = await startRedis();
    res.add(() => redis.kill());
    const secret = `chaos-rolling-${o.seed}-0123456789abcdef`;
    const hubs: Record<Replica, MeshHub> = {
      'hub-a': await meshHub('hub-a', { redis, secret, connector: 'echo' }),
      'hub-b': await meshHub('hub-b', { redis, secret, connector: 'echo' }),
    };
    res.add(() => hubs['hub-a'].kill());
    res.add(() => hubs['hub-b'].kill());
    await Promise.all([linkUp(hubs['hub-a'], 'hub-b'), linkUp(hubs['hub-b'], 'hub-a')]);
    const connectors = { echo: `127.0.0.1:${echo.port}` };
    const agent = await agentLoose(hubs['hub-a'], 'agent-r', connectors, [hubs['hub-a'].tunnelUrl, hubs['hub-b'].tunnelUrl]);
    res.add(() => agent.kill());
    const linkOf = (r: Replica, since: number, ms: number): Promise<boolean> =>
      agent.proc.waitForEventSince(since, 'agent_link_up', (e) => e.replica_id === r, ms).then(
        () => true,
        () => false,
      );
    const bothLinks = (await Promise.all(REPLICAS.map((r) => linkOf(r, 0, 60_000)))).every(Boolean);
    o.note(`agent links up: ${bothLinks ? 'both' : 'not both'}`);

    // Load: workers alternate between the two hubs' listeners. A flow is `restarting` when its hub
    // was being restarted at its start or began a restart before it ended; else `surviving`.
    const restarting = new Set<Replica>();
    const restartsBegun: Record<Replica, number> = { 'hub-a': 0, 'hub-b': 0 };
    const tally = new Tally();
    let stop = false;
    let started = 0;
    const t0 = Date.now();
    const maxFlows = Math.max(40, o.flows);
    const worker = async (w: number): Promise<void> => {
      while (!stop && started < maxFlows * 4 && Date.now() - t0 < o.durationMs * 3) {
        const i = started++;
        const replica = REPLICAS[(i + w) % REPLICAS.length]!;
        const wasRestarting = restarting.has(replica);
        const begun = restartsBegun[replica];
        const shape = DEFAULT_MIX[i % DEFAULT_MIX.length]!;
        const r: FlowResult = await runFlow(
          { port: hubs[replica].listenPort, bytes: shape.bytes, rounds: shape.rounds, seed: o.seed, deadlineMs: o.flowDeadlineMs, group: 'surviving' },
          (t) => echo.seen.has(t),
        );
        if (wasRestarting || restartsBegun[replica] !== begun) r.group = 'restarting';
        else survivingDone++;
        tally.add(r);
        if (r.outcome === 'refused') await new Promise((x) => setTimeout(x, 100)); // do not spin on a closed port
      }
    };
    const load = Promise.all(Array.from({ length: o.concurrency }, (_x, w) => worker(w)));
    // Phases are measured in flows of surviving clients (a closed port refuses fast and would end a phase early).
    let survivingDone = 0;
    const waitFlows = async (n: number, ms: number): Promise<void> => {
      const target = survivingDone + n;
      const deadline = Date.now() + ms;
      for (let i = 0; i < 10_000 && survivingDone < target && Date.now() < deadline; i++) await new Promise((x) => setTimeout(x, 25));
    };
    const perPhase = Math.max(6, Math.floor(maxFlows / 3));
    await waitFlows(perPhase, o.durationMs / 3);

    const held = new Tally();
    const exits: string[] = [];
    const relinked: boolean[] = [];
    for (const r of REPLICAS) {
      const old = hubs[r];
      const h = holdFlows([{ group: 'held', port: old.listenPort }], 3, o, 256 * 1024, echo);
      await h.established;
      const mark = agent.proc.mark();
      restarting.add(r);
      restartsBegun[r]++;
      o.note(`SIGTERM ${r}`);
      const e = await old.stop(30_000);
      exits.push(`${r}:${String(e.signal ?? e.code)}`);
      h.release();
      for (const x of await h.done) held.add(x);
      hubs[r] = await meshHub(r, { redis, secret, connector: 'echo', port: old.port, listenPort: old.listenPort });
      res.add(() => hubs[r].kill());
      const back = await linkOf(r, mark, 60_000);
      relinked.push(back);
      o.note(`${r} restarted; agent link back: ${back}`);
      restarting.delete(r);
      await waitFlows(perPhase, o.durationMs / 3);
    }
    stop = true;
    await load;
    const targetChecked = tally.crossCheck(echo.records);
    const surviving = tally.group('surviving');
    const onRestarted = tally.group('restarting');
    const linkDowns = agent.proc.eventsNamed('agent_link_down').length;
    const dupRefusals = REPLICAS.reduce((n, r) => n + hubs[r].proc.eventsNamed('hello_refused').filter((e) => e.reason === 'duplicate_link').length, 0);
    return finish(
      'rolling_restart',
      surviving,
      {
        hub_exits: exits.join(','),
        restarting_clients: onRestarted.countsText().replace(/ /g, ','),
        restarting_truncated: onRestarted.corruptKinds.truncated ?? 0,
        held_reset: `${held.counts.reset}/${held.attempted}`,
        agent_link_down: linkDowns,
        duplicate_refusals: dupRefusals,
        target_checked: targetChecked,
      },
      {
        both_links_up: bothLinks,
        hubs_drained: exits.length === REPLICAS.length && exits.every((x) => x.endsWith(':0')),
        links_back_after_each_restart: relinked.length === REPLICAS.length && relinked.every(Boolean),
        restarting_not_corrupted: onRestarted.counts.corrupted === 0 && onRestarted.counts.hung === 0,
        held_flows_not_truncated: held.counts.corrupted === 0 && held.counts.hung === 0,
        surviving_had_flows: surviving.attempted > 0,
      },
    );
  } finally {
    await res.close();
  }
}
