/**
 * Per-source-address limit on FAILED tunnel authentications: one token bucket
 * per address, `burst` tokens, refilled at `refillPerSec`. Each failure takes a
 * token; an address with less than one token is limited (the caller refuses
 * with reason `rate_limited` without verifying). Successful authentications
 * never touch the bucket.
 *
 * Memory is bounded: at most `maxAddresses` buckets; inserting beyond that
 * evicts the address whose last failure is oldest (Map insertion order, kept
 * by re-inserting on every failure). A bucket that has refilled completely is
 * indistinguishable from no bucket and is dropped when seen, or by prune().
 */
export interface AuthRateLimiterOptions {
  /** Bucket size: failures allowed back to back. Default 20. */
  readonly burst?: number;
  /** Tokens regained per second. Default 5. */
  readonly refillPerSec?: number;
  /** Cap on tracked addresses. Default 10,000. */
  readonly maxAddresses?: number;
  /** Clock in milliseconds. Default Date.now. */
  readonly now?: () => number;
}

interface Bucket {
  tokens: number;
  updatedAtMs: number;
}

export class AuthRateLimiter {
  readonly burst: number;
  readonly refillPerSec: number;
  readonly maxAddresses: number;
  private readonly now: () => number;
  private readonly buckets = new Map<string, Bucket>();

  constructor(options: AuthRateLimiterOptions = {}) {
    this.burst = options.burst ?? 20;
    this.refillPerSec = options.refillPerSec ?? 5;
    this.maxAddresses = options.maxAddresses ?? 10_000;
    this.now = options.now ?? Date.now;
    if (!(this.burst >= 1) || !(this.refillPerSec > 0) || !(this.maxAddresses >= 1)) {
      throw new Error('AuthRateLimiter: burst >= 1, refillPerSec > 0 and maxAddresses >= 1 are required');
    }
  }

  /** Number of addresses currently tracked (for tests and a gauge). */
  get size(): number {
    return this.buckets.size;
  }

  /** True when `addr` has used up its failure budget. Never consumes a token. */
  isLimited(addr: string): boolean {
    const key = normalizeAddress(addr);
    const bucket = this.buckets.get(key);
    if (bucket === undefined) return false;
    this.refill(bucket);
    if (bucket.tokens >= this.burst) {
      this.buckets.delete(key);
      return false;
    }
    return bucket.tokens < 1;
  }

  /** Takes one token from `addr`'s bucket (never below zero). */
  recordFailure(addr: string): void {
    const key = normalizeAddress(addr);
    const existing = this.buckets.get(key);
    let bucket: Bucket;
    if (existing === undefined) {
      bucket = { tokens: this.burst, updatedAtMs: this.now() };
      this.makeRoom();
    } else {
      this.refill(existing);
      bucket = existing;
      this.buckets.delete(key); // re-insert below: most recent failure goes last
    }
    bucket.tokens = Math.max(0, bucket.tokens - 1);
    this.buckets.set(key, bucket);
  }

  /** Drops every fully refilled bucket. O(n); call from a timer if desired. */
  prune(): void {
    for (const [key, bucket] of this.buckets) {
      this.refill(bucket);
      if (bucket.tokens >= this.burst) this.buckets.delete(key);
    }
  }

  private makeRoom(): void {
    while (this.buckets.size >= this.maxAddresses) {
      const oldest = this.buckets.keys().next();
      if (oldest.done === true) return;
      this.buckets.delete(oldest.value);
    }
  }

  private refill(bucket: Bucket): void {
    const nowMs = this.now();
    const elapsedMs = Math.max(0, nowMs - bucket.updatedAtMs);
    bucket.tokens = Math.min(this.burst, bucket.tokens + (elapsedMs / 1000) * this.refillPerSec);
    bucket.updatedAtMs = Math.max(bucket.updatedAtMs, nowMs);
  }
}

/** `::ffff:10.0.0.1` and `10.0.0.1` are the same source. */
function normalizeAddress(addr: string): string {
  const lower = addr.toLowerCase();
  return lower.startsWith('::ffff:') && lower.includes('.') ? lower.slice(7) : lower;
}
