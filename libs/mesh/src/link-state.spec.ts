import { LINK_STATES, LinkEvent, LinkState, MeshLinkState, nextLinkState } from './link-state';

const EVENTS = Object.values(LinkEvent);

describe('nextLinkState', () => {
  const legal: ReadonlyArray<[LinkState, LinkEvent, LinkState]> = [
    [LinkState.DOWN, LinkEvent.DIAL, LinkState.CONNECTING],
    [LinkState.CONNECTING, LinkEvent.UP, LinkState.UP],
    [LinkState.CONNECTING, LinkEvent.LOST, LinkState.DOWN],
    [LinkState.CONNECTING, LinkEvent.CLOSED, LinkState.DOWN],
    [LinkState.UP, LinkEvent.DRAIN, LinkState.DRAINING],
    [LinkState.UP, LinkEvent.LOST, LinkState.DOWN],
    [LinkState.UP, LinkEvent.CLOSED, LinkState.DOWN],
    [LinkState.DRAINING, LinkEvent.DRAIN, LinkState.DRAINING],
    [LinkState.DRAINING, LinkEvent.LOST, LinkState.DOWN],
    [LinkState.DRAINING, LinkEvent.CLOSED, LinkState.DOWN],
  ];

  it('the full table: exactly the listed moves are legal, everything else is null', () => {
    for (const state of LINK_STATES) {
      for (const event of EVENTS) {
        const hit = legal.find(([s, e]) => s === state && e === event);
        expect([state, event, nextLinkState(state, event)]).toEqual([state, event, hit === undefined ? null : hit[2]]);
      }
    }
  });

  it('never skips from connecting to draining, nor from down to up', () => {
    expect(nextLinkState(LinkState.CONNECTING, LinkEvent.DRAIN)).toBeNull();
    expect(nextLinkState(LinkState.DOWN, LinkEvent.UP)).toBeNull();
    expect(nextLinkState(LinkState.UP, LinkEvent.UP)).toBeNull();
  });
});

describe('MeshLinkState', () => {
  it('walks connecting -> up -> draining -> down and reports each change once', () => {
    const changes: string[] = [];
    const s = new MeshLinkState(LinkState.DOWN, (from, to, ev) => changes.push(`${from}>${to}(${ev})`));
    expect(s.apply(LinkEvent.DIAL)).toBe(true);
    expect(s.apply(LinkEvent.UP)).toBe(true);
    expect(s.apply(LinkEvent.DRAIN)).toBe(true);
    expect(s.apply(LinkEvent.DRAIN)).toBe(true); // legal, no change reported
    expect(s.apply(LinkEvent.CLOSED)).toBe(true);
    expect(s.current).toBe(LinkState.DOWN);
    expect(changes).toEqual(['down>connecting(dial)', 'connecting>up(up)', 'up>draining(drain)', 'draining>down(closed)']);
  });

  it('refuses illegal events and keeps its state', () => {
    const s = new MeshLinkState();
    expect(s.apply(LinkEvent.UP)).toBe(false);
    expect(s.current).toBe(LinkState.DOWN);
  });
});
