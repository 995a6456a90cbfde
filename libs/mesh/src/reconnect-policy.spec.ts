import { BreakerState, ReconnectPolicy } from './reconnect-policy';

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('ReconnectPolicy: backoff', () => {
  it('doubles the ceiling per failure, capped at the max; full jitter scales it by random()', () => {
    const c = clock();
    const p = new ReconnectPolicy({ maxDelayMs: 30_000, baseDelayMs: 200, failureThreshold: 100, random: () => 0.999999, now: c.now });
    const delays = Array.from({ length: 10 }, () => p.recordFailure());
    expect(delays).toEqual([199, 399, 799, 1599, 3199, 6399, 12799, 25599, 29999, 29999]);
  });

  it('full jitter: random() = 0 gives 0, 0.5 gives half the ceiling', () => {
    const p0 = new ReconnectPolicy({ maxDelayMs: 1000, baseDelayMs: 100, random: () => 0 });
    expect(p0.recordFailure()).toBe(0);
    const half = new ReconnectPolicy({ maxDelayMs: 1000, baseDelayMs: 100, random: () => 0.5 });
    half.recordFailure();
    expect(half.recordFailure()).toBe(100);
  });

  it('never exceeds the cap for any random value and any number of failures', () => {
    for (const r of [0, 0.25, 0.5, 0.999999]) {
      const p = new ReconnectPolicy({ maxDelayMs: 5000, failureThreshold: 1000, random: () => r });
      for (let i = 0; i < 200; i++) {
        const d = p.recordFailure();
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(5000);
      }
    }
  });

  it('success resets the failure count', () => {
    const p = new ReconnectPolicy({ maxDelayMs: 30_000, random: () => 0.999999 });
    p.recordFailure();
    p.recordFailure();
    p.recordSuccess();
    expect(p.consecutiveFailures).toBe(0);
    expect(p.recordFailure()).toBe(199);
  });

  it('refuses nonsense options', () => {
    expect(() => new ReconnectPolicy({ maxDelayMs: 0 })).toThrow(RangeError);
    expect(() => new ReconnectPolicy({ maxDelayMs: 10, failureThreshold: 0 })).toThrow(RangeError);
  });
});

describe('ReconnectPolicy: circuit breaker', () => {
  it('opens after N consecutive failures for the cool-down, then allows exactly one half-open probe', () => {
    const c = clock();
    const p = new ReconnectPolicy({ maxDelayMs: 10_000, failureThreshold: 3, coolDownMs: 60_000, now: c.now, random: () => 0 });
    expect(p.tryAttempt()).toBe(true);
    p.recordFailure();
    p.recordFailure();
    expect(p.state).toBe(BreakerState.CLOSED);
    expect(p.recordFailure()).toBe(60_000); // third failure opens it; the delay is the cool-down
    expect(p.state).toBe(BreakerState.OPEN);
    expect(p.tryAttempt()).toBe(false);
    c.advance(59_999);
    expect(p.tryAttempt()).toBe(false);
    c.advance(1);
    expect(p.state).toBe(BreakerState.HALF_OPEN);
    expect(p.tryAttempt()).toBe(true); // the probe
    expect(p.tryAttempt()).toBe(false); // only one at a time
  });

  it('a failed probe re-opens for another cool-down; a successful probe closes', () => {
    const c = clock();
    const p = new ReconnectPolicy({ maxDelayMs: 1000, failureThreshold: 2, coolDownMs: 5000, now: c.now });
    p.recordFailure();
    p.recordFailure();
    c.advance(5000);
    expect(p.tryAttempt()).toBe(true);
    expect(p.recordFailure()).toBe(5000);
    expect(p.state).toBe(BreakerState.OPEN);
    expect(p.tryAttempt()).toBe(false);
    c.advance(5000);
    expect(p.tryAttempt()).toBe(true);
    p.recordSuccess();
    expect(p.state).toBe(BreakerState.CLOSED);
    expect(p.tryAttempt()).toBe(true);
    expect(p.tryAttempt()).toBe(true);
  });

  it('the cool-down defaults to the backoff cap', () => {
    const c = clock();
    const p = new ReconnectPolicy({ maxDelayMs: 30_000, failureThreshold: 1, now: c.now });
    expect(p.recordFailure()).toBe(30_000);
    c.advance(29_999);
    expect(p.state).toBe(BreakerState.OPEN);
    c.advance(1);
    expect(p.state).toBe(BreakerState.HALF_OPEN);
  });
});
