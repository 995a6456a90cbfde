export interface BackoffOptions {
  /** First ceiling in ms (default 250). */
  baseMs?: number;
  /** Growth of the ceiling per attempt (default 2). */
  factor?: number;
  /** Largest ceiling in ms (default 30 000; SPEC `connect_backoff_max_sec`). */
  capMs?: number;
  /** Source of randomness in [0, 1); inject a fixed function in tests. */
  random?: () => number;
}

/**
 * Exponential backoff with full jitter ("Exponential Backoff And Jitter", AWS architecture blog):
 * attempt n (0-based) waits a uniformly random time in [0, min(cap, base * factor^n)).
 * Full jitter spreads a fleet of agents that all lost the same hub instead of having them
 * reconnect in lock-step. Call `reset()` once a tunnel is up.
 */
export class Backoff {
  private readonly baseMs: number;
  private readonly factor: number;
  private readonly capMs: number;
  private readonly random: () => number;
  private attempt = 0;

  constructor(options: BackoffOptions = {}) {
    this.baseMs = options.baseMs ?? 250;
    this.factor = options.factor ?? 2;
    this.capMs = options.capMs ?? 30_000;
    this.random = options.random ?? Math.random;
    if (!(this.baseMs > 0) || !(this.factor >= 1) || !(this.capMs >= this.baseMs)) {
      throw new RangeError('Backoff: need baseMs > 0, factor >= 1, capMs >= baseMs');
    }
  }

  /** The upper bound of the next delay, before jitter. */
  ceiling(): number {
    return Math.min(this.capMs, this.baseMs * this.factor ** this.attempt);
  }

  /** Delay in whole ms before the next attempt; grows the ceiling for the one after. */
  next(): number {
    const ceiling = this.ceiling();
    if (ceiling < this.capMs) this.attempt += 1; // stop counting once capped: no overflow
    const r = Math.min(Math.max(this.random(), 0), 1);
    return Math.min(Math.floor(r * ceiling), ceiling);
  }

  /** Back to the first (shortest) ceiling, e.g. after a tunnel came up. */
  reset(): void {
    this.attempt = 0;
  }
}

/** Hello refusals that retrying soon cannot fix: the token's scope or its agent id (SPEC §5). */
const PERMANENT_HELLO_REFUSALS = ['scope', 'agent_mismatch'] as const;
const HELLO_REFUSED = /^hello refused: ([a-z_]+)/;

/** Delay range after a permanent refusal: 60 s, jittered down to half so a fleet does not move in step. */
export const PERMANENT_REFUSAL_DELAY_MS = 60_000;

/**
 * The hub's refusal reason when the tunnel was closed with code 1008 `hello refused: <reason>...` and
 * that reason will not fix itself (a new token or config is needed); else undefined. The reason is
 * the stable code the hub puts first in the close reason, not free text.
 */
export function permanentRefusal(code: number, reason: string): string | undefined {
  if (code !== 1008) return undefined;
  const found = HELLO_REFUSED.exec(reason)?.[1];
  return PERMANENT_HELLO_REFUSALS.find((r) => r === found);
}

/** A delay in [PERMANENT_REFUSAL_DELAY_MS / 2, PERMANENT_REFUSAL_DELAY_MS). */
export function permanentRefusalDelay(random: () => number = Math.random): number {
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.floor(PERMANENT_REFUSAL_DELAY_MS / 2 + (r * PERMANENT_REFUSAL_DELAY_MS) / 2);
}
