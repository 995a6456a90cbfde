import { HolderChoice } from './holder-choice';

const a = { agentId: 'ag', replicaId: 'hub-a', epoch: 3 };
const b = { agentId: 'ag', replicaId: 'hub-b', epoch: 4 };
const all = (): boolean => true;

describe('HolderChoice', () => {
  it('spreads equal holders in turn instead of always taking the first', () => {
    const ch = new HolderChoice();
    const picks = Array.from({ length: 6 }, () => ch.pick([a, b], all)!.replicaId);
    expect(picks.filter((p) => p === 'hub-a')).toHaveLength(3);
    expect(picks.filter((p) => p === 'hub-b')).toHaveLength(3);
  });

  it('prefers the holder with the fewest flows in flight; a closed flow frees its holder', () => {
    const ch = new HolderChoice();
    const closeA1 = ch.opened(a);
    ch.opened(a);
    ch.opened(b);
    for (let i = 0; i < 4; i++) expect(ch.pick([a, b], all)).toBe(b);
    closeA1();
    closeA1(); // idempotent
    expect(ch.count('ag', 'hub-a')).toBe(1);
    const picks = new Set(Array.from({ length: 4 }, () => ch.pick([a, b], all)!.replicaId));
    expect(picks).toEqual(new Set(['hub-a', 'hub-b']));
  });

  it('skips holders that are not usable (replica gone, no mesh link); none usable: undefined', () => {
    const ch = new HolderChoice();
    ch.opened(b);
    ch.opened(b);
    expect(ch.pick([a, b], (c) => c.replicaId !== 'hub-a')).toBe(b);
    expect(ch.pick([a, b], () => false)).toBeUndefined();
    expect(ch.pick([], all)).toBeUndefined();
  });
});
