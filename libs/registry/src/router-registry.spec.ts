import { RouterRegistry, RoutableAgent } from './router-registry';

function agent(agentId: string, connectors: string[], accepting = true): RoutableAgent & { accepting: boolean } {
  const a = { agentId, connectors, accepting, canAcceptFlow: () => a.accepting };
  return a;
}

describe('RouterRegistry', () => {
  it('spreads picks round-robin over the agents of a connector', () => {
    const r = new RouterRegistry<RoutableAgent>();
    const a = agent('a', ['ldap']);
    const b = agent('b', ['ldap', 'pg']);
    r.add(a);
    r.add(b);
    const picks = [r.pick('ldap'), r.pick('ldap'), r.pick('ldap'), r.pick('ldap')].map((x) => x?.agentId);
    expect(picks).toEqual(['a', 'b', 'a', 'b']);
    expect(r.pick('pg')).toBe(b);
    expect(r.pick('none')).toBeUndefined();
  });

  it('skips agents that cannot accept and forgets removed ones', () => {
    const r = new RouterRegistry<RoutableAgent>();
    const a = agent('a', ['ldap']);
    const b = agent('b', ['ldap']);
    r.add(a);
    r.add(b);
    a.accepting = false;
    expect([r.pick('ldap'), r.pick('ldap')]).toEqual([b, b]);
    r.remove(b);
    expect(r.pick('ldap')).toBeUndefined();
    r.remove(a);
    expect(r.hasConnector('ldap')).toBe(false);
    expect(r.size).toBe(0);
  });

  it('adding the same agent twice is a no-op', () => {
    const r = new RouterRegistry<RoutableAgent>();
    const a = agent('a', ['x']);
    r.add(a);
    r.add(a);
    expect(r.size).toBe(1);
    expect(r.byAgentId('a')).toEqual([a]);
  });

  it('routes only to agents whose connector has a healthy target; onlyUnhealthy tells the refusal reason', () => {
    const r = new RouterRegistry<RoutableAgent>();
    const healthy = new Map<string, boolean>([['a', true], ['b', true]]);
    const mk = (id: string): RoutableAgent => ({ agentId: id, connectors: ['ldap', 'pg'], canAcceptFlow: () => true, hasHealthyTarget: (c) => c !== 'ldap' || healthy.get(id)! });
    const a = mk('a');
    const b = mk('b');
    r.add(a);
    r.add(b);
    healthy.set('a', false);
    expect([r.pick('ldap'), r.pick('ldap'), r.pick('ldap')]).toEqual([b, b, b]);
    expect(r.onlyUnhealthy('ldap')).toBe(false);
    healthy.set('b', false);
    expect(r.pick('ldap')).toBeUndefined();
    expect(r.onlyUnhealthy('ldap')).toBe(true);
    expect(r.pick('pg')).toBeDefined(); // health is per connector
    expect(r.onlyUnhealthy('none')).toBe(false);
  });
});
