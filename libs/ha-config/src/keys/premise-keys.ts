import type { FieldTable } from './field-table';

/** premise.yaml (SPEC §4, §10): every key the agent accepts. See field-table.ts for how to add one. */

export const CONNECTOR_FIELDS = {
  name: { kind: 'name', required: true, doc: 'connector name (what hub listeners route to)' },
  target: { kind: 'host_port', required: true, doc: 'TCP target the agent dials, host:port' },
} as const satisfies FieldTable;

export const AGENT_LIMIT_FIELDS = {
  max_flows: { kind: 'int', min: 1, max: 1_000_000, default: 10_000, doc: 'concurrent flows; over it OPEN is answered RST agent_busy' },
  max_pending_connects: { kind: 'int', min: 1, max: 100_000, default: 256, doc: 'target dials in progress; over it OPEN is answered RST agent_busy' },
} as const satisfies FieldTable;

const WS_URL = { kind: 'string', pattern: '^wss?://', doc: 'ws:// or wss:// hub URL ending in /tunnel' } as const;

export const PREMISE_FIELDS = {
  cloud_url: {
    kind: 'custom',
    schema: { anyOf: [{ type: 'string', pattern: '^\\s*wss?://' }, { type: 'array', minItems: 1, items: { type: 'string', pattern: '^wss?://' } }] },
    env: 'NC_CLOUD_URL',
    doc: 'hub URL, or a list (or comma-separated string) tried in order',
  },
  agent_id: { kind: 'name', env: 'NC_AGENT_ID', doc: 'must equal the token’s `sub`' },
  token_file: { kind: 'file', env: 'NC_TOKEN_FILE', doc: 'JWT file, re-read on every reconnect (NC_TOKEN > NC_TOKEN_FILE > token_file)' },
  ca_file: { kind: 'file', env: 'NC_CA_FILE', doc: 'extra CA bundle for wss:// (adds to the system roots)' },
  proxy_url: { kind: 'string', env: 'NC_PROXY_URL', doc: 'HTTP CONNECT proxy (else HTTPS_PROXY / HTTP_PROXY / NO_PROXY)' },
  connectors: {
    kind: 'list',
    items: { kind: 'section', fields: CONNECTOR_FIELDS, doc: 'one connector' },
    env: 'NC_CONNECTORS',
    doc: 'what this agent serves (NC_CONNECTORS=name=host:port,...)',
  },
  limits: { kind: 'section', fields: AGENT_LIMIT_FIELDS, doc: 'agent admission limits' },
} as const satisfies FieldTable;
