import { EventLog } from '@nowconnect/logging';
import { TokenRefresher, tokenExpiry } from './token-refresher';

const jwt = (claims: Record<string, unknown>): string =>
  `${Buffer.from('{"alg":"HS256"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

function quietLog(): EventLog {
  const log = new EventLog();
  jest.spyOn(log, 'info').mockImplementation(() => undefined);
  jest.spyOn(log, 'warn').mockImplementation(() => undefined);
  return log;
}

afterEach(() => {
  jest.useRealTimers();
});

describe('tokenExpiry', () => {
  it('reads exp (seconds) as epoch ms, without verifying', () => {
    expect(tokenExpiry(jwt({ exp: 1_700_000_000 }))).toBe(1_700_000_000_000);
  });

  it('is undefined for a token without a numeric exp or not a JWT', () => {
    expect(tokenExpiry(jwt({ sub: 'a' }))).toBeUndefined();
    expect(tokenExpiry(jwt({ exp: '1' }))).toBeUndefined();
    expect(tokenExpiry('not-a-jwt')).toBeUndefined();
    expect(tokenExpiry('a.%%%.c')).toBeUndefined();
  });
});

describe('TokenRefresher', () => {
  it('at 80 % of the lifetime sends a token with a later exp; while the file is unchanged it looks again, sends nothing', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const sent: string[] = [];
    let fileToken = jwt({ exp: 1_100 }); // the same exp as the tunnel's token: not fresher
    const r = new TokenRefresher(1_100_000, async () => fileToken, (t) => sent.push(t), quietLog(), 'ws://hub');
    r.start();
    await jest.advanceTimersByTimeAsync(80_000); // 80 % of 100 s
    expect(sent).toEqual([]);
    fileToken = jwt({ exp: 5_000 });
    await jest.advanceTimersByTimeAsync(5_000); // retried within a quarter of the remaining 20 s
    expect(sent).toEqual([fileToken]);
    r.stop();
    expect(jest.getTimerCount()).toBe(0);
  });

  it('keeps trying when the token file cannot be read, and never runs without an exp', async () => {
    jest.useFakeTimers({ now: 0 });
    const sent: string[] = [];
    let fail = true;
    const fresh = jwt({ exp: 1_000 });
    const r = new TokenRefresher(10_000, async () => {
      if (fail) throw new Error('ENOENT');
      return fresh;
    }, (t) => sent.push(t), quietLog(), 'ws://hub');
    r.start();
    await jest.advanceTimersByTimeAsync(8_000);
    expect(sent).toEqual([]);
    fail = false;
    await jest.advanceTimersByTimeAsync(1_000);
    expect(sent).toEqual([fresh]);
    r.stop();
    const none = new TokenRefresher(undefined, async () => fresh, (t) => sent.push(t), quietLog(), 'ws://hub');
    none.start();
    expect(jest.getTimerCount()).toBe(0);
  });
});
