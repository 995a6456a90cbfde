import type { EventLog } from '@nowconnect/logging';
import { Backoff } from '../cloud';
import type { AgentSessionOptions, AgentTunnelSession } from './agent-tunnel-session';
import { DuplicateRetry } from './link-set';

/** Close code of a hub refusing a stripe HELLO (its keys name no link there, or the link is full). */
export const CLOSE_STRIPE_REFUSED = 4010;

export interface StripeSetDeps {
  readonly log: EventLog;
  readonly board: StripeBoard;
  readonly isStopping: () => boolean;
  /** Dials the link's URL and starts a session (undefined: the agent is stopping); throws on failure. */
  readonly open: (extra: Pick<AgentSessionOptions, 'stripe' | 'siblings'>) => Promise<AgentTunnelSession | undefined>;
  readonly reportFailure: (err: unknown) => void;
}

/**
 * The agent's links that take stripes, by key. Behind a load balancer a stripe dial reaches any
 * replica, so it names every link through the same URL that still wants a stripe, and joins the one
 * the replica it reached holds: with one link per replica, a dial is refused only when the replica
 * it reached has no link of this agent wanting one (or a session-affinity balancer sends every dial
 * to one replica).
 */
export class StripeBoard {
  private readonly sets = new Map<string, StripeSet>();

  add(set: StripeSet): void {
    this.sets.set(set.key, set);
  }

  delete(set: StripeSet): void {
    if (this.sets.get(set.key) === set) this.sets.delete(set.key);
  }

  get(key: string): StripeSet | undefined {
    return this.sets.get(key);
  }

  /** Keys to name in a stripe HELLO dialled for `from`: its own first, then the other links of its URL that want a stripe. */
  keysFor(from: StripeSet): string[] {
    const keys = [from.key];
    for (const set of this.sets.values()) {
      if (set !== from && set.url === from.url && set.wants) keys.push(set.key);
    }
    return keys;
  }
}

/**
 * The stripes of one link: `count - 1` extra tunnel connections to the same hub replica, named by
 * the link's `stripe_key`. The hub opens each new flow on the link's connection with the fewest
 * flows, so flows spread over several TCP connections (each flow stays on one) and one
 * connection's send buffer (tcp_wmem) no longer caps the link across a long round trip.
 *
 * Each empty slot re-dials on its own while the link is up, naming every link of the URL that wants
 * a stripe (StripeBoard); the connection fills a slot of whichever link the hub says it joined. A
 * refusal (4010: no wanting link on the replica the dial reached, or the link is full) is retried 8
 * times quickly and then every 15-30 s; a dropped stripe with backoff. When the link goes (stop()),
 * no stripe is re-dialled; the hub sends each stripe a GOAWAY and it closes once its flows are done.
 * shutdown() closes them all (agent stop).
 */
export class StripeSet {
  /** Stripe n is slots[n - 1]: its session while up (or still finishing flows after a GOAWAY). */
  private readonly slots: (AgentTunnelSession | undefined)[];
  /** Dialled connections not yet in a slot (before HELLO_ACK). */
  private readonly pending = new Set<AgentTunnelSession>();
  private stopped = false;
  /** The sleep of each slot's loop, if it sleeps: stop() wakes them all, a slot filled meanwhile (by another dial) its own. */
  private readonly slotSleeps = new Map<number, () => void>();
  /** Resolves once every stripe loop has ended and every stripe session has closed. */
  readonly done: Promise<void>;

  constructor(
    private readonly head: AgentTunnelSession,
    readonly key: string,
    private readonly replicaId: string,
    readonly url: string,
    private readonly link: number,
    count: number,
    private readonly deps: StripeSetDeps,
  ) {
    this.slots = Array.from({ length: count - 1 }, () => undefined);
    deps.board.add(this);
    const loops = this.slots.map((_s, i) => this.run(i));
    this.done = Promise.all(loops).then(async () => {
      await Promise.all([...this.sessions, ...this.pending].map((s) => s.ended));
    });
  }

  /** Stripe sessions in their slots. */
  get sessions(): AgentTunnelSession[] {
    return this.slots.filter((s): s is AgentTunnelSession => s !== undefined);
  }

  /** The link is up and a slot is empty. */
  get wants(): boolean {
    return !this.halted && this.slots.includes(undefined);
  }

  /** The link is gone or draining: stop re-dialling; open stripes finish their flows. */
  stop(): void {
    this.stopped = true;
    this.deps.board.delete(this);
    for (const wake of [...this.slotSleeps.values()]) wake();
  }

  /** Agent stop: stop re-dialling and close every stripe (GOAWAY, then close). */
  shutdown(): void {
    this.stop();
    for (const s of [...this.sessions, ...this.pending]) s.shutdown();
  }

  private get halted(): boolean {
    return this.stopped || this.deps.isStopping();
  }

  /**
   * A connection the hub joined to this link: into `prefer`'s slot when empty, else the first empty
   * one. Returns the stripe number, or undefined when the link is gone or has every slot filled.
   */
  private place(session: AgentTunnelSession, replicaId: string, prefer: number | undefined, via: StripeSet): number | undefined {
    if (this.halted) return undefined;
    const slot = prefer !== undefined && this.slots[prefer] === undefined ? prefer : this.slots.indexOf(undefined);
    if (slot < 0) return undefined;
    this.slots[slot] = session;
    this.slotSleeps.get(slot)?.(); // that slot's loop stops waiting to re-dial: it watches this stripe now
    let goaway = false;
    void session.goaway.then(() => (goaway = true));
    void session.ended.then((end) => {
      if (this.slots[slot] === session) this.slots[slot] = undefined;
      // After a GOAWAY the link or the hub is draining: the stripe closing then is the plan, not news.
      if (!goaway) this.deps.log.info('agent_stripe_down', { replica_id: replicaId, url: this.url, link: this.link, stripe: slot + 1, code: end.code, detail: end.reason, dead: end.dead });
    });
    this.deps.log.info('agent_stripe_up', {
      replica_id: replicaId,
      url: this.url,
      link: this.link,
      stripe: slot + 1,
      stripes_up: this.sessions.length,
      ...(via === this ? {} : { dialled_for_link: via.link }),
    });
    return slot + 1;
  }

  private async run(slot: number): Promise<void> {
    const backoff = new Backoff();
    const refusals = new DuplicateRetry();
    const { log, board } = this.deps;
    const stripe = slot + 1;
    while (!this.halted) {
      const held = this.slots[slot];
      if (held !== undefined) {
        const outcome = await Promise.race([held.ended, held.goaway.then(() => 'goaway' as const)]);
        if (outcome === 'goaway') return; // the link or the hub is draining: this stripe closes once its flows are done
        await this.sleep(backoff.next(), slot); // place() logged agent_stripe_down
        continue;
      }
      let session: AgentTunnelSession | undefined;
      let owner: StripeSet | undefined;
      try {
        session = await this.deps.open({
          stripe: { keys: board.keysFor(this), recordTargetFailure: (connector, reason) => owner?.head.recordTargetFailure(connector, reason) },
          siblings: () => owner?.others(session) ?? [],
        });
      } catch (err) {
        this.deps.reportFailure(err);
        await this.sleep(backoff.next(), slot);
        continue;
      }
      if (session === undefined) return;
      if (this.halted) {
        session.shutdown();
        return;
      }
      const opened = session;
      this.pending.add(opened);
      void opened.ended.then(() => this.pending.delete(opened));
      const first = await Promise.race([session.ready, session.ended]);
      this.pending.delete(opened);
      if (!('replica_id' in first)) {
        const refused = first.code === CLOSE_STRIPE_REFUSED;
        const { delayMs, slow } = refused ? refusals.next() : { delayMs: backoff.next(), slow: false };
        log.info('agent_stripe_redial', { replica_id: this.replicaId, url: this.url, link: this.link, stripe, code: first.code, reason: first.reason, retry_in_ms: delayMs, slow });
        await this.sleep(delayMs, slot);
        continue;
      }
      const joined = first.stripe_key === undefined ? undefined : board.get(first.stripe_key);
      const placed = joined?.place(session, first.replica_id, joined === this ? slot : undefined, this);
      if (placed === undefined) {
        // The link it joined went, or filled up meanwhile (another dial got there first): not needed.
        session.shutdown();
        const { delayMs, slow } = refusals.next();
        log.info('agent_stripe_redial', { replica_id: this.replicaId, url: this.url, link: this.link, stripe, reason: 'not_needed', joined_replica: first.replica_id, retry_in_ms: delayMs, slow });
        await this.sleep(delayMs, slot);
        continue;
      }
      owner = joined;
      backoff.reset();
      refusals.reset();
    }
  }

  /** The link's other connections (the agent's limits count a link as a whole). */
  private others(self: AgentTunnelSession | undefined): AgentTunnelSession[] {
    return [this.head, ...this.sessions.filter((s) => s !== self)];
  }

  private sleep(ms: number, slot: number): Promise<void> {
    if (this.halted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (this.slotSleeps.get(slot) === done) this.slotSleeps.delete(slot);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.slotSleeps.set(slot, done);
    });
  }
}
