import { EpochFence } from './epoch-fence';

describe('EpochFence', () => {
  const owned = new Map<string, number>([['agent-1', 7]]);

  it('accepts only the current owner epoch and counts every mismatch', () => {
    const seen: Array<[string, number, number | undefined]> = [];
    const fence = new EpochFence((a) => owned.get(a), (a, got, cur) => seen.push([a, got, cur]));
    expect(fence.accept('agent-1', 7)).toBe(true);
    expect(fence.accept('agent-1', 6)).toBe(false); // stale
    expect(fence.accept('agent-1', 8)).toBe(false); // newer than we hold: someone else owns it now
    expect(fence.accept('agent-2', 1)).toBe(false); // not owned here
    expect(fence.mismatches).toBe(3);
    expect(seen).toEqual([
      ['agent-1', 6, 7],
      ['agent-1', 8, 7],
      ['agent-2', 1, undefined],
    ]);
  });

  it('follows the lookup as ownership changes (no caching)', () => {
    const table = new Map<string, number>([['a', 1]]);
    const fence = new EpochFence((a) => table.get(a));
    expect(fence.accept('a', 1)).toBe(true);
    table.set('a', 2);
    expect(fence.accept('a', 1)).toBe(false);
    expect(fence.accept('a', 2)).toBe(true);
    table.delete('a');
    expect(fence.accept('a', 2)).toBe(false);
    expect(fence.mismatches).toBe(2);
  });

  it('acceptExpected checks against a known epoch and counts too', () => {
    const fence = new EpochFence(() => undefined);
    expect(fence.acceptExpected('a', 3, 3)).toBe(true);
    expect(fence.acceptExpected('a', 2, 3)).toBe(false);
    expect(fence.mismatches).toBe(1);
  });
});
