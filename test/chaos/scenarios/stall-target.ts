/**
 * A target that accepts and then stalls (never reads), and resets each connection after a while.
 * SPEC §9: the stalled flows hold bounded memory and do not stall the other flows of the same
 * tunnel; the target's reset reaches the client as a reset (not a FIN, not a hang).
 */
import { runFlow, Tally } from '../invariant';
import { agentOn, meshHub, procStats } from '../support/cluster';
import { startLoad } from '../support/load';
import { finish, Resources, type ScenarioOptions, type ScenarioResult } from '../support/scenario';
import { startStallTarget, startVerifyingEcho } from '../support/targets';

const MiB = 1024 * 1024;

export async function stallTarget(o: ScenarioOptions): Promise<ScenarioResult> {
  const res = new Resources();
  try {
    const echo = await startVerifyingEcho();
    res.add(() => echo.close());
    const stallMs = 4000;
    const stall = await startStallTarget(stallMs);
    res.add(() => stall.close());
    const hub = await meshHub('hub-stall', { connector: 'echo', extraConnectors: ['stall'] });
    res.add(() => hub.kill());
    const agent = await agentOn(hub, 'agent-s', { echo: `127.0.0.1:${echo.port}`, stall: `127.0.0.1:${stall.port}` });
    res.add(() => agent.kill());
    const pid = hub.proc.pid!;
    const rss0 = procStats(pid).rssKiB;
    const tally = new Tally();
    const nStall = 6;
    const stalled = Promise.all(
      Array.from({ length: nStall }, () =>
        runFlow({ port: hub.extraPorts.stall!, bytes: 4 * MiB, seed: o.seed, deadlineMs: stallMs + o.flowDeadlineMs, group: 'stalled' }, (t) => stall.seen.has(t)),
      ),
    );
    // While they stall: normal flows on the same tunnel.
    const t0 = Date.now();
    const load = startLoad({
      lanes: [{ group: 'echo', port: hub.listenPort }],
      seed: o.seed,
      concurrency: o.concurrency,
      maxFlows: o.flows,
      maxMs: o.durationMs,
      flowDeadlineMs: o.flowDeadlineMs,
      tally,
      targetSaw: (t) => echo.seen.has(t),
    });
    let peakRss = rss0;
    const sampler = setInterval(() => {
      try {
        peakRss = Math.max(peakRss, procStats(pid).rssKiB);
      } catch {
        /* gone */
      }
    }, 200);
    await load.done;
    const loadMs = Date.now() - t0;
    const stalledResults = await stalled;
    clearInterval(sampler);
    for (const r of stalledResults) tally.add(r);
    const st = tally.group('stalled');
    const ec = tally.group('echo');
    return finish(
      'stall_target',
      tally,
      {
        stalled_reset: `${st.counts.reset}/${st.attempted}`,
        stall_accepted: stall.accepted(),
        target_resets: stall.resetByUs(),
        echo_exact: `${ec.counts.completed_exact}/${ec.attempted}`,
        echo_load_ms: loadMs,
        hub_rss_mib: `${(rss0 / 1024).toFixed(0)}->${(peakRss / 1024).toFixed(0)}`,
      },
      {
        stalled_flows_reset: st.attempted === nStall && st.counts.reset === nStall && stall.resetByUs() >= nStall,
        other_flows_unaffected: ec.attempted > 0 && ec.counts.completed_exact === ec.attempted,
      },
      echo,
    );
  } finally {
    await res.close();
  }
}
