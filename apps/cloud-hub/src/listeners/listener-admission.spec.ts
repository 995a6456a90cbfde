import fc from 'fast-check';
import { ListenerAdmission, RateLimitedLog, TokenBucket } from './listener-admission';

const limits = (l: { maxActiveFlows?: number; maxFlowsPerClientIp?: number; maxNewFlowsPerSec?: number }) => ({
  maxActiveFlows: l.maxActiveFlows,
  maxFlowsPerClientIp: l.maxFlowsPerClientIp ?? 0,
  maxNewFlowsPerSec: l.maxNewFlowsPerSec,
});

describe('ListenerAdmission', () => {
  it('without limits admits everything', () => {
    const a = new ListenerAdmission(limits({}));
    expect(a.limited).toBe(false);
    for (let i = 0; i < 1000; i++) expect(a.admit('10.0.0.1')).toBeUndefined();
  });

  it('max_active_flows: exactly N at once; a release makes room for one more', () => {
    const a = new ListenerAdmission(limits({ maxActiveFlows: 3 }));
    expect([a.admit('a'), a.admit('b'), a.admit('c'), a.admit('d')]).toEqual([undefined, undefined, undefined, 'limit_active']);
    a.release('b');
    expect([a.admit('e'), a.admit('f')]).toEqual([undefined, 'limit_active']);
  });

  it('max_flows_per_client_ip: N per address, other addresses unaffected', () => {
    const a = new ListenerAdmission(limits({ maxFlowsPerClientIp: 2 }));
    expect([a.admit('x'), a.admit('x'), a.admit('x'), a.admit('y')]).toEqual([undefined, undefined, 'limit_client_ip', undefined]);
    a.release('x');
    expect(a.admit('x')).toBeUndefined();
    a.release('x');
    a.release('x');
    a.release('y');
    expect(a.clientAddresses).toBe(0);
    expect(a.activeFlows).toBe(0);
  });

  it('max_new_flows_per_sec: a burst of N, then one more per 1/N s', () => {
    let now = 0;
    const a = new ListenerAdmission(limits({ maxNewFlowsPerSec: 5 }), () => now);
    const first = Array.from({ length: 6 }, (_, i) => a.admit(`c${i}`));
    expect(first).toEqual([undefined, undefined, undefined, undefined, undefined, 'limit_rate']);
    now += 199;
    expect(a.admit('z')).toBe('limit_rate');
    now += 1;
    expect(a.admit('z')).toBeUndefined();
  });

  it('a refused client takes no place (active and per-address counts unchanged)', () => {
    const a = new ListenerAdmission(limits({ maxActiveFlows: 1, maxFlowsPerClientIp: 1 }));
    a.admit('x');
    expect(a.admit('x')).toBe('limit_active');
    expect(a.activeFlows).toBe(1);
    a.release('x');
    expect(a.admit('y')).toBeUndefined();
  });

  it('TokenBucket never admits more than burst + rate * elapsed (fast-check)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.array(fc.nat({ max: 400 }), { maxLength: 200 }), (rate, gaps) => {
        let now = 0;
        const b = new TokenBucket(rate, rate, () => now);
        let taken = 0;
        for (const g of gaps) {
          now += g;
          if (b.take()) taken++;
          expect(taken).toBeLessThanOrEqual(rate + (rate * now) / 1000 + 1e-9);
        }
      }),
    );
  });
});

describe('RateLimitedLog', () => {
  it('writes one line per key a second and reports how many it left out', () => {
    let now = 0;
    const log = new RateLimitedLog(1000, () => now);
    const lines: Array<[string, number]> = [];
    for (let i = 0; i < 5; i++) log.maybe('l1:limit_rate', (n) => lines.push(['l1', n]));
    log.maybe('l2:limit_rate', (n) => lines.push(['l2', n]));
    now = 1000;
    log.maybe('l1:limit_rate', (n) => lines.push(['l1', n]));
    expect(lines).toEqual([
      ['l1', 0],
      ['l2', 0],
      ['l1', 4],
    ]);
  });
});
