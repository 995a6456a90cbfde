/**
 * Real processes for chaos runs: HA hubs in active mode on one redis-server, linked by the mesh
 * (the meshHub setup of test/mesh.e2e-spec.ts), agents, and process figures from /proc.
 */
import * as fs from 'node:fs';
import { freePort, listener, startAgent, startAgentConnected, startHub, type AgentHandle, type HubHandle, type RedisHandle } from '../../support';

export type MeshHub = HubHandle & { listenPort: number; replicaId: string; extraPorts: Record<string, number> };

export interface MeshHubOptions {
  redis?: RedisHandle;
  db?: number;
  secret?: string;
  connector: string;
  /** Extra listeners: connector name -> (a port is picked). */
  extraConnectors?: string[];
  limits?: Record<string, unknown>;
  mesh?: Record<string, unknown>;
  /** The advertised mesh URL for a given server port (default ws://127.0.0.1:<port>/mesh). */
  advertise?: (port: number) => string;
  /** Use these ports (restart on the same addresses). */
  port?: number;
  listenPort?: number;
  extraPorts?: Record<string, number>;
  drainTimeoutSec?: number;
  ha?: boolean;
}

/** A hub (HA active on `redis` when given, else HA off) with listener l1 -> connector. */
export async function meshHub(replicaId: string, o: MeshHubOptions): Promise<MeshHub> {
  // Ports are picked before the hub binds them: retry (bounded) when another process took one first.
  for (let attempt = 1; ; attempt++) {
    const port = o.port ?? (await freePort());
    const listenPort = o.listenPort ?? (await freePort());
    const extraPorts: Record<string, number> = {};
    for (const c of o.extraConnectors ?? []) extraPorts[c] = o.extraPorts?.[c] ?? (await freePort());
    const ha = o.redis !== undefined && o.ha !== false;
    try {
      const hub = await startHub({
        name: `hub:${replicaId}`,
        secret: o.secret,
        timeoutMs: 60_000,
        config: {
          server: { bind: `127.0.0.1:${port}`, drain_timeout_sec: o.drainTimeoutSec ?? 2 },
          listeners: [
            listener('l1', o.connector, listenPort),
            ...Object.entries(extraPorts).map(([c, p], i) => listener(`x${i}`, c, p)),
          ],
          ...(o.limits === undefined ? {} : { limits: o.limits }),
          ...(ha
            ? {
                ha: {
                  enabled: true,
                  mode: 'active',
                  replica_id: replicaId,
                  redis_url: `${o.redis!.url.replace(/\/\d+$/, '')}/${o.db ?? 0}`,
                  lease_sec: 3,
                  mesh: {
                    require_mtls: false,
                    connect_backoff_max_sec: 1,
                    advertise_url: o.advertise?.(port) ?? `ws://127.0.0.1:${port}/mesh`,
                    ...(o.mesh ?? {}),
                  },
                },
              }
            : {}),
        },
      });
      return Object.assign(hub, { listenPort, replicaId, extraPorts });
    } catch (e) {
      const fixed = o.port !== undefined;
      if (!(attempt < (fixed ? 10 : 3) && /EADDRINUSE/.test(e instanceof Error ? e.message : String(e)))) throw e;
    }
  }
}

export function linkUp(hub: HubHandle, peer: string, timeoutMs = 30_000): Promise<unknown> {
  return hub.proc.waitForEvent('mesh_link_up', (e) => e.peer === peer, timeoutMs);
}

/** The chaos topology's agents hold `links: 2` (issue 15): a tunnel to each of two replicas when given both URLs. */
export const CHAOS_AGENT_LINKS = 2;

export async function agentOn(
  hub: HubHandle,
  agentId: string,
  connectors: Record<string, string>,
  urls?: string[],
): Promise<AgentHandle> {
  return startAgentConnected(hub, { agentId, connectors, urls, timeoutMs: 60_000, env: { NC_LINKS: String(CHAOS_AGENT_LINKS) } });
}

/** Start an agent without waiting for a hub to accept it (restarts; the hub may still be down). */
export async function agentLoose(hub: HubHandle, agentId: string, connectors: Record<string, string>, urls?: string[]): Promise<AgentHandle> {
  return startAgent({
    agentId,
    connectors,
    urls: urls ?? [hub.tunnelUrl],
    token: await hub.token(agentId),
    timeoutMs: 60_000,
    env: { NC_LINKS: String(CHAOS_AGENT_LINKS) },
  });
}

/** RSS (kB) and open fds of a pid, from /proc. */
export function procStats(pid: number): { rssKiB: number; fds: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? NaN);
  let fds = NaN;
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    /* gone */
  }
  return { rssKiB: rss, fds };
}

/** Resolves true once cond() holds, polling every intervalMs (a backstop: no event to await), false at the deadline. */
export async function until(cond: () => Promise<boolean> | boolean, timeoutMs: number, intervalMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const max = Math.ceil(timeoutMs / intervalMs) + 10;
  for (let i = 0; i < max; i++) {
    try {
      if (await cond()) return true;
    } catch {
      /* not yet */
    }
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return false;
}
