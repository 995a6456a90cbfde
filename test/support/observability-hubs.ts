/**
 * A small real HA deployment for the observability checks: a private redis-server, two hubs in HA
 * active mode linked by the mesh (the setup of test/mesh.e2e-spec.ts), one agent on hub A, and a
 * little traffic so the labelled series have children: one local flow (client on hub A), one
 * cross-replica flow (client on hub B), one refused tunnel upgrade and one failed open.
 */
import * as crypto from 'node:crypto';
import { startAgentConnected, type AgentHandle } from './agent';
import { httpRequest, pollUntil } from './http';
import { listener, startHub, type HubHandle } from './hub';
import { waitForMetric } from './metrics';
import { freePort } from './ports';
import { startRedis, type RedisHandle } from './redis';
import { startEchoServer, type TargetServer } from './targets';
import { connectTcp, readUntilClose } from './tcp';

export const OBS_CONNECTOR = 'echo';
/** A connector the agent serves with a target nobody listens on: its opens fail (open_failed_total). */
export const OBS_DEAD_CONNECTOR = 'dead';

export type ObsHub = HubHandle & { listenPort: number; deadPort: number; replicaId: string };

export interface ObsDeployment {
  readonly redis: RedisHandle;
  readonly echo: TargetServer;
  readonly a: ObsHub;
  readonly b: ObsHub;
  readonly agent: AgentHandle;
  /** Stops everything started here, in reverse order (each error swallowed: cleanup must go on). */
  stop(): Promise<void>;
}

/** An HA active hub with the mesh on server.bind (plain ws, require_mtls off), 1 s keepalive. */
async function obsHub(redis: RedisHandle, replicaId: string, closers: Array<() => Promise<unknown>>): Promise<ObsHub> {
  // Ports are picked before the hub binds them: retry (bounded) when another process took one first.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const listenPort = await freePort();
    const deadPort = await freePort();
    try {
      const hub = await startHub({
        name: `obs-hub:${replicaId}`,
        config: {
          server: { bind: `127.0.0.1:${port}` },
          listeners: [listener('l1', OBS_CONNECTOR, listenPort), listener('l2', OBS_DEAD_CONNECTOR, deadPort)],
          limits: { keepalive_sec: 1 },
          ha: {
            enabled: true,
            mode: 'active',
            replica_id: replicaId,
            redis_url: redis.url,
            lease_sec: 3,
            mesh: { require_mtls: false, advertise_url: `ws://127.0.0.1:${port}/mesh` },
          },
        },
      });
      closers.push(() => hub.kill());
      return Object.assign(hub, { listenPort, deadPort, replicaId });
    } catch (e) {
      if (!(attempt < 3 && /EADDRINUSE/.test(e instanceof Error ? e.message : String(e)))) throw e;
    }
  }
}

/** Write `size` random bytes on a fresh connection and read the echo back; throws on a mismatch. */
async function echoOnce(port: number, size = 4096): Promise<void> {
  const s = await connectTcp(port);
  const payload = crypto.randomBytes(size);
  const got: Buffer[] = [];
  let n = 0;
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`echo via port ${port}: ${n}/${size} bytes after 20 s`)), 20_000);
    s.on('data', (d: Buffer) => {
      got.push(d);
      n += d.length;
      if (n >= size) {
        clearTimeout(timer);
        resolve();
      }
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  s.write(payload);
  await done;
  s.end();
  if (!Buffer.concat(got).equals(payload)) throw new Error(`echo via port ${port}: bytes differ`);
  await readUntilClose(s, 10_000);
}

export async function startObsDeployment(): Promise<ObsDeployment> {
  const closers: Array<() => Promise<unknown>> = [];
  const stop = async (): Promise<void> => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
  };
  try {
    const echo = await startEchoServer();
    closers.push(() => echo.close());
    const redis = await startRedis();
    closers.push(() => redis.stop());
    const a = await obsHub(redis, 'obs-a', closers);
    const b = await obsHub(redis, 'obs-b', closers);
    await Promise.all([
      a.proc.waitForEvent('mesh_link_up', (e) => e.peer === 'obs-b', 30_000),
      b.proc.waitForEvent('mesh_link_up', (e) => e.peer === 'obs-a', 30_000),
    ]);
    const deadTarget = await freePort(); // nobody listens there: the agent's dial is refused
    const agent = await startAgentConnected(a, {
      agentId: 'obs-agent',
      connectors: { [OBS_CONNECTOR]: `127.0.0.1:${echo.port}`, [OBS_DEAD_CONNECTOR]: `127.0.0.1:${deadTarget}` },
    });
    closers.push(() => agent.kill());

    // One local flow (client on the owner hub) and one cross-replica flow (client on hub B).
    await echoOnce(a.listenPort);
    await waitForMetric(a.httpUrl, 'nowconnect_flows_total', { path: 'local' }, (v) => v >= 1, { timeoutMs: 20_000 });
    // Hub B learns the agent's owner from the registry: retry (bounded) until the flow goes through.
    await pollUntil(
      async () => {
        try {
          await echoOnce(b.listenPort);
          return true;
        } catch {
          return undefined;
        }
      },
      { timeoutMs: 30_000, intervalMs: 200, what: () => 'a cross-replica echo through hub B' },
    );
    await waitForMetric(b.httpUrl, 'nowconnect_flows_total', { path: 'cross_replica' }, (v) => v >= 1, { timeoutMs: 20_000 });

    // A refused tunnel upgrade (no token) and a failed open (the agent cannot reach the dead target).
    const refused = await httpRequest(`${a.httpUrl}/tunnel`, {
      timeoutMs: 5000,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': crypto.randomBytes(16).toString('base64') },
    });
    if (refused.status !== 401) throw new Error(`tunnel upgrade without a token answered ${refused.status}, expected 401`);
    await waitForMetric(a.httpUrl, 'nowconnect_tunnel_auth_failures_total', { reason: 'missing_token' }, (v) => v >= 1);
    const s = await connectTcp(a.deadPort);
    await readUntilClose(s, 10_000);
    await waitForMetric(a.httpUrl, 'nowconnect_open_failed_total', { connector: OBS_DEAD_CONNECTOR }, (v) => v >= 1, { timeoutMs: 20_000 });
    // Mesh keepalives (1 s) have produced RTT samples on both hubs.
    for (const hub of [a, b]) await waitForMetric(hub.httpUrl, 'nowconnect_mesh_rtt_seconds_count', {}, (v) => v >= 1, { timeoutMs: 20_000 });
    return { redis, echo, a, b, agent, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
