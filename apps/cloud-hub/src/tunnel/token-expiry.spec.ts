import { TokenExpiry } from './token-expiry';

afterEach(() => {
  jest.useRealTimers();
});

describe('TokenExpiry', () => {
  it('fires once, after exp + skew', () => {
    jest.useFakeTimers({ now: 0 });
    const fired: number[] = [];
    new TokenExpiry(10_000, 1_000, (exp) => fired.push(exp));
    jest.advanceTimersByTime(10_999);
    expect(fired).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(fired).toEqual([10_000]);
    jest.advanceTimersByTime(100_000);
    expect(fired).toEqual([10_000]);
  });

  it('extend moves the deadline to the later exp (an earlier one is ignored); stop cancels', () => {
    jest.useFakeTimers({ now: 0 });
    const fired: number[] = [];
    const e = new TokenExpiry(10_000, 1_000, (exp) => fired.push(exp));
    jest.advanceTimersByTime(9_000);
    e.extend(60_000);
    e.extend(20_000);
    expect(e.exp).toBe(60_000);
    jest.advanceTimersByTime(30_000);
    expect(fired).toEqual([]);
    jest.advanceTimersByTime(22_000);
    expect(fired).toEqual([60_000]);
    const stopped = new TokenExpiry(70_000, 0, (exp) => fired.push(exp));
    stopped.stop();
    jest.advanceTimersByTime(100_000);
    expect(fired).toEqual([60_000]);
  });

  it('an exp beyond one timer (~24.8 days) takes several and fires on time', () => {
    jest.useFakeTimers({ now: 0 });
    const fired: number[] = [];
    const exp = 60 * 86_400_000;
    new TokenExpiry(exp, 0, (e) => fired.push(e));
    jest.advanceTimersByTime(exp - 1);
    expect(fired).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(fired).toEqual([exp]);
  });

  it('an already expired token fires at once', () => {
    jest.useFakeTimers({ now: 100_000 });
    const fired: number[] = [];
    new TokenExpiry(10_000, 1_000, (e) => fired.push(e));
    jest.advanceTimersByTime(0);
    expect(fired).toEqual([10_000]);
  });
});
