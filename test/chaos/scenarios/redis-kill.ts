/**
 * kill -9 Redis under load, then restart it (empty: no persistence). SPEC §9: Redis down -> the hubs
 * serve local flows, refuse new cross-replica ones at once, and recover when Redis is back.
 */
import { startRedis } from '../../support';
import { agentOn, linkUp, meshHub } from '../support/cluster';
import { faultUnderLoad, finish, Resources, type ScenarioOptions, type ScenarioResult } from '../support/scenario';
import { startVerifyingEcho } from '../support/targets';

export async function redisKill(o: ScenarioOptions): Promise<ScenarioResult> {
  const res = new Resources();
  try {
    const echo = await startVerifyingEcho();
    res.add(() => echo.close());
    const redis = await startRedis();
    res.add(() => redis.kill());
    const secret = `chaos-redis-${o.seed}-0123456789abcdef`;
    const a = await meshHub('hub-a', { redis, secret, connector: 'echo' });
    res.add(() => a.kill());
    const b = await meshHub('hub-b', { redis, secret, connector: 'echo' });
    res.add(() => b.kill());
    await Promise.all([linkUp(a, 'hub-b'), linkUp(b, 'hub-a')]);
    const agent = await agentOn(a, 'agent-r', { echo: `127.0.0.1:${echo.port}` });
    res.add(() => agent.kill());
    const local = { group: 'local', port: a.listenPort };
    const cross = { group: 'cross', port: b.listenPort };
    let redisExit = '';
    const marks = { a: a.proc.mark(), b: b.proc.mark() };
    const run = await faultUnderLoad(
      {
        lanes: [local, cross],
        heldLanes: [local, cross],
        held: 4,
        echo,
        outageFlows: Math.max(8, Math.floor(o.flows / 3)),
        fault: async () => {
          const exit = await redis.proc.kill();
          redisExit = String(exit.signal ?? exit.code);
          await b.proc.waitForEventSince(marks.b, 'registry_degraded', undefined, 30_000);
          o.note('redis killed; hub-b degraded');
        },
        recover: async () => {
          await redis.restart();
          await b.proc.waitForEventSince(marks.b, 'registry_recovered', undefined, 60_000);
          await a.proc.waitForEventSince(marks.a, 'registry_recovered', undefined, 60_000);
        },
        probe: cross,
        recoveryTimeoutMs: 60_000,
      },
      o,
    );
    const t = run.tally;
    const loc = t.group('local');
    const crs = t.group('cross');
    const heldCross = t.group('held_cross');
    const crossRefusedLog = b.proc.eventsNamed('cross_replica_refused').filter((e) => e.reason === 'registry_unavailable').length;
    return finish(
      'redis_kill',
      t,
      {
        redis_exit: redisExit,
        local: `${loc.counts.completed_exact}/${loc.attempted}`,
        cross_refused: crs.counts.refused,
        refused_logged: crossRefusedLog,
        held_cross_exact: `${heldCross.counts.completed_exact}/${heldCross.attempted}`,
        recovery_ms: run.recoveryMs,
      },
      {
        redis_killed: redisExit === 'SIGKILL',
        local_unaffected: loc.attempted > 0 && loc.counts.completed_exact === loc.attempted,
        cross_refused_while_down: crs.counts.refused > 0 && crossRefusedLog > 0,
        recovered: run.recoveryMs >= 0,
      },
      echo,
    );
  } finally {
    await res.close();
  }
}
