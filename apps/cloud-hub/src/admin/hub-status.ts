import { formatHostPort, type CloudConfig } from '@nowconnect/ha-config';

/**
 * The JSON of `GET /status` on server.admin_bind (SPEC §10): who is connected, what they serve,
 * what is routed, the mesh. Built from plain snapshots so it is testable without a hub.
 */

export interface StatusAgent {
  readonly agentId: string;
  readonly connectors: readonly string[];
  readonly flowsByConnector: ReadonlyMap<string, number>;
  /** Flows on each TCP connection of this link: its own first, then its stripes' (absent: one connection). */
  readonly flowsPerConnection?: readonly number[];
}

export interface StatusSources {
  readonly config: CloudConfig;
  readonly phase: string;
  readonly haMode: string;
  readonly agents: () => readonly StatusAgent[];
  readonly listenerPorts: () => readonly { listener: string; port: number }[];
  readonly meshLinks: () => readonly { peer: string | null; role: string; url: string | null; state: string }[];
}

export interface HubStatus {
  readonly replica_id: string;
  readonly ha_mode: string;
  readonly phase: string;
  readonly agents: { agent_id: string; connectors: string[]; links: number; connections: number; flows_per_connection: number[]; active_flows: number }[];
  readonly connectors: { name: string; agents: string[]; active_flows: number; listeners: string[]; routed: boolean }[];
  readonly listeners: { name: string; bind: string; port: number | null; connector: string; serving_agents: number }[];
  readonly mesh: { links: { peer: string | null; role: string; url: string | null; state: string }[] };
}

const sum = (m: ReadonlyMap<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);

export function buildStatus(src: StatusSources): HubStatus {
  const { config } = src;
  const tunnels = src.agents();
  const byAgent = new Map<string, { connectors: Set<string>; links: number; flows: number; perConnection: number[] }>();
  const byConnector = new Map<string, { agents: Set<string>; flows: number }>();
  for (const t of tunnels) {
    const a = byAgent.get(t.agentId) ?? { connectors: new Set<string>(), links: 0, flows: 0, perConnection: [] };
    a.links++;
    a.flows += sum(t.flowsByConnector);
    a.perConnection.push(...(t.flowsPerConnection ?? [sum(t.flowsByConnector)]));
    t.connectors.forEach((c) => a.connectors.add(c));
    byAgent.set(t.agentId, a);
    for (const c of t.connectors) {
      const e = byConnector.get(c) ?? { agents: new Set<string>(), flows: 0 };
      e.agents.add(t.agentId);
      e.flows += t.flowsByConnector.get(c) ?? 0;
      byConnector.set(c, e);
    }
  }
  for (const l of config.listeners) if (!byConnector.has(l.connector)) byConnector.set(l.connector, { agents: new Set(), flows: 0 });
  const ports = new Map(src.listenerPorts().map((p) => [p.listener, p.port]));
  const sorted = <T>(xs: Iterable<T>): T[] => [...xs].sort();
  return {
    replica_id: config.ha.replicaId,
    ha_mode: src.haMode,
    phase: src.phase,
    agents: sorted(byAgent.keys()).map((id) => {
      const a = byAgent.get(id)!;
      return {
        agent_id: id,
        connectors: sorted(a.connectors),
        links: a.links,
        connections: a.perConnection.length,
        flows_per_connection: a.perConnection,
        active_flows: a.flows,
      };
    }),
    connectors: sorted(byConnector.keys()).map((name) => {
      const c = byConnector.get(name)!;
      const listeners = config.listeners.filter((l) => l.connector === name).map((l) => l.name);
      return { name, agents: sorted(c.agents), active_flows: c.flows, listeners, routed: listeners.length > 0 };
    }),
    listeners: config.listeners.map((l) => ({
      name: l.name,
      bind: formatHostPort(l.bind),
      port: ports.get(l.name) ?? null,
      connector: l.connector,
      serving_agents: byConnector.get(l.connector)?.agents.size ?? 0,
    })),
    mesh: { links: [...src.meshLinks()] },
  };
}
