import { permanentRefusal, permanentRefusalDelay, PERMANENT_REFUSAL_DELAY_MS } from './backoff';
import { Backoff } from './backoff';
import { UrlRotation } from './url-rotation';

describe('Backoff (exponential, full jitter)', () => {
  it('grows the ceiling 250, 500, 1000, ... and caps it at 30 s by default', () => {
    const b = new Backoff({ random: () => 0.999999 });
    const delays = Array.from({ length: 12 }, () => b.next());
    expect(delays.slice(0, 4)).toEqual([249, 499, 999, 1999]);
    expect(delays.every((d) => d >= 0 && d < 30_000)).toBe(true);
    expect(delays.slice(-3)).toEqual([29_999, 29_999, 29_999]);
  });

  it('stays within [0, ceiling) for any random value and never exceeds the cap after many attempts', () => {
    const zero = new Backoff({ random: () => 0 });
    expect(zero.next()).toBe(0);
    const half = new Backoff({ random: () => 0.5, capMs: 4_000 });
    expect(Array.from({ length: 6 }, () => half.next())).toEqual([125, 250, 500, 1000, 2000, 2000]);
    const many = new Backoff({ random: () => 1 });
    for (let i = 0; i < 5_000; i += 1) expect(many.next()).toBeLessThanOrEqual(30_000);
  });

  it('reset() goes back to the first ceiling', () => {
    const b = new Backoff({ random: () => 0.5, baseMs: 100, factor: 3, capMs: 10_000 });
    expect([b.next(), b.next(), b.next()]).toEqual([50, 150, 450]);
    b.reset();
    expect(b.next()).toBe(50);
  });

  it('rejects nonsense options', () => {
    expect(() => new Backoff({ baseMs: 0 })).toThrow(RangeError);
    expect(() => new Backoff({ factor: 0.5 })).toThrow(RangeError);
    expect(() => new Backoff({ baseMs: 1000, capMs: 10 })).toThrow(RangeError);
  });
});

describe('UrlRotation', () => {
  it('walks the fail-over list and wraps around', () => {
    const r = new UrlRotation(['wss://a/t', 'wss://b/t', 'wss://c/t']);
    expect(r.current()).toBe('wss://a/t');
    expect([r.advance(), r.advance(), r.advance(), r.advance()]).toEqual(['wss://b/t', 'wss://c/t', 'wss://a/t', 'wss://b/t']);
    expect(r.current()).toBe('wss://b/t');
    r.reset();
    expect(r.current()).toBe('wss://a/t');
  });

  it('stays on a single URL and refuses an empty list', () => {
    const r = new UrlRotation(['ws://only/t']);
    expect(r.advance()).toBe('ws://only/t');
    expect(r.size).toBe(1);
    expect(() => new UrlRotation([])).toThrow(RangeError);
  });
});

describe('permanent hello refusals', () => {
  it('scope and agent_mismatch (close 1008) are permanent; other refusals and codes are not', () => {
    expect(permanentRefusal(1008, "hello refused: scope: pg not in the token's scope (allowed: addomain)")).toBe('scope');
    expect(permanentRefusal(1008, 'hello refused: agent_mismatch')).toBe('agent_mismatch');
    expect(permanentRefusal(1008, 'hello refused: hello_timeout')).toBeUndefined();
    expect(permanentRefusal(1001, 'hello refused: scope')).toBeUndefined();
    expect(permanentRefusal(1008, 'not authorised')).toBeUndefined();
  });

  it('waits between half and all of PERMANENT_REFUSAL_DELAY_MS', () => {
    expect(permanentRefusalDelay(() => 0)).toBe(PERMANENT_REFUSAL_DELAY_MS / 2);
    expect(permanentRefusalDelay(() => 0.999999)).toBeLessThan(PERMANENT_REFUSAL_DELAY_MS);
  });
});
