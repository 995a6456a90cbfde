import type { FieldTable } from './field-table';

/** premise.yaml (SPEC §4, §10): every key the agent accepts. See field-table.ts for how to add one. */

export const HEALTH_FIELDS = {
  interval_sec: { kind: 'int', min: 1, max: 3600, default: 10, doc: 'seconds between checks of each target' },
  timeout_ms: { kind: 'int', min: 50, max: 60_000, default: 2000, doc: 'a check slower than this fails (at most interval_sec * 1000)' },
  fall: { kind: 'int', min: 1, max: 100, default: 3, doc: 'failed checks in a row that mark a target unhealthy' },
  rise: { kind: 'int', min: 1, max: 100, default: 2, doc: 'passed checks in a row that mark it healthy again' },
  kind: { kind: 'custom', schema: { enum: ['tcp', 'ldap'] }, default: 'tcp', doc: 'tcp: a TCP connect; ldap: an anonymous root-DSE read' },
} as const satisfies FieldTable;

export const CONNECTOR_FIELDS = {
  name: { kind: 'name', required: true, doc: 'connector name (what hub listeners route to)' },
  target: { kind: 'host_port', doc: 'TCP target the agent dials, host:port (or targets)' },
  targets: { kind: 'list', minItems: 1, items: { kind: 'host_port', doc: 'host:port' }, doc: 'several targets (either target or targets)' },
  strategy: {
    kind: 'custom',
    schema: { enum: ['failover', 'round_robin', 'least_flows'] },
    default: 'failover',
    doc: 'failover: first healthy in order; round_robin; least_flows',
  },
  connect_timeout_ms: { kind: 'int', min: 50, max: 120_000, default: 3000, doc: 'per-target connect timeout; then the next target is tried' },
  health: { kind: 'section', fields: HEALTH_FIELDS, doc: 'health checks of the targets (absent = none)' },
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
    items: { kind: 'section', fields: CONNECTOR_FIELDS, requireOneOf: ['target', 'targets'], doc: 'one connector' },
    env: 'NC_CONNECTORS',
    doc: 'what this agent serves (NC_CONNECTORS=name=host:port,...)',
  },
  limits: { kind: 'section', fields: AGENT_LIMIT_FIELDS, doc: 'agent admission limits' },
  links: {
    kind: 'int',
    min: 1,
    max: 8,
    default: 2,
    env: 'NC_LINKS',
    doc: 'tunnels to distinct hub replicas held at once (1 = a single tunnel; never more than the hub says are alive)',
  },
  stripes: {
    kind: 'int',
    min: 1,
    max: 8,
    default: 4,
    env: 'NC_STRIPES',
    doc: 'TCP connections per link (1 = no stripes); flows spread over them, so one connection’s send buffer does not cap a long link (never more than the hub accepts)',
  },
} as const satisfies FieldTable;
