import { optionalString, UsageError, type Command } from '../usage';

/** `nowconnect status`: GET /status from the hub's admin listener, rendered as tables. */

interface Status {
  replica_id: string;
  ha_mode: string;
  phase: string;
  agents: { agent_id: string; connectors: string[]; links: number; active_flows: number }[];
  connectors: { name: string; agents: string[]; active_flows: number; listeners: string[]; routed: boolean }[];
  listeners: { name: string; bind: string; port: number | null; connector: string; serving_agents: number }[];
  mesh: { links: { peer: string | null; role: string; url: string | null; state: string }[] };
}

export function table(title: string, head: string[], rows: string[][]): string {
  if (rows.length === 0) return `${title}: none\n`;
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return `${title}\n${[line(head), ...rows.map(line)].map((l) => `  ${l}`).join('\n')}\n`;
}

export function renderStatus(s: Status): string {
  return [
    `hub ${s.replica_id}  phase ${s.phase}  ha ${s.ha_mode}\n`,
    table(
      'AGENTS',
      ['AGENT', 'CONNECTORS', 'LINKS', 'FLOWS'],
      s.agents.map((a) => [a.agent_id, a.connectors.join(','), String(a.links), String(a.active_flows)]),
    ),
    table(
      'CONNECTORS',
      ['CONNECTOR', 'AGENTS', 'FLOWS', 'LISTENERS'],
      s.connectors.map((c) => [c.name, c.agents.join(',') || '-', String(c.active_flows), c.routed ? c.listeners.join(',') : 'UNROUTED (no listener)']),
    ),
    table(
      'LISTENERS',
      ['LISTENER', 'BIND', 'PORT', 'CONNECTOR', 'AGENTS'],
      s.listeners.map((l) => [l.name, l.bind, l.port === null ? '-' : String(l.port), l.connector, String(l.serving_agents)]),
    ),
    table(
      'MESH LINKS',
      ['PEER', 'ROLE', 'STATE', 'URL'],
      s.mesh.links.map((m) => [m.peer ?? '-', m.role, m.state, m.url ?? '-']),
    ),
  ].join('\n');
}

export const status: Command = {
  name: 'status',
  summary: 'Agents, connectors, listeners and mesh links of a hub (GET /status on server.admin_bind).',
  usage: 'nowconnect status [--hub URL] [--json]',
  flags: ['--hub URL      the hub\'s admin listener (default http://127.0.0.1:9765, server.admin_bind)', '--json         print the /status JSON as is'],
  options: { hub: { type: 'string', default: 'http://127.0.0.1:9765' }, json: { type: 'boolean' } },
  async run(values) {
    const hub = optionalString(values, 'hub')!;
    let url: URL;
    try {
      url = new URL('/status', hub);
    } catch {
      throw new UsageError('--hub: expected a URL like http://127.0.0.1:9765');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError('--hub: expected an http:// or https:// URL');
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    } catch (err) {
      const cause = (err as { cause?: { code?: unknown } }).cause?.code;
      process.stderr.write(`status: cannot reach ${url.href} (${String(cause ?? (err as Error).name)}); is this server.admin_bind?\n`);
      return 1;
    }
    const text = await res.text();
    if (res.status !== 200) {
      process.stderr.write(`status: ${url.href} answered ${res.status}${res.status === 404 ? ' (GET /status is served on server.admin_bind only, not server.bind)' : ''}\n`);
      return 1;
    }
    if (values['json'] === true) process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    else process.stdout.write(renderStatus(JSON.parse(text) as Status));
    return 0;
  },
};
