import type { PremiseConfig } from '@nowconnect/ha-config';
import type { EventLog } from '@nowconnect/logging';
import { isValidName } from '@nowconnect/frames';
import { Backoff, CloudConnectError, dialCloud, permanentRefusal, permanentRefusalDelay } from '../cloud';
import type { TargetPools } from '../targets/target-pool';
import { AgentTunnelSession, type AgentSessionOptions, type SessionEnd } from './agent-tunnel-session';
import { StripeSet, type StripeBoard } from './stripe-set';
import { DuplicateRetry, ProbeDelay, type HelloGate, type LinkSet, type RedialCounts, type RedialReason } from './link-set';

const VERSION = '0.1.0';
const MAX_FRAME_BYTES_BEFORE_ACK = 16 * 1024 * 1024;
const HANDSHAKE_TIMEOUT_MS = 15_000;
/** After a GOAWAY, redial within a random 0..this delay, so a draining hub's agents don't arrive in one burst. */
const HANDOFF_JITTER_MS = 250;
/** Close code of a hub refusing a HELLO that names its own replica in held_replicas (docs/ha.md). */
export const CLOSE_DUPLICATE_LINK = 4009;

export interface LinkSlotDeps {
  readonly config: PremiseConfig;
  readonly log: EventLog;
  readonly pools: TargetPools;
  readonly links: LinkSet;
  readonly gate: HelloGate;
  readonly redials: RedialCounts;
  readonly counters: { busy: number; slowConsumer: number };
  readonly readToken: () => Promise<string>;
  readonly isStopping: () => boolean;
  /** The agent's links that take stripes (a stripe dial may join any of them on the replica it reaches). */
  readonly stripes: StripeBoard;
}

/**
 * One of the agent's `links` tunnels: dial, HELLO, serve, and when it ends, dial again forever with
 * exponential backoff and full jitter, moving along the URL list when a hub is unreachable or dead.
 * Slot 0 always runs; slot i > 0 dials only while the link set wants more than i links (the hubs
 * say enough replicas are alive, or several cloud URLs are configured).
 *
 * Drain handoff: on GOAWAY the tunnel is "retired" — it keeps carrying its running flows until they
 * finish or the hub resets them — and the slot dials again at once, so a replacement link comes up
 * while the agent's other links keep serving.
 */
export class LinkSlot {
  private session: AgentTunnelSession | undefined;
  /** Stripes of this slot's links: the current link's, and a gone link's still finishing flows. */
  private readonly stripeSets = new Set<StripeSet>();
  private readonly retiring = new Set<AgentTunnelSession>();
  private wake: (() => void) | undefined;
  /** Set only while the slot waits for the link set to want it (a change wakes it; a backoff is not cut short). */
  private changeWake: (() => void) | undefined;
  private cursor: number;
  private readonly backoff = new Backoff();
  private readonly duplicates = new DuplicateRetry();
  private readonly probes = new ProbeDelay();
  private attempt = 0;
  readonly done: Promise<void>;

  constructor(
    readonly index: number,
    private readonly deps: LinkSlotDeps,
  ) {
    this.cursor = index % deps.links.urls.length;
    this.done = this.run();
  }

  private get stopping(): boolean {
    return this.deps.isStopping();
  }

  private async run(): Promise<void> {
    const { links } = this.deps;
    const unsubscribe = links.onChange(() => {
      this.probes.reset();
      this.changeWake?.();
    });
    try {
      while (!this.stopping) {
        let probe = false;
        if (this.index >= links.wanted()) {
          if (!links.shouldProbe(this.index)) {
            await this.sleep(undefined); // until the link set changes (or stop)
            continue;
          }
          // An HA hub's replica count may be stale (or replicas were added): look, slowly.
          await this.sleep(this.probes.next(), true);
          if (this.stopping || !links.shouldProbe(this.index)) continue;
          this.count('probe', links.urls[this.cursor] ?? '');
          probe = true;
        }
        const delayMs = await this.once(probe);
        if (this.stopping) break;
        await this.sleep(delayMs);
      }
    } finally {
      unsubscribe();
    }
  }

  /** One dial + HELLO + serve; returns the delay before the next dial. */
  private async once(probe = false): Promise<number> {
    const { links, log, config } = this.deps;
    const { url, index } = links.pickUrl(this.index, this.cursor);
    this.cursor = index;
    const release = await this.deps.gate.acquire();
    let released = false;
    const releaseGate = (): void => {
      if (!released) {
        released = true;
        release();
      }
    };
    try {
      if (this.stopping || (!probe && this.index >= links.wanted())) return 0;
      this.attempt++;
      log.info('connecting_to_cloud', { url, agent_id: config.agentId, attempt: this.attempt, ...(links.links > 1 ? { link: this.index } : {}) });
      let session: AgentTunnelSession | undefined;
      const heldReplicas = links.heldReplicas(this.index).filter(isValidName);
      let stripes: StripeSet | undefined;
      try {
        session = await this.openSession(url, { heldReplicas, siblings: () => stripes?.sessions ?? [] });
      } catch (err) {
        this.reportFailure(url, err);
        return this.failed('connect_failed', url);
      }
      if (session === undefined) return 0;
      this.session = session;
      const first = await Promise.race([session.ready, session.ended]);
      releaseGate();
      if (!('replica_id' in first)) {
        this.session = undefined;
        return this.notEstablished(url, first);
      }
      if (!links.add(this.index, { replicaId: first.replica_id, url, replicas: first.replicas ?? 1, ha: first.epoch !== undefined })) {
        // Cannot happen while HELLOs go one at a time (the hub refuses a listed replica); kept as a guard.
        session.shutdown();
        await session.ended;
        this.session = undefined;
        return this.duplicate(url, first.replica_id);
      }
      this.backoff.reset();
      this.duplicates.reset();
      log.info('agent_link_up', { replica_id: first.replica_id, url, link: this.index, links_up: links.size, links_wanted: links.wanted() });
      const count = Math.min(config.stripes ?? 1, first.stripes ?? 1);
      if (first.stripe_key !== undefined && count > 1) {
        stripes = new StripeSet(session, first.stripe_key, first.replica_id, url, this.index, count, {
          log,
          board: this.deps.stripes,
          isStopping: () => this.stopping,
          open: (extra) => this.openSession(url, extra),
          reportFailure: (err) => this.reportFailure(url, err),
        });
        const set = stripes;
        this.stripeSets.add(set);
        void set.done.then(() => this.stripeSets.delete(set));
      }
      const outcome = await Promise.race([session.ended, session.goaway.then(() => 'goaway' as const)]);
      // The link is gone or draining: no stripe is re-dialled; the hub sends each a GOAWAY and it
      // closes once its flows are done.
      stripes?.stop();
      this.session = undefined;
      links.remove(this.index);
      if (outcome === 'goaway') {
        this.linkDown(first.replica_id, url, 'goaway', undefined);
        this.retire(session, url);
        this.count('goaway', url);
        if (links.urls.length > 1) this.cursor = (this.cursor + 1) % links.urls.length;
        return Math.floor(Math.random() * HANDOFF_JITTER_MS);
      }
      this.logDisconnected(url, outcome);
      this.linkDown(first.replica_id, url, outcome.dead ? 'dead' : 'closed', outcome);
      if (this.stopping) return 0;
      const refusal = permanentRefusal(outcome.code, outcome.reason);
      if (refusal !== undefined) return this.permanent(url, refusal, outcome.reason);
      this.count('link_down', url);
      if (outcome.dead) return this.failed(undefined, url);
      return this.backoff.next();
    } finally {
      releaseGate();
    }
  }

  /** Dials `url` and starts a tunnel session on it (undefined: the agent is stopping). Throws on a failed dial or token read. */
  private async openSession(url: string, extra: Pick<AgentSessionOptions, 'heldReplicas' | 'stripe' | 'siblings'>): Promise<AgentTunnelSession | undefined> {
    const { config, log } = this.deps;
    const token = await this.deps.readToken();
    const conn = await dialCloud({
      url,
      token,
      caFile: config.caFile,
      proxyUrl: config.proxyUrl,
      env: process.env,
      maxPayload: MAX_FRAME_BYTES_BEFORE_ACK,
      handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
    });
    if (this.stopping) {
      conn.ws.close(1001, 'agent shutting down');
      return undefined;
    }
    return new AgentTunnelSession(conn.ws, conn.socket, {
      agentId: config.agentId,
      hubUrl: url,
      pools: this.deps.pools,
      version: VERSION,
      log,
      maxFrameBytes: MAX_FRAME_BYTES_BEFORE_ACK,
      helloTimeoutMs: HANDSHAKE_TIMEOUT_MS,
      limits: config.limits,
      counters: this.deps.counters,
      token,
      readToken: this.deps.readToken,
      ...extra,
    });
  }

  /** The tunnel ended before HELLO_ACK: a duplicate refusal, a permanent refusal, or a failure. */
  private notEstablished(url: string, end: SessionEnd): number {
    if (end.code === CLOSE_DUPLICATE_LINK) return this.duplicate(url, end.reason.replace(/^duplicate link: /, ''));
    this.logDisconnected(url, end);
    if (this.stopping) return 0;
    const refusal = permanentRefusal(end.code, end.reason);
    if (refusal !== undefined) return this.permanent(url, refusal, end.reason);
    return this.failed('hello_failed', url);
  }

  /** A polite refusal: this agent already holds that replica. Not an error: re-dial (bounded fast tries, then slow). */
  private duplicate(url: string, replicaId: string): number {
    const { delayMs, slow } = this.duplicates.next();
    const total = this.deps.redials.inc('duplicate');
    this.deps.log.info('agent_link_redial', {
      reason: 'duplicate',
      replica_id: replicaId,
      url,
      link: this.index,
      tries: this.duplicates.count,
      retry_in_ms: delayMs,
      slow,
      redials_total: total,
    });
    return delayMs;
  }

  private permanent(url: string, refusal: string, detail: string): number {
    const delayMs = permanentRefusalDelay();
    this.deps.log.warn('hello_refused_permanent', { url, reason: refusal, detail, retry_in_ms: delayMs });
    this.count('refused', url);
    this.cursor = (this.cursor + 1) % this.deps.links.urls.length;
    return delayMs;
  }

  /** A failed dial or a dead hub: next URL, growing backoff. */
  private failed(reason: RedialReason | undefined, url: string): number {
    if (reason !== undefined) this.count(reason, url);
    this.cursor = (this.cursor + 1) % this.deps.links.urls.length;
    return this.backoff.next();
  }

  private count(reason: RedialReason, url: string): void {
    const total = this.deps.redials.inc(reason);
    if (reason !== 'connect_failed' && reason !== 'hello_failed') {
      this.deps.log.info('agent_link_redial', { reason, url, link: this.index, redials_total: total });
    }
  }

  private linkDown(replicaId: string, url: string, reason: string, end: SessionEnd | undefined): void {
    this.deps.log.info('agent_link_down', {
      replica_id: replicaId,
      url,
      link: this.index,
      reason,
      ...(end === undefined ? {} : { code: end.code, detail: end.reason }),
      links_up: this.deps.links.size,
      redials: this.deps.redials.snapshot(),
    });
  }

  /** Keep a draining hub's tunnel until its flows are done (the session closes itself then). */
  private retire(session: AgentTunnelSession, url: string): void {
    this.retiring.add(session);
    this.deps.log.info('tunnel_handoff', { url, agent_id: this.deps.config.agentId });
    void session.ended.then((end) => {
      this.retiring.delete(session);
      this.logDisconnected(url, end);
    });
  }

  private logDisconnected(url: string, end: SessionEnd): void {
    this.deps.log.info('cloud_disconnected', { url, code: end.code, reason: end.reason, established: end.established });
  }

  private reportFailure(url: string, err: unknown): void {
    const log = this.deps.log;
    if (err instanceof CloudConnectError) {
      log.warn('cloud_connect_failed', { url, reason: err.reason, status: err.status, detail: err.message });
    } else if (err instanceof TokenError) {
      log.warn('cloud_connect_failed', { url, reason: 'token', detail: err.message });
    } else {
      log.warn('cloud_connect_failed', { url, reason: 'error', detail: err instanceof Error ? err.message : String(err) });
    }
  }

  /** Sleep `ms`, or (undefined) until woken by a link-set change or stop; `wakeOnChange` also for a timed sleep. */
  private sleep(ms: number | undefined, wakeOnChange = false): Promise<void> {
    return new Promise((resolve) => {
      const t = ms === undefined ? undefined : setTimeout(() => done(), ms);
      const done = (): void => {
        if (t !== undefined) clearTimeout(t);
        this.wake = undefined;
        this.changeWake = undefined;
        resolve();
      };
      this.wake = done;
      if (ms === undefined || wakeOnChange) this.changeWake = done;
    });
  }

  /** Graceful stop of this slot's tunnels (the runner sets stopping first). */
  stop(): void {
    for (const set of this.stripeSets) set.shutdown();
    this.session?.shutdown();
    for (const s of this.retiring) s.shutdown();
    this.wake?.();
  }
}

export class TokenError extends Error {}
