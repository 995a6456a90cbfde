/** Longest setTimeout Node honours (a longer delay fires at once). */
const MAX_TIMER_MS = 0x7fffffff;

/**
 * A tunnel's token lifetime on the hub: calls `onExpired` once the token is past `exp` + skew,
 * unless `extend` (an accepted in-band re-authentication) moved `exp` first. A far `exp` takes
 * several timers (Node caps one at ~24.8 days).
 */
export class TokenExpiry {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private expiresAt: number,
    private readonly skewMs: number,
    private readonly onExpired: (expiresAt: number) => void,
  ) {
    this.arm();
  }

  /** `exp` of the token the tunnel runs on now, epoch ms. */
  get exp(): number {
    return this.expiresAt;
  }

  /** A fresh token: the later `exp` wins. */
  extend(expiresAt: number): void {
    this.expiresAt = Math.max(this.expiresAt, expiresAt);
    this.arm();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private arm(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const delay = this.expiresAt + this.skewMs - Date.now();
    this.timer = setTimeout(() => this.fire(), Math.min(Math.max(0, delay), MAX_TIMER_MS));
    this.timer.unref();
  }

  private fire(): void {
    if (this.stopped) return;
    if (Date.now() < this.expiresAt + this.skewMs) {
      this.arm();
      return;
    }
    this.stopped = true;
    this.onExpired(this.expiresAt);
  }
}
