import type { WindowBudget } from './window-budget';

/** Milliseconds on a monotonic clock (performance.now in production; injected in tests). */
export type Clock = () => number;

export const MONOTONIC_CLOCK: Clock = () => performance.now();

/**
 * Round trips shorter than this count as this for sizing windows: on loopback the
 * measured round trip (~0.1 ms) says little about the event-loop turns a grant
 * takes under load, and a window of 2 x rate x 4 ms is still small (4 MB at 500 MB/s).
 */
export const RTT_FLOOR_MS = 4;
/** A window more than this many times what its flow needs gives growth back, halving at a time ... */
const SHRINK_FACTOR = 4;
/**
 * ... once that held for this many grants in a row: one slow half window (a scheduling hiccup on a
 * busy host, a short pause of the reader) does not cost a bulk flow half its window.
 */
const SHRINK_AFTER_GRANTS = 3;
/**
 * A grown window with no grant for this long (and for IDLE_AFTER_RTTS round trips) is idle: a flow that
 * went silent, or whose reader stopped, grants nothing, so the shrink-at-grant rule never sees it.
 * `shrinkIdle` (run by the session's sweep, every IDLE_SWEEP_MS) gives its growth back instead.
 */
export const IDLE_AFTER_MS = 1000;
const IDLE_AFTER_RTTS = 8;
/** How often a session looks for idle grown windows (only while its budget has growth taken). */
export const IDLE_SWEEP_MS = 1000;

/** The tunnel's (or mesh link's) smoothed round trip. */
export interface RttSource {
  /** Smoothed round trip in ms; undefined before the first sample. May ask for a fresh sample. */
  rttMs(): number | undefined;
  /** The last smoothed round trip, without asking for a sample. */
  readonly lastMs?: number | undefined;
}

/**
 * One flow's auto-tuned receive window, like Linux's receive autotuning and QUIC
 * stacks': the receiver grants credit back past half a window; at each grant it
 * knows how fast the flow drained (bytes consumed since the last grant over the
 * time since) and the round trip, so the window the flow needs to never wait for
 * credit is rate x RTT. It doubles the window while the window is below twice
 * that (taking the growth from the budget, up to `max`), and halves it (down to
 * `initial`) while the window is more than SHRINK_FACTOR times that, from the
 * SHRINK_AFTER_GRANTS-th such grant in a row on — a flow that slows down or idles
 * gives its growth back at its next grants. No fixed timing
 * constant: the criterion scales with the measured round trip, so growth works
 * the same at 1, 50 or 300 ms.
 *
 * A window-limited flow consumes a whole window per round trip, so the time
 * between two half-window grants is about RTT/2 and the need test reads
 * 2 x (W/2) x RTT / (RTT/2) = 2W > W: it grows, up to two doublings per round trip,
 * until the window covers twice the bandwidth-delay product.
 */
export class ReceiveWindow {
  /** Current window, bytes. */
  size: number;
  private lastGrantAt: number;
  /** Grants in a row at which the window was more than SHRINK_FACTOR times what the flow needed. */
  private oversized = 0;

  constructor(
    readonly initial: number,
    readonly max: number,
    private readonly budget: WindowBudget | undefined,
    private readonly rtt: RttSource | undefined,
    private readonly clock: Clock,
  ) {
    this.size = initial;
    this.lastGrantAt = clock();
  }

  /** `consumed` bytes (about half the window or more) were flushed: returns the credit to grant back (<= 0: none). */
  grant(consumed: number): number {
    const now = this.clock();
    const elapsed = now - this.lastGrantAt;
    this.lastGrantAt = now;
    const budget = this.budget;
    if (budget === undefined || this.max <= this.initial) return consumed;
    const rtt = this.rtt?.rttMs();
    if (rtt === undefined) return consumed;
    const window = this.size;
    // What the flow drains in one round trip at the rate it just drained, twice over.
    const need = (2 * consumed * Math.max(rtt, RTT_FLOOR_MS)) / Math.max(elapsed, 0.001);
    let growth = 0;
    this.oversized = need * SHRINK_FACTOR < window ? this.oversized + 1 : 0;
    if (need > window && window < this.max) {
      growth = budget.take(Math.min(window, this.max - window));
    } else if (this.oversized >= SHRINK_AFTER_GRANTS && window > this.initial) {
      const shrink = Math.min(consumed, window - Math.max(this.initial, Math.ceil(window / 2)));
      budget.give(shrink);
      growth = -shrink;
    }
    this.size += growth;
    return consumed + growth;
  }

  /**
   * Run periodically (IDLE_SWEEP_MS): if the window has grown and no grant came for
   * max(IDLE_AFTER_MS, IDLE_AFTER_RTTS x RTT), the window shrinks toward `initial` by what can be taken
   * back without taking credit from the peer: the `consumed` bytes (flushed, not yet granted) are
   * withheld for good. What the peer still holds as credit, and bytes still queued for the local socket,
   * stay counted (they are a memory commitment) and are withheld in turn as they are consumed, at later
   * sweeps while the flow stays slow. Returns how many of `consumed` were withheld (the caller drops them).
   */
  shrinkIdle(consumed: number): number {
    if (this.size <= this.initial || consumed <= 0) return 0;
    const now = this.clock();
    const rtt = this.rtt?.lastMs ?? 0;
    if (now - this.lastGrantAt < Math.max(IDLE_AFTER_MS, IDLE_AFTER_RTTS * rtt)) return 0;
    const shrink = Math.min(consumed, this.size - this.initial);
    this.size -= shrink;
    this.budget?.give(shrink);
    this.oversized = 0;
    return shrink;
  }

  /** The flow is over: its growth goes back to the budget. */
  release(): void {
    if (this.budget !== undefined && this.size > this.initial) this.budget.give(this.size - this.initial);
    this.size = this.initial;
  }
}

/** A round-trip sample older than this asks for a fresh one (an extra PING) when a window is sized. */
export const RTT_MAX_AGE_MS = 1000;
/** A probe PING unanswered for this long no longer blocks the next (a backstop; TCP does not lose it). */
const PROBE_GIVE_UP_MS = 10_000;

/**
 * The smoothed round trip of one tunnel or mesh link, from PING/PONG (the
 * keepalive's and extra probes'). Windows are sized with it; when the last
 * sample is older than RTT_MAX_AGE_MS, reading it sends a probe (at most one
 * outstanding), so a loaded tunnel gets a sample a second, an idle one none.
 */
export class RttEstimator implements RttSource {
  private srtt: number | undefined;
  private sampledAt = Number.NEGATIVE_INFINITY;
  private probeSentAt: number | undefined;

  constructor(
    private readonly probe: () => void,
    private readonly clock: Clock,
  ) {}

  rttMs(): number | undefined {
    const now = this.clock();
    const outstanding = this.probeSentAt !== undefined && now - this.probeSentAt < PROBE_GIVE_UP_MS;
    if (!outstanding && now - this.sampledAt >= RTT_MAX_AGE_MS) {
      this.probeSentAt = now;
      this.probe();
    }
    return this.srtt;
  }

  /** A round trip of `ms` was measured. */
  sample(ms: number): void {
    // Gain 1/4: samples come at most once a second, so the estimate must follow a loaded link's queueing quickly.
    this.srtt = this.srtt === undefined ? ms : this.srtt + (ms - this.srtt) / 4;
    this.sampledAt = this.clock();
    this.probeSentAt = undefined;
  }

  get lastMs(): number | undefined {
    return this.srtt;
  }
}
