import { IDLE_AFTER_MS, ReceiveWindow, RTT_MAX_AGE_MS, RttEstimator, RttSource } from './receive-window';
import { WindowBudget } from './window-budget';

const KiB = 1024;
const MiB = 1024 * KiB;

/** A fixed round trip (ms), as the tunnel's estimator would report it. */
const fixedRtt = (ms: number | undefined): RttSource => ({ rttMs: () => ms });

class FakeClock {
  now = 1000;
  readonly read = (): number => this.now;
}

describe('ReceiveWindow: growth from round trip and drain rate', () => {
  function make(rttMs: number | undefined, opts: { initial?: number; max?: number; budget?: WindowBudget } = {}) {
    const clock = new FakeClock();
    const budget = opts.budget ?? new WindowBudget(64 * MiB);
    const w = new ReceiveWindow(opts.initial ?? 256 * KiB, opts.max ?? 16 * MiB, budget, fixedRtt(rttMs), clock.read);
    return { w, clock, budget };
  }

  /** An evenly paced, window-limited flow: one window per round trip, so half a window every RTT/2. */
  function pacedGrants(w: ReceiveWindow, clock: FakeClock, rttMs: number, grants: number): number[] {
    const sizes: number[] = [];
    for (let i = 0; i < grants; i++) {
      clock.now += rttMs / 2;
      w.grant(w.size / 2);
      sizes.push(w.size);
    }
    return sizes;
  }

  it.each([50, 100])('an evenly paced window-limited flow at RTT %i ms doubles its window at every grant (no fixed 20 ms test)', (rtt) => {
    const { w, clock } = make(rtt);
    // Half a window every 25 ms (50 ms RTT) is what GROW_WITHIN_MS = 20 never counted as fast.
    expect(pacedGrants(w, clock, rtt, 6)).toEqual([512, 1024, 2048, 4096, 8192, 16384].map((k) => k * KiB));
  });

  it('stops growing at about twice the bandwidth-delay product of the rate the flow drains', () => {
    const { w, clock } = make(50);
    // The link delivers 20 MB/s (20 bytes/us); the receiver drains as it arrives: BDP at 50 ms = 1 MB.
    const rate = 20_000; // bytes per ms
    for (let i = 0; i < 40; i++) {
      const half = w.size / 2;
      // A window-limited flow gets a window per RTT; once the window exceeds the BDP, the link's rate limits.
      const perMs = Math.min(rate, w.size / 50);
      clock.now += half / perMs;
      w.grant(half);
    }
    const bdp = rate * 50;
    expect(w.size).toBeGreaterThanOrEqual(bdp);
    expect(w.size).toBeLessThanOrEqual(4 * bdp);
  });

  it('does not grow a flow whose reader drains slower than the window allows', () => {
    const { w, clock } = make(50);
    // Half a window per full round trip: the reader, not the window, is the limit (need = W).
    for (let i = 0; i < 10; i++) {
      clock.now += 50;
      expect(w.grant(w.size / 2)).toBe(128 * KiB);
    }
    expect(w.size).toBe(256 * KiB);
  });

  it('never grows before the first round-trip sample, nor without a budget', () => {
    const a = make(undefined);
    expect(pacedGrants(a.w, a.clock, 50, 4)).toEqual([256, 256, 256, 256].map((k) => k * KiB));
    const clock = new FakeClock();
    const w = new ReceiveWindow(256 * KiB, 16 * MiB, undefined, fixedRtt(50), clock.read);
    expect(pacedGrants(w, clock, 50, 4)).toEqual([256, 256, 256, 256].map((k) => k * KiB));
  });

  it('never exceeds its ceiling', () => {
    const { w, clock, budget } = make(100, { max: 1 * MiB });
    expect(pacedGrants(w, clock, 100, 8).at(-1)).toBe(1 * MiB);
    expect(budget.inUse).toBe(1 * MiB - 256 * KiB);
  });

  it('grows within the tunnel budget, which takes from the process budget', () => {
    const processBudget = new WindowBudget(1 * MiB);
    const tunnelA = new WindowBudget(64 * MiB, processBudget);
    const tunnelB = new WindowBudget(64 * MiB, processBudget);
    const a = make(50, { budget: tunnelA });
    const b = make(50, { budget: tunnelB });
    pacedGrants(a.w, a.clock, 50, 2); // 256 KiB -> 1 MiB: 768 KiB of growth
    pacedGrants(b.w, b.clock, 50, 2); // only 256 KiB left in the process
    expect(a.w.size).toBe(1 * MiB);
    expect(b.w.size).toBe(512 * KiB);
    expect(processBudget.inUse).toBe(1 * MiB);
    a.w.release();
    expect(processBudget.inUse).toBe(256 * KiB);
    expect(tunnelA.inUse).toBe(0);
    b.w.release();
    expect(processBudget.inUse).toBe(0);
  });

  it('gives growth back, halving at a time, once the flow stayed slow for three grants; credit is never negative', () => {
    const { w, clock, budget } = make(50);
    pacedGrants(w, clock, 50, 4); // 4 MiB
    expect(w.size).toBe(4 * MiB);
    clock.now += 5000; // one slow half window (a scheduling hiccup, a short pause of the reader): costs nothing
    expect(w.grant(2 * MiB)).toBe(2 * MiB);
    expect(w.size).toBe(4 * MiB);
    pacedGrants(w, clock, 50, 1); // bulk again: the streak is broken (and the window grows)
    expect(w.size).toBe(8 * MiB);
    for (let i = 0; i < 2; i++) {
      clock.now += 5000; // the flow idles or slows down for good
      expect(w.grant(4 * MiB)).toBe(4 * MiB);
    }
    expect(w.size).toBe(8 * MiB);
    clock.now += 5000;
    expect(w.grant(4 * MiB)).toBe(0); // the third slow grant in a row: 4 MiB consumed, 4 MiB of growth given back
    expect(w.size).toBe(4 * MiB);
    for (let i = 0; i < 10; i++) {
      clock.now += 5000;
      expect(w.grant(w.size / 2)).toBeGreaterThanOrEqual(0);
    }
    expect(w.size).toBe(256 * KiB);
    expect(budget.inUse).toBe(0);
  });

  it('gives an idle window\'s growth back at a sweep, with no grant, but never credit the peer holds', () => {
    const { w, clock, budget } = make(50);
    pacedGrants(w, clock, 50, 5); // 8 MiB
    expect(w.size).toBe(8 * MiB);
    expect(w.shrinkIdle(3 * MiB)).toBe(0); // just granted: not idle
    clock.now += IDLE_AFTER_MS - 1;
    expect(w.shrinkIdle(3 * MiB)).toBe(0);
    clock.now += 1;
    // Idle for IDLE_AFTER_MS (> 8 RTT): the 3 MiB consumed since the last grant are withheld for good.
    expect(w.shrinkIdle(3 * MiB)).toBe(3 * MiB);
    expect(w.size).toBe(5 * MiB);
    expect(budget.inUse).toBe(5 * MiB - 256 * KiB);
    expect(w.shrinkIdle(0)).toBe(0); // nothing more consumed: what the peer still holds stays counted
    // The peer uses its credit slowly: each sweep withholds what was consumed, down to the initial window.
    expect(w.shrinkIdle(4 * MiB)).toBe(4 * MiB);
    expect(w.shrinkIdle(1 * MiB)).toBe(1 * MiB - 256 * KiB);
    expect(w.size).toBe(256 * KiB);
    expect(budget.inUse).toBe(0);
    expect(w.shrinkIdle(1 * MiB)).toBe(0); // never below the initial window
  });

  it('waits 8 round trips before calling a long-RTT window idle', () => {
    const clock = new FakeClock();
    const w = new ReceiveWindow(256 * KiB, 16 * MiB, new WindowBudget(64 * MiB), { rttMs: () => 300, lastMs: 300 }, clock.read);
    for (let i = 0; i < 3; i++) {
      clock.now += 150;
      w.grant(w.size / 2);
    }
    expect(w.size).toBe(2 * MiB);
    clock.now += 2399;
    expect(w.shrinkIdle(512 * KiB)).toBe(0);
    clock.now += 1;
    expect(w.shrinkIdle(512 * KiB)).toBe(512 * KiB);
  });

  it('keeps a steady window when the flow runs at what its window needs', () => {
    const { w, clock } = make(50);
    pacedGrants(w, clock, 50, 3); // 2 MiB
    // The link now caps the flow at 1 MiB per 50 ms: half a window (1 MiB) every 50 ms -> need = 2 MiB.
    for (let i = 0; i < 10; i++) {
      clock.now += 50;
      w.grant(w.size / 2);
    }
    expect(w.size).toBe(2 * MiB);
  });
});

/**
 * A deterministic event simulation of one bulk flow across a link with a one-way delay
 * and a bottleneck rate: the sender sends all its credit, the receiver drains at once and
 * grants back past half a window, the grant takes a one-way delay to reach the sender.
 */
function simulate(rttMs: number, rateBytesPerMs: number, durationMs: number): { perSecond: number[]; window: number } {
  const clock = new FakeClock();
  clock.now = 0;
  const w = new ReceiveWindow(256 * KiB, 16 * MiB, new WindowBudget(64 * MiB), fixedRtt(rttMs), clock.read);
  const oneWay = rttMs / 2;
  type Ev = { at: number; kind: 'data' | 'credit'; n: number };
  const events: Ev[] = [];
  const push = (e: Ev): void => {
    let i = events.length;
    while (i > 0 && (events[i - 1] as Ev).at > e.at) i--;
    events.splice(i, 0, e);
  };
  let credit = w.size;
  let linkFreeAt = 0;
  let consumed = 0;
  const perSecond = new Array<number>(Math.ceil(durationMs / 1000)).fill(0);
  const send = (now: number): void => {
    const chunk = 64 * KiB;
    while (credit > 0) {
      const n = Math.min(chunk, credit);
      credit -= n;
      linkFreeAt = Math.max(linkFreeAt, now) + n / rateBytesPerMs;
      push({ at: linkFreeAt + oneWay, kind: 'data', n });
    }
  };
  send(0);
  for (let steps = 0; steps < 1_000_000 && events.length > 0; steps++) {
    const e = events.shift() as Ev;
    if (e.at >= durationMs) break;
    clock.now = e.at;
    if (e.kind === 'credit') {
      credit += e.n;
      send(e.at);
      continue;
    }
    const sec = Math.floor(e.at / 1000);
    perSecond[sec] = (perSecond[sec] ?? 0) + e.n;
    consumed += e.n;
    if (consumed >= w.size / 2) {
      const inc = w.grant(consumed);
      consumed = 0;
      if (inc > 0) push({ at: e.at + oneWay, kind: 'credit', n: inc });
    }
  }
  return { perSecond, window: w.size };
}

describe('ReceiveWindow in a simulated WAN flow', () => {
  it.each([
    [10, 60_000, 0.95],
    [50, 60_000, 0.95],
    [100, 60_000, 0.95],
    // 250 MB/s x 50 ms = 12.5 MB in flight: the 16 MiB ceiling (1.3 BDP; half a window waits for its grant) caps it.
    [50, 250_000, 0.75],
  ])('RTT %i ms, link %i bytes/ms: grown within the first second (>= 0.4x the link in it), every later second >= %d x', (rtt, rate, later) => {
    const { perSecond, window } = simulate(rtt, rate, 3000);
    const linkPerSecond = rate * 1000;
    expect((perSecond[0] as number) / linkPerSecond).toBeGreaterThanOrEqual(0.4);
    expect((perSecond[1] as number) / linkPerSecond).toBeGreaterThanOrEqual(later);
    expect((perSecond[2] as number) / linkPerSecond).toBeGreaterThanOrEqual(later);
    // The window covers the bandwidth-delay product (with the doubling's overshoot), within the ceiling.
    expect(window).toBeGreaterThanOrEqual(Math.min(rate * rtt, 16 * MiB));
    expect(window).toBeLessThanOrEqual(16 * MiB);
  });
});

describe('RttEstimator', () => {
  it('probes when the last sample is stale, once at a time, and smooths samples', () => {
    const clock = new FakeClock();
    let probes = 0;
    const r = new RttEstimator(() => probes++, clock.read);
    expect(r.rttMs()).toBeUndefined();
    expect(probes).toBe(1);
    expect(r.rttMs()).toBeUndefined();
    expect(probes).toBe(1); // one outstanding
    r.sample(40);
    expect(r.rttMs()).toBe(40);
    expect(probes).toBe(1); // fresh
    clock.now += RTT_MAX_AGE_MS;
    expect(r.rttMs()).toBe(40);
    expect(probes).toBe(2); // stale: a new probe
    r.sample(80);
    expect(r.rttMs()).toBe(50); // 40 + (80 - 40) / 4
  });

  it('gives up on an unanswered probe after a while and sends another', () => {
    const clock = new FakeClock();
    let probes = 0;
    const r = new RttEstimator(() => probes++, clock.read);
    r.rttMs();
    clock.now += 9_999;
    r.rttMs();
    expect(probes).toBe(1);
    clock.now += 1;
    r.rttMs();
    expect(probes).toBe(2);
  });
});
