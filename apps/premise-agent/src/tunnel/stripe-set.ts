import type { EventLog } from '@nowconnect/logging';
import { Backoff } from '../cloud';
import type { AgentSessionOptions, AgentTunnelSession } from './agent-tunnel-session';
import { DuplicateRetry } from './link-set';

/** Close code of a hub refusing a stripe HELLO (its key names no link there, or the link is full). */
export const CLOSE_STRIPE_REFUSED = 4010;

export interface StripeSetDeps {
  readonly log: EventLog;
  readonly isStopping: () => boolean;
  /** Dials the link's URL and starts a session (undefined: the agent is stopping); throws on failure. */
  readonly open: (extra: Pick<AgentSessionOptions, 'stripe' | 'siblings'>) => Promise<AgentTunnelSession | undefined>;
  readonly reportFailure: (err: unknown) => void;
}

/**
 * The stripes of one link: `count - 1` extra tunnel connections to the same hub replica, named by
 * the link's `stripe_key`. The hub opens each new flow on the link's connection with the fewest
 * flows, so flows spread over several TCP connections (each flow stays on one) and one
 * connection's send buffer (tcp_wmem) no longer caps the link across a long round trip.
 *
 * Each stripe re-dials on its own while the link is up: a refusal (4010: a load balancer sent it to
 * another replica, or the link is full) is retried 8 times quickly and then every 15-30 s; a
 * dropped stripe with backoff. When the link goes (stop()), no stripe is re-dialled; the hub sends
 * each stripe a GOAWAY and it closes once its flows are done. shutdown() closes them all (agent stop).
 */
export class StripeSet {
  /** Stripe sessions that are open (up, or still finishing their flows after a GOAWAY). */
  readonly sessions = new Set<AgentTunnelSession>();
  private stopped = false;
  private readonly wakers = new Set<() => void>();
  /** Resolves once every stripe loop has ended and every stripe session has closed. */
  readonly done: Promise<void>;

  constructor(
    private readonly head: AgentTunnelSession,
    private readonly key: string,
    private readonly replicaId: string,
    private readonly url: string,
    private readonly link: number,
    count: number,
    private readonly deps: StripeSetDeps,
  ) {
    const loops = Array.from({ length: count - 1 }, (_x, i) => this.run(i + 1));
    this.done = Promise.all(loops).then(async () => {
      await Promise.all([...this.sessions].map((s) => s.ended));
    });
  }

  /** The link is gone or draining: stop re-dialling; open stripes finish their flows. */
  stop(): void {
    this.stopped = true;
    for (const wake of [...this.wakers]) wake();
  }

  /** Agent stop: stop re-dialling and close every stripe (GOAWAY, then close). */
  shutdown(): void {
    this.stop();
    for (const s of this.sessions) s.shutdown();
  }

  private get halted(): boolean {
    return this.stopped || this.deps.isStopping();
  }

  private async run(stripe: number): Promise<void> {
    const backoff = new Backoff();
    const refusals = new DuplicateRetry();
    const { log } = this.deps;
    while (!this.halted) {
      let session: AgentTunnelSession | undefined;
      try {
        session = await this.deps.open({
          stripe: { key: this.key, recordTargetFailure: (connector, reason) => this.head.recordTargetFailure(connector, reason) },
          siblings: () => this.others(session),
        });
      } catch (err) {
        this.deps.reportFailure(err);
        await this.sleep(backoff.next());
        continue;
      }
      if (session === undefined) return;
      if (this.halted) {
        session.shutdown();
        return;
      }
      this.sessions.add(session);
      const opened = session;
      void opened.ended.then(() => this.sessions.delete(opened));
      const first = await Promise.race([session.ready, session.ended]);
      if (!('replica_id' in first)) {
        const refused = first.code === CLOSE_STRIPE_REFUSED;
        const { delayMs, slow } = refused ? refusals.next() : { delayMs: backoff.next(), slow: false };
        log.info('agent_stripe_redial', { replica_id: this.replicaId, url: this.url, link: this.link, stripe, code: first.code, reason: first.reason, retry_in_ms: delayMs, slow });
        await this.sleep(delayMs);
        continue;
      }
      backoff.reset();
      refusals.reset();
      log.info('agent_stripe_up', { replica_id: first.replica_id, url: this.url, link: this.link, stripe, stripes_up: this.sessions.size + 1 });
      const outcome = await Promise.race([session.ended, session.goaway.then(() => 'goaway' as const)]);
      if (outcome === 'goaway') return; // the link or the hub is draining: this stripe closes once its flows are done
      log.info('agent_stripe_down', { replica_id: first.replica_id, url: this.url, link: this.link, stripe, code: outcome.code, detail: outcome.reason, dead: outcome.dead });
      await this.sleep(backoff.next());
    }
  }

  /** The link's other connections (the agent's limits count a link as a whole). */
  private others(self: AgentTunnelSession | undefined): AgentTunnelSession[] {
    return [this.head, ...[...this.sessions].filter((s) => s !== self)];
  }

  private sleep(ms: number): Promise<void> {
    if (this.halted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakers.add(done);
    });
  }
}
