import { DuplicateRetry, HelloGate, LinkSet, ProbeDelay, RedialCounts } from './link-set';

const A = 'ws://a/tunnel';
const B = 'ws://b/tunnel';

describe('LinkSet', () => {
  it('one URL, no HELLO_ACK yet or an HA-off hub (replicas 1): one link wanted, whatever `links` says', () => {
    const set = new LinkSet(2, [A]);
    expect(set.wanted()).toBe(1);
    set.add(0, { replicaId: 'hub-a', url: A, replicas: 1 });
    expect(set.wanted()).toBe(1);
  });

  it('wants no more links than the hubs say are alive, nor more than `links`', () => {
    const set = new LinkSet(2, [A]);
    set.add(0, { replicaId: 'hub-a', url: A, replicas: 3 });
    expect(set.wanted()).toBe(2);
    const one = new LinkSet(1, [A]);
    one.add(0, { replicaId: 'hub-a', url: A, replicas: 3 });
    expect(one.wanted()).toBe(1);
    const four = new LinkSet(4, [A]);
    four.add(0, { replicaId: 'hub-a', url: A, replicas: 3 });
    expect(four.wanted()).toBe(3);
  });

  it('several cloud URLs: one link per URL is worth trying even when each hub says 1', () => {
    const set = new LinkSet(2, [A, B]);
    expect(set.wanted()).toBe(2);
    expect(new LinkSet(1, [A, B]).wanted()).toBe(1);
    expect(new LinkSet(8, [A, B]).wanted()).toBe(2);
  });

  it('the wanted count falls back when the link that reported the replicas goes', () => {
    const set = new LinkSet(2, [A]);
    set.add(0, { replicaId: 'hub-a', url: A, replicas: 2 });
    set.add(1, { replicaId: 'hub-b', url: A, replicas: 2 });
    set.remove(0);
    expect(set.wanted()).toBe(2);
    set.remove(1);
    expect(set.wanted()).toBe(1);
  });

  it('never records two links to one replica', () => {
    const set = new LinkSet(2, [A]);
    expect(set.add(0, { replicaId: 'hub-a', url: A, replicas: 2 })).toBe(true);
    expect(set.add(1, { replicaId: 'hub-a', url: A, replicas: 2 })).toBe(false);
    expect(set.size).toBe(1);
    expect(set.isHeldElsewhere(1, 'hub-a')).toBe(true);
    expect(set.isHeldElsewhere(0, 'hub-a')).toBe(false);
    // the same slot re-adding (after a re-dial) is fine
    expect(set.add(0, { replicaId: 'hub-a', url: A, replicas: 2 })).toBe(true);
  });

  it('held_replicas for a HELLO: the other slots\' replicas, not the dialling slot\'s own', () => {
    const set = new LinkSet(3, [A]);
    set.add(0, { replicaId: 'hub-a', url: A, replicas: 3 });
    set.add(2, { replicaId: 'hub-c', url: A, replicas: 3 });
    expect(set.heldReplicas(1)).toEqual(['hub-a', 'hub-c']);
    expect(set.heldReplicas(0)).toEqual(['hub-c']);
    expect(set.heldReplicas()).toEqual(['hub-a', 'hub-c']);
  });

  it('pickUrl spreads over the URLs: a URL another link uses is skipped while a free one exists', () => {
    const set = new LinkSet(2, [A, B]);
    expect(set.pickUrl(0, 0)).toEqual({ url: A, index: 0 });
    set.add(0, { replicaId: 'hub-a', url: A, replicas: 1 });
    expect(set.pickUrl(1, 0)).toEqual({ url: B, index: 1 });
    expect(set.pickUrl(1, 1)).toEqual({ url: B, index: 1 });
    set.add(1, { replicaId: 'hub-b', url: B, replicas: 1 });
    // every URL used by another slot: stay on the cursor (through a load balancer that is fine)
    expect(set.pickUrl(0, 1)).toEqual({ url: A, index: 0 });
    expect(new LinkSet(2, [A]).pickUrl(1, 0)).toEqual({ url: A, index: 0 });
  });

  it('tells listeners when the held set changes', () => {
    const set = new LinkSet(2, [A]);
    let n = 0;
    const off = set.onChange(() => n++);
    set.add(0, { replicaId: 'hub-a', url: A, replicas: 2 });
    set.remove(0);
    set.remove(0); // nothing held: no change
    off();
    set.add(0, { replicaId: 'hub-a', url: A, replicas: 2 });
    expect(n).toBe(2);
  });

  it('probes for an uncounted replica only next to an HA hub, one slot at a time, within `links`', () => {
    const off = new LinkSet(2, [A]);
    off.add(0, { replicaId: 'hub-a', url: A, replicas: 1 });
    expect(off.shouldProbe(1)).toBe(false); // HA-off hub: its count is exact, never probe
    const ha = new LinkSet(3, [A]);
    expect(ha.shouldProbe(1)).toBe(false); // nothing held yet
    ha.add(0, { replicaId: 'hub-a', url: A, replicas: 1, ha: true });
    expect(ha.shouldProbe(1)).toBe(true);
    expect(ha.shouldProbe(2)).toBe(false); // only the next slot past wanted()
    ha.add(1, { replicaId: 'hub-b', url: A, replicas: 2, ha: true });
    expect(ha.shouldProbe(2)).toBe(true);
    ha.add(2, { replicaId: 'hub-c', url: A, replicas: 3, ha: true });
    expect(ha.shouldProbe(3)).toBe(false); // links reached
    const one = new LinkSet(1, [A]);
    one.add(0, { replicaId: 'hub-a', url: A, replicas: 1, ha: true });
    expect(one.shouldProbe(1)).toBe(false);
  });

  it('refuses nonsense', () => {
    expect(() => new LinkSet(0, [A])).toThrow(RangeError);
    expect(() => new LinkSet(2, [])).toThrow(RangeError);
  });
});

describe('HelloGate', () => {
  it('lets one HELLO through at a time, in order', async () => {
    const gate = new HelloGate();
    const order: string[] = [];
    const r1 = await gate.acquire();
    const p2 = gate.acquire().then((r) => {
      order.push('2');
      return r;
    });
    const p3 = gate.acquire().then((r) => {
      order.push('3');
      return r;
    });
    await Promise.resolve();
    expect(order).toEqual([]);
    r1();
    r1(); // releasing twice is harmless
    const r2 = await p2;
    expect(order).toEqual(['2']);
    r2();
    (await p3)();
    expect(order).toEqual(['2', '3']);
  });
});

describe('DuplicateRetry', () => {
  it('bounded fast re-dials with a growing delay, then slow ones; reset after a link comes up', () => {
    const retry = new DuplicateRetry(3, 100, 2000, 30_000, () => 1);
    expect([retry.next(), retry.next(), retry.next()]).toEqual([
      { delayMs: 100, slow: false },
      { delayMs: 200, slow: false },
      { delayMs: 400, slow: false },
    ]);
    expect(retry.next()).toEqual({ delayMs: 30_000, slow: true });
    expect(retry.next()).toEqual({ delayMs: 30_000, slow: true });
    retry.reset();
    expect(retry.next()).toEqual({ delayMs: 100, slow: false });
    const low = new DuplicateRetry(1, 100, 2000, 30_000, () => 0);
    expect(low.next()).toEqual({ delayMs: 50, slow: false });
    expect(low.next()).toEqual({ delayMs: 15_000, slow: true });
  });

  it('the fast delay is capped', () => {
    const retry = new DuplicateRetry(20, 100, 2000, 30_000, () => 1);
    const delays = Array.from({ length: 20 }, () => retry.next().delayMs);
    expect(Math.max(...delays)).toBe(2000);
  });
});

describe('ProbeDelay', () => {
  it('5 s doubling to 5 min, jittered down to half; reset', () => {
    const p = new ProbeDelay(5000, 300_000, () => 1);
    const d = Array.from({ length: 9 }, () => p.next());
    expect(d).toEqual([5000, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000]);
    p.reset();
    expect(p.next()).toBe(5000);
    expect(new ProbeDelay(5000, 300_000, () => 0).next()).toBe(2500);
  });
});

describe('RedialCounts', () => {
  it('counts re-dials by reason', () => {
    const c = new RedialCounts();
    c.inc('duplicate');
    c.inc('duplicate');
    c.inc('goaway');
    expect(c.snapshot()).toMatchObject({ duplicate: 2, goaway: 1, link_down: 0, connect_failed: 0 });
  });
});
