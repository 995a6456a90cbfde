/**
 * Clients that stop reading. SPEC §9: a slow reader holds bounded memory and does not stall the
 * other flows; when it reads again it gets every byte. Then the same with a fault while slow readers
 * still hold the tail of their stream at the hub: the agent is killed after the target has echoed
 * everything and ended — those flows must end exact or reset, never silently truncated.
 */
import { runFlow, Tally, type FlowResult } from '../invariant';
import { agentLoose, agentOn, meshHub, procStats, until } from '../support/cluster';
import { startLoad } from '../support/load';
import { finish, Resources, type ScenarioOptions, type ScenarioResult } from '../support/scenario';
import { startVerifyingEcho } from '../support/targets';
import type { AgentHandle } from '../../support';

const MiB = 1024 * 1024;

export async function slowClient(o: ScenarioOptions): Promise<ScenarioResult> {
  const res = new Resources();
  try {
    const echo = await startVerifyingEcho();
    res.add(() => echo.close());
    const hub = await meshHub('hub-slow', { connector: 'echo' });
    res.add(() => hub.kill());
    const connectors = { echo: `127.0.0.1:${echo.port}` };
    let agent: AgentHandle = await agentOn(hub, 'agent-sl', connectors);
    res.add(() => agent.kill());
    const saw = (t: string): boolean => echo.seen.has(t);
    const lane = { group: 'normal', port: hub.listenPort };
    const pid = hub.proc.pid!;
    const rss0 = procStats(pid).rssKiB;
    const tally = new Tally();

    // Phase 1: slow readers (no reading for a while) next to normal load.
    const nSlow = 4;
    const pauseMs = 5000;
    const slow = Promise.all(
      Array.from({ length: nSlow }, () =>
        runFlow({ port: hub.listenPort, bytes: 8 * MiB, seed: o.seed, pauseReadMs: pauseMs, deadlineMs: pauseMs + o.flowDeadlineMs, group: 'slow' }, saw),
      ),
    );
    let peakRss = rss0;
    const sampler = setInterval(() => {
      try {
        peakRss = Math.max(peakRss, procStats(pid).rssKiB);
      } catch {
        /* gone */
      }
    }, 200);
    const t0 = Date.now();
    const load = startLoad({ lanes: [lane], seed: o.seed, concurrency: o.concurrency, maxFlows: o.flows, maxMs: o.durationMs, flowDeadlineMs: o.flowDeadlineMs, tally, targetSaw: saw });
    await load.done;
    const normalMs = Date.now() - t0;
    for (const r of await slow) tally.add(r);
    clearInterval(sampler);

    // Phase 2: slow readers whose target already finished; then the agent dies.
    const nTail = 4;
    const tags: string[] = [];
    let resume: Array<() => void> = [];
    const tail: Promise<FlowResult>[] = Array.from({ length: nTail }, () =>
      runFlow(
        {
          port: hub.listenPort,
          bytes: 4 * MiB,
          seed: o.seed,
          pauseReadMs: 120_000,
          deadlineMs: o.flowDeadlineMs + 120_000,
          group: 'tail_fault',
          onConnected: (s) => {
            resume.push(() => s.resume());
          },
        },
        saw,
      ),
    );
    // The target ends a flow once the client's FIN arrived and it echoed everything.
    const before = new Set(echo.records.keys());
    const targetDone = await until(() => {
      for (const k of echo.records.keys()) if (!before.has(k) && !tags.includes(k) && echo.records.get(k)!.ended) tags.push(k);
      return tags.length >= nTail;
    }, 30_000, 50);
    const mark = hub.proc.mark();
    const killed = await agent.kill();
    await hub.proc.waitForEventSince(mark, 'agent_disconnected', undefined, 30_000).catch(() => undefined);
    for (const r of resume) r();
    resume = [];
    const tailResults = await Promise.all(tail);
    for (const r of tailResults) tally.add(r);
    agent = await agentLoose(hub, 'agent-sl', connectors);

    const sl = tally.group('slow');
    const nm = tally.group('normal');
    const tf = tally.group('tail_fault');
    return finish(
      'slow_client',
      tally,
      {
        slow_exact: `${sl.counts.completed_exact}/${sl.attempted}`,
        normal_exact: `${nm.counts.completed_exact}/${nm.attempted}`,
        normal_load_ms: normalMs,
        hub_rss_mib: `${(rss0 / 1024).toFixed(0)}->${(peakRss / 1024).toFixed(0)}`,
        tail_fault: tf.countsText().replace(/ /g, ','),
        // How many tail flows had their target finish (FIN both ways) before the kill: the case
        // where the hub holds the last bytes of a finished stream (depends on kernel buffer sizes).
        tail_targets_done: `${Math.min(tags.length, nTail)}/${nTail}${targetDone ? '' : ' (timeout)'}`,
      },
      {
        slow_readers_complete: sl.counts.completed_exact === nSlow,
        others_unaffected: nm.attempted > 0 && nm.counts.completed_exact === nm.attempted,
        agent_killed: killed.signal === 'SIGKILL',
      },
      echo,
    );
  } finally {
    await res.close();
  }
}
