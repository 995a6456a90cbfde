import { httpGet } from '../common/http';
import { parseProm, select, seriesName, sum, type Sample } from '../common/prom';

/** SPEC §7 names used by validate. */
export const M = {
  conns: 'nowconnect_tcp_connections_total',
  bytes: 'nowconnect_tcp_bytes_total',
  noAgent: 'nowconnect_no_agent_total',
  openFailed: 'nowconnect_open_failed_total',
  cidr: 'nowconnect_cidr_blocked_total',
  agents: 'nowconnect_agents_connected',
} as const;

export async function scrape(hubUrl: string, timeoutMs: number): Promise<Sample[]> {
  const r = await httpGet(`${hubUrl}/metrics`, timeoutMs);
  if (r.status !== 200) throw new Error(`GET /metrics answered HTTP ${r.status}`);
  return parseProm(r.body);
}

export interface ConnectorCounters {
  readonly conns: number;
  readonly c2a: number;
  readonly a2c: number;
  readonly noAgent: number;
  readonly openFailed: number;
}

export function connectorCounters(s: readonly Sample[], connector: string): ConnectorCounters {
  return {
    conns: sum(s, M.conns, { connector }) ?? 0,
    c2a: sum(s, M.bytes, { direction: 'c2a', connector }) ?? 0,
    a2c: sum(s, M.bytes, { direction: 'a2c', connector }) ?? 0,
    noAgent: sum(s, M.noAgent, { connector }) ?? 0,
    openFailed: sum(s, M.openFailed, { connector }) ?? 0,
  };
}

export function diff(after: ConnectorCounters, before: ConnectorCounters): ConnectorCounters {
  return {
    conns: after.conns - before.conns,
    c2a: after.c2a - before.c2a,
    a2c: after.a2c - before.a2c,
    noAgent: after.noAgent - before.noAgent,
    openFailed: after.openFailed - before.openFailed,
  };
}

/** Every connector named by a connector-labelled series. */
export function connectorsOf(s: readonly Sample[]): string[] {
  const names = new Set<string>();
  for (const x of s) {
    if ((x.name === M.conns || x.name === M.noAgent || x.name === M.openFailed || x.name === M.bytes) && x.labels['connector'] !== undefined) {
      names.add(x.labels['connector']);
    }
  }
  return [...names].sort();
}

/** Connectors whose routing counters (connections, no_agent, open_failed) moved between the snapshots. */
export function movedConnectors(before: readonly Sample[], after: readonly Sample[]): string[] {
  return connectorsOf(after).filter((c) => {
    const d = diff(connectorCounters(after, c), connectorCounters(before, c));
    return d.conns > 0 || d.noAgent > 0 || d.openFailed > 0;
  });
}

/** Increase of nowconnect_cidr_blocked_total per listener. */
export function cidrBlockedDelta(before: readonly Sample[], after: readonly Sample[]): Array<{ listener: string; delta: number }> {
  return select(after, M.cidr)
    .map((s) => ({ listener: s.labels['listener'] ?? '?', delta: s.value - (sum(before, M.cidr, { listener: s.labels['listener'] ?? '' }) ?? 0) }))
    .filter((x) => x.delta > 0);
}

/** Increase of nowconnect_open_failed_total{connector} by reason. */
export function openFailedReasons(before: readonly Sample[], after: readonly Sample[], connector: string): string[] {
  return select(after, M.openFailed, { connector })
    .map((s) => ({ reason: s.labels['reason'] ?? '?', delta: s.value - (sum(before, M.openFailed, { connector, reason: s.labels['reason'] ?? '' }) ?? 0) }))
    .filter((x) => x.delta > 0)
    .map((x) => `${x.reason} +${x.delta}`);
}

/** The three lines the operational guide asks for, with their increase. */
export function deltaLines(d: ConnectorCounters, connector: string): string[] {
  return [
    `${seriesName(M.conns, { connector })} +${d.conns}`,
    `${seriesName(M.bytes, { direction: 'c2a', connector })} +${d.c2a}`,
    `${seriesName(M.bytes, { direction: 'a2c', connector })} +${d.a2c}`,
  ];
}
