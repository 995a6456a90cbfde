import { Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { readFile } from 'node:fs/promises';
import { PREMISE_CONFIG, type PremiseConfig } from '@nowconnect/ha-config';
import { EventLog } from '@nowconnect/logging';
import { Backoff, CloudConnectError, dialCloud, permanentRefusal, permanentRefusalDelay, UrlRotation } from '../cloud';
import { AgentTunnelSession, type SessionEnd } from './agent-tunnel-session';
import { HealthChecker } from '../targets/health-checker';
import { TargetPools } from '../targets/target-pool';

const VERSION = '0.1.0';
const MAX_FRAME_BYTES_BEFORE_ACK = 16 * 1024 * 1024;
const HANDSHAKE_TIMEOUT_MS = 15_000;
/** After a GOAWAY, redial within a random 0..this delay, so a draining hub's agents don't arrive in one burst. */
const HANDOFF_JITTER_MS = 250;

/**
 * Keeps one serving tunnel to a hub: dial, HELLO, serve, and when it ends,
 * reconnect forever with exponential backoff and full jitter, moving along the
 * fail-over list when a hub is unreachable or dead. The token is re-read on
 * every attempt so a rotated token file is picked up without a restart.
 *
 * Drain handoff: when the hub sends GOAWAY (it is shutting down), the tunnel
 * is "retired" — it keeps carrying its running flows until they finish or the
 * hub resets them — and the runner dials again at once (next URL of the list),
 * so the new hub claims the agent and new flows go there without waiting.
 */
@Injectable()
export class AgentRunner implements OnApplicationBootstrap {
  private stopping = false;
  private session: AgentTunnelSession | undefined;
  /** Tunnels to draining hubs (GOAWAY received) still finishing their flows. */
  private readonly retiring = new Set<AgentTunnelSession>();
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  /** Counters of every tunnel of this process (the agent has no /metrics: each goes into its log line). */
  private readonly counters = { busy: 0, slowConsumer: 0 };
  /** Outlive tunnels: rotation, active counts and health verdicts are the agent's, not a tunnel's. */
  private readonly pools: TargetPools;
  private readonly health: HealthChecker;

  constructor(
    @Inject(PREMISE_CONFIG) private readonly config: PremiseConfig,
    private readonly log: EventLog,
  ) {
    this.pools = new TargetPools(config.connectors);
    this.health = new HealthChecker(config, this.pools, log);
  }

  onApplicationBootstrap(): void {
    this.health.start();
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const rotation = new UrlRotation(this.config.cloudUrls);
    const backoff = new Backoff();
    let attempt = 0;
    while (!this.stopping) {
      const url = rotation.current();
      attempt++;
      this.log.info('connecting_to_cloud', { url, agent_id: this.config.agentId, attempt });
      let failed = true;
      try {
        const token = await this.readToken();
        const conn = await dialCloud({
          url,
          token,
          caFile: this.config.caFile,
          proxyUrl: this.config.proxyUrl,
          env: process.env,
          maxPayload: MAX_FRAME_BYTES_BEFORE_ACK,
          handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
        });
        if (this.stopping) {
          conn.ws.close(1001, 'agent shutting down');
          break;
        }
        const session = new AgentTunnelSession(conn.ws, conn.socket, {
          agentId: this.config.agentId,
          hubUrl: url,
          pools: this.pools,
          version: VERSION,
          log: this.log,
          maxFrameBytes: MAX_FRAME_BYTES_BEFORE_ACK,
          helloTimeoutMs: HANDSHAKE_TIMEOUT_MS,
          limits: this.config.limits,
          counters: this.counters,
          token,
          readToken: () => this.readToken(),
        });
        this.session = session;
        const outcome = await Promise.race([session.ended, session.goaway.then(() => 'goaway' as const)]);
        this.session = undefined;
        if (outcome === 'goaway') {
          this.retire(session, url);
          if (this.stopping) break;
          backoff.reset();
          if (rotation.size > 1) rotation.advance();
          await this.sleep(Math.floor(Math.random() * HANDOFF_JITTER_MS));
          continue;
        }
        this.logDisconnected(url, outcome);
        if (outcome.established && !outcome.dead) {
          failed = false;
          backoff.reset();
        }
        const refusal = permanentRefusal(outcome.code, outcome.reason);
        if (refusal !== undefined && !this.stopping) {
          const delayMs = permanentRefusalDelay();
          this.log.warn('hello_refused_permanent', { url, reason: refusal, detail: outcome.reason, retry_in_ms: delayMs });
          rotation.advance();
          await this.sleep(delayMs);
          continue;
        }
      } catch (err) {
        this.reportFailure(url, err);
      }
      if (this.stopping) break;
      if (failed) rotation.advance();
      await this.sleep(backoff.next());
    }
  }

  /** Keep a draining hub's tunnel until its flows are done (the session closes itself then). */
  private retire(session: AgentTunnelSession, url: string): void {
    this.retiring.add(session);
    this.log.info('tunnel_handoff', { url, agent_id: this.config.agentId });
    void session.ended.then((end) => {
      this.retiring.delete(session);
      this.logDisconnected(url, end);
    });
  }

  private logDisconnected(url: string, end: SessionEnd): void {
    this.log.info('cloud_disconnected', { url, code: end.code, reason: end.reason, established: end.established });
  }

  private reportFailure(url: string, err: unknown): void {
    if (err instanceof CloudConnectError) {
      this.log.warn('cloud_connect_failed', { url, reason: err.reason, status: err.status, detail: err.message });
    } else if (err instanceof TokenError) {
      this.log.warn('cloud_connect_failed', { url, reason: 'token', detail: err.message });
    } else {
      this.log.warn('cloud_connect_failed', { url, reason: 'error', detail: err instanceof Error ? err.message : String(err) });
    }
  }

  private async readToken(): Promise<string> {
    const source = this.config.token;
    if (source.kind === 'inline') return source.token;
    let text: string;
    try {
      text = (await readFile(source.path, 'utf8')).trim();
    } catch (err) {
      throw new TokenError(`cannot read token file ${source.path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    if (text === '') throw new TokenError(`token file ${source.path} is empty`);
    return text;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = undefined;
        resolve();
      };
    });
  }

  /** Graceful stop: GOAWAY + close the tunnel, end the loop. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.health.stop();
    this.session?.shutdown();
    for (const s of this.retiring) s.shutdown();
    this.wake?.();
    await this.loop;
  }
}

class TokenError extends Error {}
