/**
 * The agent's set of links (premise `links`): which hub replica each link slot holds, how many links
 * are worth holding, which URL a slot dials next, and the one-at-a-time HELLO gate. Pure bookkeeping,
 * no I/O: the slots (link-slot.ts) do the dialling.
 *
 * Rules:
 * - never two links to one replica: a HELLO names the replicas already held (`held_replicas`) and a
 *   hub that finds itself in the list refuses it (close 4009); HELLOs go out one at a time (the gate),
 *   so the list is always complete when a hub reads it;
 * - wanted = min(links, max(1, replicas the hubs say are alive, number of cloud URLs)): through one
 *   URL to an HA-off hub (HELLO_ACK replicas 1) that is one link and no re-dialling;
 * - a slot prefers a URL no other link uses (several cloud URLs: spread over them).
 */

export interface HeldLink {
  readonly replicaId: string;
  readonly url: string;
  /** HELLO_ACK `replicas` (1 when the hub did not say). */
  readonly replicas: number;
  /** The hub runs HA (its HELLO_ACK carried an ownership epoch): its replica count may grow or be stale. */
  readonly ha?: boolean;
}

export class LinkSet {
  private readonly held = new Map<number, HeldLink>();
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly links: number,
    readonly urls: readonly string[],
  ) {
    if (!(Number.isInteger(links) && links >= 1)) throw new RangeError('LinkSet: links must be an integer >= 1');
    if (urls.length === 0) throw new RangeError('LinkSet: at least one hub URL is required');
  }

  /** How many links are worth holding now. */
  wanted(): number {
    let replicas = 1;
    for (const l of this.held.values()) replicas = Math.max(replicas, l.replicas);
    return Math.min(this.links, Math.max(replicas, this.urls.length));
  }

  get size(): number {
    return this.held.size;
  }

  /**
   * Whether slot `slot` should probe for a replica the hubs did not count: it is the next slot past
   * wanted(), `links` allows it, and a held link is to an HA hub (whose count is as old as its last
   * registry heartbeat, and grows when replicas are added). Never with HA-off hubs.
   */
  shouldProbe(slot: number): boolean {
    if (slot !== this.wanted() || slot >= this.links) return false;
    for (const l of this.held.values()) if (l.ha === true) return true;
    return false;
  }

  /** Replica ids held by slots other than `except` (the HELLO's held_replicas). */
  heldReplicas(except?: number): string[] {
    const out: string[] = [];
    for (const [slot, l] of this.held) if (slot !== except && !out.includes(l.replicaId)) out.push(l.replicaId);
    return out;
  }

  /** Whether another slot already holds `replicaId`. */
  isHeldElsewhere(slot: number, replicaId: string): boolean {
    for (const [s, l] of this.held) if (s !== slot && l.replicaId === replicaId) return true;
    return false;
  }

  /** Slot `slot` now holds a link; false (nothing recorded) when another slot holds that replica. */
  add(slot: number, link: HeldLink): boolean {
    if (this.isHeldElsewhere(slot, link.replicaId)) return false;
    this.held.set(slot, { ...link, replicas: Math.max(1, link.replicas) });
    this.changed();
    return true;
  }

  remove(slot: number): HeldLink | undefined {
    const l = this.held.get(slot);
    if (l === undefined) return undefined;
    this.held.delete(slot);
    this.changed();
    return l;
  }

  get(slot: number): HeldLink | undefined {
    return this.held.get(slot);
  }

  /**
   * The URL slot `slot` should dial, given the index it tried last (`cursor`, advanced on failure):
   * from the cursor on, the first URL no other link uses; else the cursor's URL (one URL: always it).
   */
  pickUrl(slot: number, cursor: number): { url: string; index: number } {
    const used = new Set<string>();
    for (const [s, l] of this.held) if (s !== slot) used.add(l.url);
    const n = this.urls.length;
    for (let k = 0; k < n; k++) {
      const index = (cursor + k) % n;
      const url = this.urls[index]!;
      if (!used.has(url)) return { url, index };
    }
    const index = ((cursor % n) + n) % n;
    return { url: this.urls[index]!, index };
  }

  /** Called whenever the held set (and so wanted()) changes. */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(): void {
    for (const fn of [...this.listeners]) fn();
  }
}

/** One HELLO in flight at a time across the slots (FIFO), so `held_replicas` is never stale. */
export class HelloGate {
  private tail: Promise<void> = Promise.resolve();

  /** Resolves with a release function once it is this caller's turn. */
  acquire(): Promise<() => void> {
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const turn = this.tail.then(() => {
      let done = false;
      return () => {
        if (done) return;
        done = true;
        release();
      };
    });
    this.tail = this.tail.then(() => mine);
    return turn;
  }
}

/**
 * Delay between probes for an uncounted replica (LinkSet.shouldProbe): 5 s, doubling to 5 min,
 * jittered down to half. Reset when the link set changes.
 */
export class ProbeDelay {
  private tries = 0;

  constructor(
    private readonly baseMs = 5000,
    private readonly capMs = 300_000,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    const ceiling = Math.min(this.capMs, this.baseMs * 2 ** Math.min(this.tries, 30));
    this.tries++;
    const r = Math.min(Math.max(this.random(), 0), 1);
    return Math.floor(ceiling / 2 + (r * ceiling) / 2);
  }

  reset(): void {
    this.tries = 0;
  }
}

/** Why a link slot dials again (counted by reason in the agent's log lines). */
export type RedialReason = 'duplicate' | 'goaway' | 'link_down' | 'connect_failed' | 'refused' | 'hello_failed' | 'probe';

/** Link re-dials by reason, for this agent process (the agent has no /metrics: they go into its log lines). */
export class RedialCounts {
  private readonly counts: Record<RedialReason, number> = { duplicate: 0, goaway: 0, link_down: 0, connect_failed: 0, refused: 0, hello_failed: 0, probe: 0 };

  inc(reason: RedialReason): number {
    return ++this.counts[reason];
  }

  snapshot(): Readonly<Record<RedialReason, number>> {
    return { ...this.counts };
  }
}

/**
 * After a duplicate refusal (a load balancer sent the HELLO to a replica this agent holds):
 * `fastTries` quick re-dials with a growing delay, then one try per `slowMs` (jittered down to half).
 * Reset once the slot holds a link.
 */
export class DuplicateRetry {
  private tries = 0;

  constructor(
    private readonly fastTries = 8,
    private readonly baseMs = 100,
    private readonly capMs = 2000,
    private readonly slowMs = 30_000,
    private readonly random: () => number = Math.random,
  ) {}

  /** Delay before the next re-dial after a duplicate. */
  next(): { delayMs: number; slow: boolean } {
    this.tries++;
    const r = Math.min(Math.max(this.random(), 0), 1);
    if (this.tries <= this.fastTries) {
      const ceiling = Math.min(this.capMs, this.baseMs * 2 ** (this.tries - 1));
      return { delayMs: Math.floor(ceiling / 2 + (r * ceiling) / 2), slow: false };
    }
    return { delayMs: Math.floor(this.slowMs / 2 + (r * this.slowMs) / 2), slow: true };
  }

  get count(): number {
    return this.tries;
  }

  reset(): void {
    this.tries = 0;
  }
}
