import { parseConnectorScope, scopeAllows, type ConnectorScope } from './connector-scope';

function parsed(claim: unknown): ConnectorScope {
  const scope = parseConnectorScope(claim);
  if (scope === undefined) throw new Error('expected a scope');
  return scope;
}

describe('parseConnectorScope / scopeAllows', () => {
  it('limits to the named connectors', () => {
    const scope = parsed('connector:a connector:b');
    expect(scope).toEqual({ kind: 'some', connectors: new Set(['a', 'b']) });
    expect(scopeAllows(scope, 'a')).toBe(true);
    expect(scopeAllows(scope, 'b')).toBe(true);
    expect(scopeAllows(scope, 'c')).toBe(false);
  });

  it('ignores other entries and extra whitespace', () => {
    const scope = parsed('  openid\tconnector:ad   tunnel\nconnector:db ');
    expect(scope).toEqual({ kind: 'some', connectors: new Set(['ad', 'db']) });
  });

  it('connector:* allows every connector, wherever it appears', () => {
    expect(parsed('connector:*')).toEqual({ kind: 'all' });
    expect(parsed('connector:a connector:*')).toEqual({ kind: 'all' });
    expect(scopeAllows(parsed('connector:*'), 'anything')).toBe(true);
  });

  it('is unscoped when the claim has no connector entries or is absent (allowed only with require_connector_scope off)', () => {
    for (const claim of [undefined, '', 'openid profile', [], ['openid']]) {
      expect(parsed(claim)).toEqual({ kind: 'unscoped' });
      expect(scopeAllows(parsed(claim), 'anything')).toBe(true);
    }
  });

  it('accepts the array form, each element possibly space-separated', () => {
    const scope = parsed(['connector:a', 'connector:b connector:c', 'other']);
    expect(scope).toEqual({ kind: 'some', connectors: new Set(['a', 'b', 'c']) });
  });

  it('is case-sensitive and exact about names', () => {
    const scope = parsed('connector:AD');
    expect(scopeAllows(scope, 'AD')).toBe(true);
    expect(scopeAllows(scope, 'ad')).toBe(false);
    expect(scopeAllows(parsed('Connector:ad'), 'zzz')).toBe(true); // not a connector entry
  });

  it('an empty connector name restricts to nothing', () => {
    const scope = parsed('connector:');
    expect(scopeAllows(scope, '')).toBe(false);
    expect(scopeAllows(scope, 'a')).toBe(false);
  });

  it('returns undefined for unusable claim shapes', () => {
    for (const claim of [42, null, true, { connector: 'a' }, ['connector:a', 7]]) {
      expect(parseConnectorScope(claim)).toBeUndefined();
    }
  });
});
