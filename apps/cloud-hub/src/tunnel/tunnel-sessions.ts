import { Inject, Injectable } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import type WebSocket from 'ws';
import { RstReason } from '@nowconnect/frames';
import { RouterRegistry } from '@nowconnect/registry';
import { CLOUD_CONFIG, type CloudConfig } from '@nowconnect/ha-config';
import { EventLog } from '@nowconnect/logging';
import { maskIp } from '@nowconnect/logging';
import { HubMetrics } from '../metrics/hub-metrics';
import { AuthRateLimiter, TunnelAuthenticator, type AuthFailureReason, type ConnectorScope } from '../auth';
import { HaCoordinator } from '../ha/ha-coordinator';
import { HubTunnelSession } from './hub-tunnel-session';
import { TargetUpGauge } from './target-up-gauge';

export type UpgradeVerdict = { ok: true } | { ok: false; status: number; message: string };

interface VerifiedRequest extends IncomingMessage {
  ncAuth?: { agentId: string; scope: ConnectorScope; expiresAt: number };
}

/**
 * All agent tunnels of this hub: authorises upgrades, creates one
 * HubTunnelSession per WebSocket, keeps the router of HELLO'd agents.
 */
@Injectable()
export class TunnelSessions {
  readonly router = new RouterRegistry<HubTunnelSession>();
  private readonly sessions = new Set<HubTunnelSession>();
  /** Links that take stripes, by their HELLO_ACK `stripe_key`. */
  private readonly stripeHeads = new Map<string, HubTunnelSession>();
  private readonly bootId = randomBytes(4).toString('hex');
  private cidSeq = 0;
  private draining = false;
  private readonly targetUp: TargetUpGauge;

  constructor(
    // The whole parsed config object, not ConfigService sections: every tunnel session is handed it as
    // one value (its data path reads limits, auth and logging without a lookup per frame).
    @Inject(CLOUD_CONFIG) private readonly config: CloudConfig,
    private readonly log: EventLog,
    private readonly metrics: HubMetrics,
    private readonly authenticator: TunnelAuthenticator,
    private readonly limiter: AuthRateLimiter,
    private readonly ha: HaCoordinator,
  ) {
    this.targetUp = new TargetUpGauge(metrics);
  }

  /** ws verifyClient: JWT per SPEC §5; a refusal is an HTTP status before any WebSocket frame. */
  async verifyUpgrade(req: IncomingMessage): Promise<UpgradeVerdict> {
    const addr = req.socket.remoteAddress ?? '';
    if (this.draining) return { ok: false, status: 503, message: 'Service Unavailable' };
    if (this.limiter.isLimited(addr)) return this.authFailed(addr, 'rate_limited', 429, 'Too Many Requests');
    const result = await this.authenticator.verify(req.headers.authorization);
    if (!result.ok) {
      this.limiter.recordFailure(addr);
      return this.authFailed(addr, result.reason, 401, 'Unauthorized');
    }
    (req as VerifiedRequest).ncAuth = { agentId: result.agentId, scope: result.scope, expiresAt: result.expiresAt };
    return { ok: true };
  }

  private authFailed(addr: string, reason: AuthFailureReason, status: number, message: string): UpgradeVerdict {
    this.metrics.authFailures.labels({ reason }).inc();
    this.log.warn('tunnel_auth_failed', { reason, client: maskIp(addr, this.config.logging.maskIps) });
    return { ok: false, status, message };
  }

  /** A WebSocket upgraded on /tunnel (already authorised by verifyUpgrade). */
  accept(ws: WebSocket, req: IncomingMessage): void {
    const auth = (req as VerifiedRequest).ncAuth;
    if (auth === undefined || this.draining) {
      ws.close(1008, 'not authorised');
      return;
    }
    const session = new HubTunnelSession(
      ws,
      req.socket as Socket,
      { agentId: auth.agentId, scope: auth.scope, expiresAt: auth.expiresAt, client: maskIp(req.socket.remoteAddress, this.config.logging.maskIps) },
      {
        config: this.config,
        log: this.log,
        metrics: this.metrics,
        claim: this.ha.enabled ? (s) => this.ha.claim(s) : undefined,
        onReady: (s) => this.onReady(s),
        onClosed: (s) => this.onClosed(s),
        nextCid: () => `${this.bootId}-${(++this.cidSeq).toString(36)}`,
        verifyToken: (token) => this.authenticator.verify(`Bearer ${token}`),
        clockSkewSec: this.authenticator.clockSkewSec,
        replicas: () => (this.ha.enabled ? this.ha.aliveReplicaCount() : 1),
        onTargetHealth: (s) => this.targetUp.update(this.router.agents(), s.targetHealth.keys()),
        stripeHead: (key) => this.stripeHeads.get(key),
      },
    );
    this.sessions.add(session);
  }

  /** Connectors agents offered that no listener routes to (logged once each; GET /status). */
  readonly unrouted = new Set<string>();

  private onReady(session: HubTunnelSession): void {
    for (const connector of session.connectors) {
      if (this.unrouted.has(connector) || this.config.listeners.some((l) => l.connector === connector)) continue;
      this.unrouted.add(connector);
      this.log.warn('connector_unrouted', { connector, agent_id: session.agentId });
    }
    for (const old of this.router.byAgentId(session.agentId)) {
      this.log.warn('agent_replaced', { agent_id: old.agentId });
      this.router.remove(old);
      old.close(4000, 'replaced by a newer tunnel');
    }
    this.router.add(session);
    if (session.stripeKey !== undefined) this.stripeHeads.set(session.stripeKey, session);
  }

  private onClosed(session: HubTunnelSession): void {
    this.sessions.delete(session);
    if (session.head !== undefined) return; // a stripe: never routed, never claimed
    if (session.stripeKey !== undefined) this.stripeHeads.delete(session.stripeKey);
    this.router.remove(session);
    this.targetUp.update(this.router.agents(), session.targetHealth.keys());
    if (this.ha.enabled) this.ha.released(session);
  }

  totalFlows(): number {
    let n = 0;
    for (const s of this.sessions) n += s.flowCount;
    return n;
  }

  // ---- drain --------------------------------------------------------------

  startDrain(): void {
    this.draining = true;
    for (const s of this.sessions) s.goaway('draining');
  }

  /** Resolves when no flow is left, or after timeoutMs. */
  waitForFlows(timeoutMs: number): Promise<void> {
    if (this.totalFlows() === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const poll = setInterval(() => this.totalFlows() === 0 && done(), 100);
      function done(): void {
        clearTimeout(timer);
        clearInterval(poll);
        resolve();
      }
    });
  }

  resetAll(): number {
    let n = 0;
    for (const s of this.sessions) n += s.resetAllFlows(RstReason.SHUTDOWN);
    return n;
  }

  closeAll(): void {
    for (const s of [...this.sessions]) s.close(1001, 'hub shutting down');
  }
}
