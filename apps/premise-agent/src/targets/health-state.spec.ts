import fc from 'fast-check';
import { HealthState } from './health-state';

describe('HealthState (fall / rise)', () => {
  it('turns down after exactly `fall` failures in a row and up after exactly `rise` passes', () => {
    const h = new HealthState(3, 2);
    expect(h.up).toBe(true);
    expect([h.observe(false, 'refused'), h.observe(false, 'refused')]).toEqual([false, false]);
    expect(h.observe(false, 'timeout')).toBe(true);
    expect(h.up).toBe(false);
    expect(h.lastFailure).toBe('timeout');
    expect(h.observe(true)).toBe(false);
    expect(h.observe(true)).toBe(true);
    expect(h.up).toBe(true);
  });

  it('one opposite result resets the run', () => {
    const h = new HealthState(2, 2);
    h.observe(false);
    h.observe(true);
    expect(h.observe(false)).toBe(false);
    expect(h.up).toBe(true);
  });

  it('agrees with a plain simulation on any sequence, and flips only after a full run (fast-check)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.array(fc.boolean(), { maxLength: 60 }), (fall, rise, seq) => {
        const h = new HealthState(fall, rise);
        let sim = true;
        let run = 0;
        for (const ok of seq) {
          const before = h.up;
          const changed = h.observe(ok);
          if (ok === sim) run = 0;
          else if (++run >= (sim ? fall : rise)) {
            sim = ok;
            run = 0;
          }
          expect(h.up).toBe(sim);
          expect(changed).toBe(before !== h.up);
        }
      }),
    );
  });
});
