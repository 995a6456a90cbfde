import { CidDedup } from './cid-dedup';

describe('CidDedup', () => {
  it('accepts increasing seqs per CID and drops replays and older seqs, reporting each drop', () => {
    const drops: Array<[number, number, number]> = [];
    const d = new CidDedup({ maxEntries: 10, onDrop: (cid, seq, last) => drops.push([cid, seq, last]) });
    expect(d.accept(1, 1)).toBe(true);
    expect(d.accept(1, 2)).toBe(true);
    expect(d.accept(1, 2)).toBe(false);
    expect(d.accept(1, 1)).toBe(false);
    expect(d.accept(1, 5)).toBe(true); // gaps are allowed, only going back is refused
    expect(d.accept(1, 4)).toBe(false);
    expect(drops).toEqual([
      [1, 2, 2],
      [1, 1, 2],
      [1, 4, 5],
    ]);
    expect(d.dropped).toBe(3);
    expect(d.lastSeq(1)).toBe(5);
  });

  it('keeps CIDs independent', () => {
    const d = new CidDedup({ maxEntries: 10 });
    expect(d.accept(1, 7)).toBe(true);
    expect(d.accept(2, 1)).toBe(true);
    expect(d.accept(2, 7)).toBe(true);
    expect(d.accept(1, 7)).toBe(false);
  });

  it('is bounded: the least recently used CID is evicted (and then starts afresh)', () => {
    const d = new CidDedup({ maxEntries: 3 });
    d.accept(1, 1);
    d.accept(2, 1);
    d.accept(3, 1);
    d.accept(1, 2); // 1 becomes most recent; 2 is now the oldest
    d.accept(4, 1); // evicts 2
    expect(d.size).toBe(3);
    expect(d.evicted).toBe(1);
    expect(d.lastSeq(2)).toBeUndefined();
    expect(d.lastSeq(1)).toBe(2);
    expect(d.accept(2, 1)).toBe(true); // forgotten: accepted again (evicts 3)
    expect(d.lastSeq(3)).toBeUndefined();
    expect(d.accept(1, 2)).toBe(false); // still remembered
  });

  it('a refused frame does not refresh the CID`s LRU position', () => {
    const d = new CidDedup({ maxEntries: 2 });
    d.accept(1, 5);
    d.accept(2, 1);
    expect(d.accept(1, 5)).toBe(false);
    d.accept(3, 1); // evicts 1 (its replay did not count as use)
    expect(d.lastSeq(1)).toBeUndefined();
    expect(d.lastSeq(2)).toBe(1);
  });

  it('stays at its cap under many CIDs (bounded loop)', () => {
    const d = new CidDedup({ maxEntries: 100 });
    for (let cid = 1; cid <= 10_000; cid++) d.accept(cid, 1);
    expect(d.size).toBe(100);
    expect(d.evicted).toBe(9_900);
    d.clear();
    expect(d.size).toBe(0);
  });

  it('refuses a non-positive cap', () => {
    expect(() => new CidDedup({ maxEntries: 0 })).toThrow(RangeError);
    expect(() => new CidDedup({ maxEntries: 1.5 })).toThrow(RangeError);
  });
});
