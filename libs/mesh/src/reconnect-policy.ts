/**
 * When to dial a peer again. Exponential backoff with full jitter
 * (delay = random() * min(max, base * 2^(failures-1))), capped at
 * ha.mesh.connect_backoff_max_sec, plus a circuit breaker: after
 * `failureThreshold` consecutive failures the breaker opens and no dial is
 * made for `coolDownMs`; then it is half-open and allows one probe: success
 * closes it, failure opens it again for another cool-down.
 */
export enum BreakerState {
  CLOSED = 'closed',
  OPEN = 'open',
  HALF_OPEN = 'half_open',
}

export interface ReconnectPolicyOptions {
  /** ha.mesh.connect_backoff_max_sec, in ms. */
  readonly maxDelayMs: number;
  readonly baseDelayMs?: number; // 200
  readonly failureThreshold?: number; // 8
  readonly coolDownMs?: number; // maxDelayMs
  /** [0, 1); injectable for tests. */
  readonly random?: () => number;
  readonly now?: () => number;
}

export class ReconnectPolicy {
  private failures = 0;
  private breaker = BreakerState.CLOSED;
  private openedAt = 0;
  private probing = false;
  private readonly base: number;
  private readonly max: number;
  private readonly threshold: number;
  private readonly coolDown: number;
  private readonly random: () => number;
  private readonly now: () => number;

  constructor(options: ReconnectPolicyOptions) {
    this.max = options.maxDelayMs;
    this.base = Math.min(options.baseDelayMs ?? 200, this.max);
    this.threshold = options.failureThreshold ?? 8;
    this.coolDown = options.coolDownMs ?? this.max;
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    if (!(this.max > 0) || !(this.base > 0) || !(this.threshold >= 1) || !(this.coolDown >= 0)) {
      throw new RangeError('ReconnectPolicy: delays must be positive and failureThreshold >= 1');
    }
  }

  get state(): BreakerState {
    if (this.breaker === BreakerState.OPEN && this.now() - this.openedAt >= this.coolDown) return BreakerState.HALF_OPEN;
    return this.breaker;
  }

  get consecutiveFailures(): number {
    return this.failures;
  }

  /**
   * May a dial start now? Closed: yes. Open: no until the cool-down is over.
   * Half-open: yes for exactly one probe until its outcome is recorded.
   */
  tryAttempt(): boolean {
    const state = this.state;
    if (state === BreakerState.CLOSED) return true;
    if (state === BreakerState.OPEN || this.probing) return false;
    this.breaker = BreakerState.HALF_OPEN;
    this.probing = true;
    return true;
  }

  /** The link came up (handshake done): reset. */
  recordSuccess(): void {
    this.failures = 0;
    this.breaker = BreakerState.CLOSED;
    this.probing = false;
  }

  /** A dial or handshake failed, or an up link was lost. Returns the delay (ms) before the next attempt. */
  recordFailure(): number {
    this.failures++;
    const wasProbe = this.breaker === BreakerState.HALF_OPEN;
    this.probing = false;
    if (wasProbe || this.failures >= this.threshold) {
      this.breaker = BreakerState.OPEN;
      this.openedAt = this.now();
      return this.coolDown;
    }
    return this.backoff();
  }

  /** Full-jitter backoff for the current failure count (0 failures: 0). */
  backoff(): number {
    if (this.failures === 0) return 0;
    const exp = Math.min(this.max, this.base * 2 ** Math.min(this.failures - 1, 52));
    return Math.floor(this.random() * exp);
  }
}
