import { AuthRateLimiter } from './auth-rate-limiter';

function fakeClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000_000;
  return { now: () => t, advance: (ms) => { t += ms; } };
}

function fail(limiter: AuthRateLimiter, addr: string, times: number): void {
  for (let i = 0; i < times; i++) limiter.recordFailure(addr);
}

describe('AuthRateLimiter', () => {
  it('defaults to burst 20, refill 5/s, 10,000 addresses', () => {
    const limiter = new AuthRateLimiter();
    expect([limiter.burst, limiter.refillPerSec, limiter.maxAddresses]).toEqual([20, 5, 10_000]);
  });

  it('allows a burst of failures, then limits', () => {
    const clock = fakeClock();
    const limiter = new AuthRateLimiter({ now: clock.now });
    fail(limiter, '10.0.0.1', 19);
    expect(limiter.isLimited('10.0.0.1')).toBe(false);
    limiter.recordFailure('10.0.0.1');
    expect(limiter.isLimited('10.0.0.1')).toBe(true);
    expect(limiter.isLimited('10.0.0.2')).toBe(false); // per address
  });

  it('refills at refillPerSec and stops limiting', () => {
    const clock = fakeClock();
    const limiter = new AuthRateLimiter({ burst: 20, refillPerSec: 5, now: clock.now });
    fail(limiter, 'a', 25); // floor at zero tokens
    expect(limiter.isLimited('a')).toBe(true);
    clock.advance(100); // 0.5 token
    expect(limiter.isLimited('a')).toBe(true);
    clock.advance(100); // 1 token
    expect(limiter.isLimited('a')).toBe(false);
    limiter.recordFailure('a');
    expect(limiter.isLimited('a')).toBe(true);
  });

  it('checking never consumes tokens', () => {
    const clock = fakeClock();
    const limiter = new AuthRateLimiter({ burst: 2, now: clock.now });
    limiter.recordFailure('a');
    for (let i = 0; i < 100; i++) expect(limiter.isLimited('a')).toBe(false);
    limiter.recordFailure('a');
    expect(limiter.isLimited('a')).toBe(true);
  });

  it('drops a bucket once fully refilled', () => {
    const clock = fakeClock();
    const limiter = new AuthRateLimiter({ burst: 20, refillPerSec: 5, now: clock.now });
    fail(limiter, 'a', 20);
    fail(limiter, 'b', 1);
    expect(limiter.size).toBe(2);
    clock.advance(4_000); // 20 tokens: both full
    expect(limiter.isLimited('a')).toBe(false);
    expect(limiter.size).toBe(1);
    limiter.prune();
    expect(limiter.size).toBe(0);
  });

  it('prune keeps buckets that are still refilling', () => {
    const clock = fakeClock();
    const limiter = new AuthRateLimiter({ now: clock.now });
    fail(limiter, 'a', 20);
    fail(limiter, 'b', 1);
    clock.advance(1_000);
    limiter.prune();
    expect(limiter.size).toBe(1);
    expect(limiter.isLimited('a')).toBe(false);
  });

  it('caps memory by evicting the address with the oldest failure', () => {
    const clock = fakeClock();
    const limiter = new AuthRateLimiter({ burst: 1, maxAddresses: 3, now: clock.now });
    limiter.recordFailure('a');
    limiter.recordFailure('b');
    limiter.recordFailure('c');
    limiter.recordFailure('a'); // a is now the most recent
    limiter.recordFailure('d'); // evicts b
    expect(limiter.size).toBe(3);
    expect(limiter.isLimited('a')).toBe(true);
    expect(limiter.isLimited('b')).toBe(false);
    expect(limiter.isLimited('c')).toBe(true);
    expect(limiter.isLimited('d')).toBe(true);
    for (let i = 0; i < 1_000; i++) limiter.recordFailure(`x${i}`);
    expect(limiter.size).toBe(3);
  });

  it('treats an IPv4-mapped IPv6 address as the IPv4 address', () => {
    const limiter = new AuthRateLimiter({ burst: 1, now: fakeClock().now });
    limiter.recordFailure('::ffff:192.0.2.7');
    expect(limiter.isLimited('192.0.2.7')).toBe(true);
  });

  it('tolerates a clock going backwards', () => {
    const clock = fakeClock();
    const limiter = new AuthRateLimiter({ burst: 1, now: clock.now });
    limiter.recordFailure('a');
    clock.advance(-10_000);
    expect(limiter.isLimited('a')).toBe(true);
  });

  it('rejects nonsensical parameters', () => {
    expect(() => new AuthRateLimiter({ burst: 0 })).toThrow();
    expect(() => new AuthRateLimiter({ refillPerSec: 0 })).toThrow();
    expect(() => new AuthRateLimiter({ maxAddresses: 0 })).toThrow();
  });
});
