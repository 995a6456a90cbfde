import fc from 'fast-check';
import type { TargetStrategy } from '@nowconnect/ha-config';
import { dialOrder, type TargetView } from './target-strategy';

const strategies: TargetStrategy[] = ['failover', 'round_robin', 'least_flows'];
const view = fc.record({ up: fc.boolean(), active: fc.nat({ max: 50 }) });
const views = fc.array(view, { minLength: 1, maxLength: 12 });
const anyStrategy = fc.constantFrom(...strategies);

describe('dialOrder (property tests)', () => {
  it('is a permutation of the healthy targets while any is healthy, else of all targets', () => {
    fc.assert(
      fc.property(anyStrategy, views, fc.integer({ min: -5, max: 1000 }), (strategy, targets, cursor) => {
        const order = dialOrder(strategy, targets, cursor);
        const healthy = targets.map((t, i) => (t.up ? i : -1)).filter((i) => i >= 0);
        const expected = healthy.length > 0 ? healthy : targets.map((_, i) => i);
        expect([...order].sort((a, b) => a - b)).toEqual(expected);
        expect(new Set(order).size).toBe(order.length);
      }),
    );
  });

  it('never offers an unhealthy target first while a healthy one exists', () => {
    fc.assert(
      fc.property(anyStrategy, views, fc.nat(), (strategy, targets, cursor) => {
        const first = dialOrder(strategy, targets, cursor)[0]!;
        if (targets.some((t) => t.up)) expect(targets[first]!.up).toBe(true);
      }),
    );
  });

  it('failover: the first healthy target in configuration order, then the rest in order', () => {
    fc.assert(
      fc.property(views, fc.nat(), (targets, cursor) => {
        const order = dialOrder('failover', targets, cursor);
        expect(order).toEqual([...order].sort((a, b) => a - b));
        if (targets.some((t) => t.up)) expect(order[0]).toBe(targets.findIndex((t) => t.up));
      }),
    );
  });

  it('least_flows: the first target has the fewest active flows of the eligible ones, and the list is sorted by them', () => {
    fc.assert(
      fc.property(views, fc.nat(), (targets, cursor) => {
        const order = dialOrder('least_flows', targets, cursor);
        const actives = order.map((i) => targets[i]!.active);
        expect(actives).toEqual([...actives].sort((a, b) => a - b));
      }),
    );
  });

  it('round_robin: k rounds with the cursor advanced past each pick give every healthy target exactly k flows', () => {
    fc.assert(
      fc.property(views, fc.nat({ max: 20 }), fc.integer({ min: 1, max: 5 }), (targets, start, k) => {
        const healthy = targets.filter((t) => t.up).length || targets.length;
        const counts = new Map<number, number>();
        let cursor = start;
        for (let i = 0; i < k * healthy; i++) {
          const pick = dialOrder('round_robin', targets, cursor)[0]!;
          counts.set(pick, (counts.get(pick) ?? 0) + 1);
          cursor = (pick + 1) % targets.length;
        }
        expect(counts.size).toBe(healthy);
        for (const n of counts.values()) expect(n).toBe(k);
      }),
    );
  });

  it('least_flows with equal load spreads like round_robin (ties rotate)', () => {
    const targets: TargetView[] = [
      { up: true, active: 2 },
      { up: true, active: 2 },
      { up: false, active: 0 },
    ];
    expect(dialOrder('least_flows', targets, 0)).toEqual([0, 1]);
    expect(dialOrder('least_flows', targets, 1)).toEqual([1, 0]);
    expect(dialOrder('least_flows', [{ up: true, active: 5 }, { up: true, active: 1 }], 0)).toEqual([1, 0]);
  });

  it('no targets: nothing to dial', () => {
    for (const s of strategies) expect(dialOrder(s, [], 3)).toEqual([]);
  });
});
