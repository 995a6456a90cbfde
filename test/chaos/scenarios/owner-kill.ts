/**
 * kill -9 the hub that owns the agent, under load. The agent holds `links: 2` (both URLs): clients on
 * the other hub use its own link, or cross the mesh to the owner (a single owner per agent); SPEC §9:
 * flows through the killed hub drop (reset, never a hang), the agent is served by the surviving hub,
 * new flows work there. Clients whose TCP connection ends on the killed process
 * itself are counted apart (group `direct`): after kill -9 no process is left to send a reset, and
 * the kernel closes such a socket with a FIN when it holds no unread data.
 */
import { startRedis } from '../../support';
import { agentOn, linkUp, meshHub, until } from '../support/cluster';
import { faultUnderLoad, finish, Resources, type ScenarioOptions, type ScenarioResult } from '../support/scenario';
import { startVerifyingEcho } from '../support/targets';

export async function ownerKill(o: ScenarioOptions): Promise<ScenarioResult> {
  const res = new Resources();
  try {
    const echo = await startVerifyingEcho();
    res.add(() => echo.close());
    const redis = await startRedis();
    res.add(() => redis.kill());
    const secret = `chaos-owner-${o.seed}-0123456789abcdef`;
    const a = await meshHub('hub-a', { redis, secret, connector: 'echo' });
    res.add(() => a.kill());
    const b = await meshHub('hub-b', { redis, secret, connector: 'echo' });
    res.add(() => b.kill());
    await Promise.all([linkUp(a, 'hub-b'), linkUp(b, 'hub-a')]);
    const agent = await agentOn(a, 'agent-o', { echo: `127.0.0.1:${echo.port}` }, [a.tunnelUrl, b.tunnelUrl]);
    res.add(() => agent.kill());
    const cross = { group: 'cross', port: b.listenPort };
    const direct = { group: 'direct', port: a.listenPort };
    let killedAt = 0;
    let exit = '';
    const run = await faultUnderLoad(
      {
        lanes: [cross, cross, direct],
        heldLanes: [cross],
        held: 6,
        echo,
        outageFlows: Math.max(8, Math.floor(o.flows / 3)),
        fault: async () => {
          killedAt = Date.now();
          const e = await a.kill();
          exit = String(e.signal ?? e.code);
          o.note('owner hub killed');
        },
        probe: cross,
        recoveryTimeoutMs: 60_000,
      },
      o,
    );
    // The agent is served by the survivor: with links: 2 it may have held a link there all along (then
    // no new agent_connected), or it reconnected there after the kill. Its last word on b is "connected".
    const lastOnB = (): string | undefined =>
      b.proc.events.filter((e) => (e.event === 'agent_connected' || e.event === 'agent_disconnected') && e.agent_id === 'agent-o').pop()?.event as string | undefined;
    const moved = await until(() => lastOnB() === 'agent_connected', 30_000);
    // Flows of clients connected to the killed process itself are reported apart (see above).
    const targetChecked = run.tally.crossCheck(echo.records);
    const t = run.tally.without('direct');
    const viaSurvivor = t.group('cross');
    const d = run.tally.group('direct');
    return finish(
      'owner_kill',
      t,
      {
        hub_exit: exit,
        held_reset: `${run.held.counts.reset}/${run.held.attempted}`,
        held_exact: `${run.held.counts.completed_exact}/${run.held.attempted}`,
        held_refused: run.held.counts.refused,
        cross_exact: `${viaSurvivor.counts.completed_exact}/${viaSurvivor.attempted}`,
        killed_process_clients: d.countsText().replace(/ /g, ','),
        killed_process_truncated: d.corruptKinds.truncated ?? 0,
        recovery_ms: run.recoveryMs,
        since_kill_ms: killedAt > 0 ? Date.now() - killedAt : -1,
        target_checked: targetChecked,
      },
      {
        owner_killed: exit === 'SIGKILL',
        // Held flows of clients on the survivor: reset when they crossed the mesh to the killed hub, exact
        // when the survivor served them on its own link to the agent (links: 2) — never truncated or hung.
        // A held flow refused before it was established (visible, counted in refused=) was never in flight.
        in_flight_flows_reset_or_exact:
          run.held.attempted > run.held.counts.refused &&
          run.held.counts.reset + run.held.counts.completed_exact + run.held.counts.refused === run.held.attempted,
        agent_moved_to_survivor: moved,
        recovered: run.recoveryMs >= 0,
      },
    );
  } finally {
    await res.close();
  }
}
