/**
 * Cut the mesh between two hubs (each advertises its /mesh through a TCP proxy; both are cut) under
 * load, then restore it. SPEC §9: only cross-replica flows fail (in flight: reset; new: refused at
 * once); local flows on the owner are unaffected; cross-replica flows work again after restore.
 */
import { startCuttableProxy, startRedis } from '../../support';
import { agentOn, linkUp, meshHub, type MeshHub } from '../support/cluster';
import { faultUnderLoad, finish, Resources, type ScenarioOptions, type ScenarioResult } from '../support/scenario';
import { startVerifyingEcho } from '../support/targets';

export async function meshCut(o: ScenarioOptions): Promise<ScenarioResult> {
  const res = new Resources();
  try {
    const echo = await startVerifyingEcho();
    res.add(() => echo.close());
    const redis = await startRedis();
    res.add(() => redis.kill());
    const secret = `chaos-mesh-${o.seed}-0123456789abcdef`;
    const proxies = { a: await startCuttableProxy(undefined), b: await startCuttableProxy(undefined) };
    res.add(() => proxies.a.close());
    res.add(() => proxies.b.close());
    const hubVia = async (id: 'a' | 'b'): Promise<MeshHub> => {
      const hub = await meshHub(`hub-${id}`, { redis, secret, connector: 'echo', advertise: () => `ws://127.0.0.1:${proxies[id].port}/mesh` });
      res.add(() => hub.kill());
      proxies[id].targetPort = hub.port;
      return hub;
    };
    const a = await hubVia('a');
    const b = await hubVia('b');
    await Promise.all([linkUp(a, 'hub-b'), linkUp(b, 'hub-a')]);
    const agent = await agentOn(a, 'agent-m', { echo: `127.0.0.1:${echo.port}` });
    res.add(() => agent.kill());
    const local = { group: 'local', port: a.listenPort };
    const cross = { group: 'cross', port: b.listenPort };
    const marks = { a: a.proc.mark(), b: b.proc.mark() };
    const run = await faultUnderLoad(
      {
        lanes: [local, cross],
        heldLanes: [cross, local],
        held: 6,
        echo,
        outageFlows: Math.max(8, Math.floor(o.flows / 3)),
        fault: async () => {
          await Promise.all([proxies.a.cut(), proxies.b.cut()]);
          await b.proc.waitForEventSince(marks.b, 'mesh_link_down', (e) => e.peer === 'hub-a', 30_000);
          o.note('mesh cut');
        },
        recover: async () => {
          const m = { a: a.proc.mark(), b: b.proc.mark() };
          await Promise.all([proxies.a.restore(), proxies.b.restore()]);
          await Promise.all([
            a.proc.waitForEventSince(m.a, 'mesh_link_up', (e) => e.peer === 'hub-b', 60_000),
            b.proc.waitForEventSince(m.b, 'mesh_link_up', (e) => e.peer === 'hub-a', 60_000),
          ]);
        },
        probe: cross,
        recoveryTimeoutMs: 60_000,
      },
      o,
    );
    const t = run.tally;
    const loc = t.group('local');
    const heldLocal = t.group('held_local');
    const heldCross = t.group('held_cross');
    const crs = t.group('cross');
    return finish(
      'mesh_cut',
      t,
      {
        local: `${loc.counts.completed_exact}/${loc.attempted}`,
        held_local_exact: `${heldLocal.counts.completed_exact}/${heldLocal.attempted}`,
        held_cross_reset: `${heldCross.counts.reset}/${heldCross.attempted}`,
        cross_refused: crs.counts.refused,
        recovery_ms: run.recoveryMs,
      },
      {
        local_unaffected: loc.counts.completed_exact === loc.attempted && heldLocal.counts.completed_exact === heldLocal.attempted,
        in_flight_cross_reset: heldCross.attempted > 0 && heldCross.counts.reset === heldCross.attempted,
        cross_refused_while_cut: crs.counts.refused > 0,
        recovered: run.recoveryMs >= 0,
      },
      echo,
    );
  } finally {
    await res.close();
  }
}
