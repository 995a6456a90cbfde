/**
 * Connector scope carried in a tunnel token's `scope` claim (SPEC §5).
 *
 * The claim is a space-separated string (or an array of such strings). Entries
 * `connector:<name>` restrict the agent to the named connectors; `connector:*`
 * allows every connector. A claim without any `connector:` entry (or no claim
 * at all) is `unscoped`: refused at HELLO while auth.require_connector_scope
 * (default true), else it allows every connector. Other entries are ignored.
 */
export type ConnectorScope =
  | { readonly kind: 'all' }
  | { readonly kind: 'unscoped' }
  | { readonly kind: 'some'; readonly connectors: ReadonlySet<string> };

const CONNECTOR_PREFIX = 'connector:';
const ALL: ConnectorScope = Object.freeze({ kind: 'all' });
const UNSCOPED: ConnectorScope = Object.freeze({ kind: 'unscoped' });

/**
 * Parses the raw `scope` claim value. Returns undefined when the claim has an
 * unusable shape (neither a string nor an array of strings).
 */
export function parseConnectorScope(claim: unknown): ConnectorScope | undefined {
  let entries: string[];
  if (claim === undefined) {
    return UNSCOPED;
  } else if (typeof claim === 'string') {
    entries = splitScope(claim);
  } else if (Array.isArray(claim) && claim.every((e): e is string => typeof e === 'string')) {
    entries = claim.flatMap(splitScope);
  } else {
    return undefined;
  }

  let sawConnectorEntry = false;
  const connectors = new Set<string>();
  for (const entry of entries) {
    if (!entry.startsWith(CONNECTOR_PREFIX)) continue;
    sawConnectorEntry = true;
    const name = entry.slice(CONNECTOR_PREFIX.length);
    if (name === '*') return ALL;
    // An empty name (`connector:`) still restricts the scope; it matches nothing.
    if (name.length > 0) connectors.add(name);
  }
  return sawConnectorEntry ? { kind: 'some', connectors } : UNSCOPED;
}

/** True when an agent holding `scope` may register `connector` (an unscoped token only with require_connector_scope off). */
export function scopeAllows(scope: ConnectorScope, connector: string): boolean {
  return scope.kind === 'some' ? scope.connectors.has(connector) : true;
}

function splitScope(value: string): string[] {
  return value.split(/\s+/).filter((e) => e.length > 0);
}
