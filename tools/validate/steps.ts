/**
 * The operational guide's ping-pong as ordered steps: healthz, readyz, metrics, listener, agent,
 * traffic, counters. Each step reports ok/warn/fail with a detail line; the first failure stops the
 * run and names the step.
 */
import type { Socket } from 'node:net';
import { httpGet } from '../common/http';
import { seriesName, sum, type Sample } from '../common/prom';
import {
  M,
  cidrBlockedDelta,
  connectorCounters,
  connectorsOf,
  deltaLines,
  diff,
  movedConnectors,
  openFailedReasons,
  scrape,
  type ConnectorCounters,
} from './counters';
import type { ValidateOptions } from './options';
import { closeGently, connect, ldapSearch, watch } from './probes';
import { targetHealth } from './targets';

export type StepStatus = 'ok' | 'warn' | 'fail' | 'note';

export interface StepReport {
  readonly step: string;
  readonly status: StepStatus;
  readonly detail: string;
  /** Further lines (e.g. the counter deltas). */
  readonly lines?: readonly string[];
}

export type Reporter = (r: StepReport) => void;

export class StepFailed extends Error {
  override readonly name = 'StepFailed';
  constructor(
    readonly step: string,
    readonly detail: string,
  ) {
    super(`${step}: ${detail}`);
  }
}

export interface ValidateOutcome {
  readonly ok: boolean;
  readonly failedStep?: string;
  readonly detail?: string;
  readonly connector?: string;
  readonly deltas?: ConnectorCounters;
}

const POLL_MS = 100;
const MAX_POLLS = 10_000;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function short(body: string, max = 300): string {
  const one = body.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max)}...` : one;
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0] ?? e.message : String(e);
}

export class Validator {
  private connector: string | undefined;
  private baseline: Sample[] = [];
  private sent = 0;
  private received = 0;

  constructor(
    private readonly o: ValidateOptions,
    private readonly report: Reporter,
  ) {
    this.connector = o.connector;
  }

  async run(): Promise<ValidateOutcome> {
    try {
      await this.healthz();
      await this.readyz();
      await this.metrics();
      const probe = await this.listener();
      await this.agent(probe);
      await this.targets();
      await this.traffic();
      const deltas = await this.counters();
      return { ok: true, connector: this.connector, deltas };
    } catch (e) {
      const f = e instanceof StepFailed ? e : new StepFailed('internal', errText(e));
      this.report({ step: f.step, status: 'fail', detail: f.detail });
      return { ok: false, failedStep: f.step, detail: f.detail, connector: this.connector };
    }
  }

  private async get(step: string, path: string): Promise<{ status: number; body: string }> {
    try {
      return await httpGet(`${this.o.hubUrl}${path}`, this.o.timeoutMs);
    } catch (e) {
      throw new StepFailed(step, `GET ${this.o.hubUrl}${path}: ${errText(e)}`);
    }
  }

  private async scrape(step: string): Promise<Sample[]> {
    try {
      return await scrape(this.o.hubUrl, this.o.timeoutMs);
    } catch (e) {
      throw new StepFailed(step, `GET ${this.o.hubUrl}/metrics: ${errText(e)}`);
    }
  }

  private async healthz(): Promise<void> {
    const r = await this.get('healthz', '/healthz');
    let status: unknown;
    try {
      status = (JSON.parse(r.body) as { status?: unknown }).status;
    } catch {
      status = undefined;
    }
    if (r.status !== 200 || status !== 'ok') throw new StepFailed('healthz', `HTTP ${r.status} ${short(r.body)} (expected 200 {"status":"ok"})`);
    this.report({ step: 'healthz', status: 'ok', detail: `HTTP 200 ${short(r.body)}` });
  }

  private async readyz(): Promise<void> {
    const r = await this.get('readyz', '/readyz');
    let status: unknown;
    try {
      status = (JSON.parse(r.body) as { status?: unknown }).status;
    } catch {
      status = undefined;
    }
    const line = `HTTP ${r.status} ${short(r.body)}`;
    if (status === 'ready' && r.status === 200) this.report({ step: 'readyz', status: 'ok', detail: line });
    else if (status === 'degraded') this.report({ step: 'readyz', status: 'warn', detail: `${line} (degraded: HA registry or mesh impaired; local traffic still flows)` });
    else throw new StepFailed('readyz', `${line} (not ready: starting, draining, or not a NowConnect hub)`);
  }

  private async metrics(): Promise<void> {
    const s = await this.scrape('metrics');
    if (!s.some((x) => x.name === M.conns || x.name === M.agents)) {
      throw new StepFailed('metrics', `/metrics has no ${M.conns} nor ${M.agents}: not a NowConnect hub?`);
    }
    const agents = sum(s, M.agents);
    const known = connectorsOf(s);
    const parts = [`${M.agents} ${agents ?? 'absent'}`, `connectors with a listener: ${known.length ? known.join(', ') : 'none'}`];
    if (this.connector !== undefined && !known.includes(this.connector)) {
      throw new StepFailed('metrics', `no ${seriesName(M.conns, { connector: this.connector })} on this hub: it has no listener for connector "${this.connector}" (${parts[1]})`);
    }
    this.baseline = s;
    this.report({ step: 'metrics', status: 'ok', detail: parts.join('; ') });
  }

  private async listener(): Promise<Socket> {
    try {
      const sock = await connect(this.o.listener, this.o.timeoutMs);
      this.report({ step: 'listener', status: 'ok', detail: `TCP connect to ${this.o.listener.host}:${this.o.listener.port} accepted` });
      return sock;
    } catch (e) {
      throw new StepFailed('listener', errText(e));
    }
  }

  /**
   * The hub routes an accepted connection at once: to an agent (connections_total{connector} +1),
   * or refuses it (no_agent_total{connector}, open_failed_total{connector,reason} or
   * cidr_blocked_total{listener} +1, and the socket is closed). The probe connection carries no
   * byte; the counters say which happened.
   */
  private async agent(sock: Socket): Promise<void> {
    let closed = false;
    sock.on('close', () => (closed = true));
    sock.resume();
    const deadline = Date.now() + this.o.timeoutMs;
    try {
      for (let i = 0; i < MAX_POLLS; i++) {
        const now = await this.scrape('agent');
        const verdict = this.routingVerdict(now, closed);
        if (verdict !== undefined) {
          this.report({ step: 'agent', status: verdict.status, detail: verdict.detail });
          return;
        }
        if (Date.now() >= deadline) {
          const others = movedConnectors(this.baseline, now).filter((c) => c !== this.connector);
          if (others.length > 0 && this.connector !== undefined) {
            throw new StepFailed('agent', `the probe moved the counters of connector ${others.map((c) => `"${c}"`).join(', ')}, not "${this.connector}": is ${this.o.listener.host}:${this.o.listener.port} the listener of "${this.connector}"?`);
          }
          throw new StepFailed('agent', `no routing counter moved within ${this.o.timeoutMs} ms${closed ? ' (the connection was closed)' : ''}: is ${this.o.listener.host}:${this.o.listener.port} a listener of this hub?`);
        }
        await sleep(POLL_MS);
      }
      throw new StepFailed('agent', 'poll limit reached');
    } finally {
      await closeGently(sock, this.o.timeoutMs);
    }
  }

  /** Per-target health of the connector (agent-reported, nowconnect_target_up). All down fails the run. */
  private async targets(): Promise<void> {
    const c = this.connector;
    if (c === undefined) return;
    const v = targetHealth(await this.scrape('targets'), c);
    if (v.status === 'fail') {
      this.report({ step: 'targets', status: 'note', detail: 'per-target health:', lines: v.lines });
      throw new StepFailed('targets', v.detail);
    }
    this.report({ step: 'targets', status: v.status, detail: v.detail, lines: v.lines });
  }

  private routingVerdict(now: Sample[], closed: boolean): { status: StepStatus; detail: string } | undefined {
    const cidr = cidrBlockedDelta(this.baseline, now);
    if (this.connector === undefined) {
      const moved = movedConnectors(this.baseline, now);
      if (moved.length === 1) {
        this.connector = moved[0];
        this.report({ step: 'connector', status: 'note', detail: `derived from the counters the probe moved: "${this.connector}" (pass --connector to pin it)` });
      } else if (moved.length > 1) {
        return { status: 'warn', detail: `cannot tell the listener's connector: counters of ${moved.join(', ')} moved at once (busy hub); pass --connector. Check skipped` };
      } else {
        if (cidr.length > 0 && closed) return this.cidrFail(cidr);
        return undefined;
      }
    }
    const c = this.connector as string;
    const before = connectorCounters(this.baseline, c);
    const d = diff(connectorCounters(now, c), before);
    if (d.conns > 0) {
      return { status: 'ok', detail: `the probe connection was routed to an agent serving "${c}" (${seriesName(M.conns, { connector: c })} +${d.conns})` };
    }
    if (d.noAgent > 0) throw new StepFailed('agent', `no agent serves connector "${c}": the hub refused the probe connection (${seriesName(M.noAgent, { connector: c })} +${d.noAgent})`);
    if (d.openFailed > 0) {
      const health = targetHealth(now, c);
      const targets = health.lines.length > 0 ? `; targets: ${health.lines.join(', ')}` : '';
      throw new StepFailed('agent', `the agent of "${c}" refused the flow (${M.openFailed} ${openFailedReasons(this.baseline, now, c).join(', ')})${targets}`);
    }
    if (cidr.length > 0 && closed) return this.cidrFail(cidr);
    return undefined;
  }

  private cidrFail(cidr: Array<{ listener: string; delta: number }>): never {
    throw new StepFailed('agent', `this client's address is refused by allow_cidrs (${cidr.map((x) => `${seriesName(M.cidr, { listener: x.listener })} +${x.delta}`).join(', ')})`);
  }

  private async traffic(): Promise<void> {
    const { ldap } = this.o;
    if (ldap !== undefined) {
      try {
        const r = await ldapSearch(this.o.listener, ldap, this.o.timeoutMs);
        this.report({
          step: 'traffic',
          status: 'ok',
          detail: `anonymous LDAP search base "${ldap.base}" scope ${ldap.scope} ${ldap.filter}: ${r.entries} entr${r.entries === 1 ? 'y' : 'ies'}${r.sizeLimited ? ' (size limit reached)' : ''} in ${r.ms} ms`,
        });
        return;
      } catch (e) {
        throw new StepFailed('traffic', `anonymous LDAP search base "${ldap.base}" through ${this.o.listener.host}:${this.o.listener.port}: ${errText(e)}`);
      }
    }
    let sock: Socket;
    try {
      sock = await connect(this.o.listener, this.o.timeoutMs);
    } catch (e) {
      throw new StepFailed('traffic', errText(e));
    }
    try {
      if (this.o.send !== undefined) {
        sock.write(this.o.send);
        this.sent = this.o.send.length;
        const r = await watch(sock, this.o.timeoutMs, true);
        if (r.kind === 'data') {
          this.received = r.bytes;
          this.report({ step: 'traffic', status: 'ok', detail: `TCP round trip: sent ${this.sent} B, first ${r.bytes} B back after ${r.afterMs} ms` });
          return;
        }
        if (r.kind === 'held') throw new StepFailed('traffic', `sent ${this.sent} B, no byte back within ${this.o.timeoutMs} ms`);
        throw new StepFailed('traffic', `sent ${this.sent} B, the connection was ${r.reset ? 'reset' : 'closed'} after ${r.afterMs} ms without a byte back`);
      }
      const r = await watch(sock, this.o.holdMs, false);
      if (r.kind === 'closed') {
        throw new StepFailed('traffic', `the connection was ${r.reset ? 'reset' : 'closed'} after ${r.afterMs} ms (expected it open for ${this.o.holdMs} ms): the agent could not reach the target?`);
      }
      this.report({ step: 'traffic', status: 'ok', detail: `TCP connection held open ${this.o.holdMs} ms, not reset (no payload sent: use --send for a round trip)` });
    } finally {
      await closeGently(sock, this.o.timeoutMs);
    }
  }

  /** Waits until the counters account for the traffic (they move live), then prints the deltas. */
  private async counters(): Promise<ConnectorCounters | undefined> {
    const c = this.connector;
    if (c === undefined) {
      this.report({ step: 'counters', status: 'warn', detail: 'connector unknown (see above): deltas not attributed; pass --connector' });
      return undefined;
    }
    const before = connectorCounters(this.baseline, c);
    const wantConns = 2; // the probe connection and the traffic connection
    const wantC2a = this.o.ldap !== undefined ? 1 : this.sent;
    const wantA2c = this.o.ldap !== undefined ? 1 : this.received;
    const deadline = Date.now() + this.o.timeoutMs;
    let d: ConnectorCounters = diff(before, before);
    let now: Sample[] = this.baseline;
    for (let i = 0; i < MAX_POLLS; i++) {
      now = await this.scrape('counters');
      d = diff(connectorCounters(now, c), before);
      if (d.openFailed > 0) {
        throw new StepFailed('counters', `the agent could not open the flow to the target (${M.openFailed} ${openFailedReasons(this.baseline, now, c).join(', ')})`);
      }
      if (d.conns >= wantConns && d.c2a >= wantC2a && d.a2c >= wantA2c) {
        this.report({ step: 'counters', status: 'ok', detail: `deltas for connector "${c}":`, lines: deltaLines(d, c) });
        return d;
      }
      if (Date.now() >= deadline) break;
      await sleep(POLL_MS);
    }
    const missing = [
      d.conns < wantConns ? `connections +${d.conns} (expected >= ${wantConns})` : undefined,
      d.c2a < wantC2a ? `c2a +${d.c2a} B (expected >= ${wantC2a})` : undefined,
      d.a2c < wantA2c ? `a2c +${d.a2c} B (expected >= ${wantA2c})` : undefined,
    ].filter((x): x is string => x !== undefined);
    this.report({ step: 'counters', status: 'note', detail: `deltas so far for connector "${c}":`, lines: deltaLines(d, c) });
    throw new StepFailed('counters', `the counters do not account for the traffic within ${this.o.timeoutMs} ms: ${missing.join(', ')}`);
  }
}
