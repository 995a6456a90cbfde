import { HEADER_BYTES, MAX_CONTROL_PAYLOAD_BYTES } from '@nowconnect/frames';
import type { FieldTable } from './field-table';

/** cloud.yaml (SPEC §3, §10): every key the hub accepts. See field-table.ts for how to add one. */

/** The smallest frame must still carry a full control payload. */
export const MIN_MAX_FRAME_BYTES = HEADER_BYTES + MAX_CONTROL_PAYLOAD_BYTES;
export const MIN_FLOW_WINDOW_BYTES = 16 * 1024;
export const MAX_INFLIGHT_BYTES = 1024 * 1024 * 1024;
export const HA_MODES = ['off', 'shadow', 'active'] as const;
const MiB = 1024 * 1024;

export const TLS_FIELDS = {
  cert_file: { kind: 'file', required: true, doc: 'PEM certificate chain served on server.bind (https/wss only)' },
  key_file: { kind: 'file', required: true, doc: 'PEM private key of cert_file' },
} as const satisfies FieldTable;

export const SERVER_FIELDS = {
  bind: { kind: 'host_port', default: '0.0.0.0:8765', doc: 'HTTP (/healthz /readyz /metrics) and WebSocket (/tunnel /mesh); port 0 = ephemeral' },
  admin_bind: {
    kind: 'host_port',
    default: '127.0.0.1:9765',
    doc: 'admin HTTP listener: GET /status (JSON) is served here only, never on server.bind; port 0 = ephemeral',
  },
  drain_timeout_sec: { kind: 'int', min: 0, max: 3600, default: 30, doc: 'on SIGTERM: let flows finish this long, then reset the rest' },
  request_timeout_sec: { kind: 'int', min: 1, max: 3600, default: 10, doc: 'the whole request (head and body) on server.bind, every request of a keep-alive connection' },
  tls: { kind: 'section', fields: TLS_FIELDS, doc: 'optional TLS for server.bind; both keys required' },
} as const satisfies FieldTable;

export const AUTH_FIELDS = {
  audience: { kind: 'string', default: 'nowconnect', doc: 'required `aud` of the agent tokens' },
  issuer: { kind: 'string', doc: 'required `iss` of the agent tokens when set' },
  hs256_secret_file: { kind: 'file', env: 'NC_JWT_SECRET_FILE', doc: 'HMAC secret (HS256/384/512); exactly one of the three key files' },
  public_key_file: { kind: 'file', doc: 'PEM public key (RS*/PS*/ES*/EdDSA); exactly one of the three key files' },
  jwks_file: { kind: 'file', doc: 'JWKS document (keys chosen by `kid`); exactly one of the three key files' },
  hs256_secret_files: {
    kind: 'list',
    minItems: 1,
    items: { kind: 'string', doc: 'file path' },
    doc: 'list form of hs256_secret_file (rotation overlap: [new, old]); counts as one of the key files',
  },
  require_connector_scope: { kind: 'bool', default: true, doc: 'a token without connector: entries in scope is refused (hello_refused reason scope)' },
  clock_skew_sec: { kind: 'int', min: 0, max: 60, default: 60, doc: 'clock skew allowed on exp; a tunnel still on an expired token past it is closed (4003)' },
} as const satisfies FieldTable;

export const LISTENER_FIELDS = {
  name: { kind: 'name', required: true, doc: 'unique listener name (metrics label)' },
  bind: { kind: 'host_port', required: true, doc: "TCP listener, 'host:port' or '[v6]:port'" },
  connector: { kind: 'name', required: true, doc: 'connector an agent must serve for this listener' },
  allow_cidrs: {
    kind: 'list',
    minItems: 1,
    items: { kind: 'string', doc: 'IPv4 or IPv6 CIDR' },
    doc: 'client CIDRs allowed to connect; absent = all',
  },
  idle_timeout_sec: { kind: 'int', min: 0, max: 7 * 24 * 3600, default: 0, doc: 'a flow with no bytes either way for this long is reset (0 = off)' },
  max_flows_per_client_ip: { kind: 'int', min: 0, max: 1_000_000, default: 0, doc: 'concurrent flows from one client address (0 = off)' },
  max_active_flows: { kind: 'int', min: 1, max: 10_000_000, doc: 'concurrent flows on this listener, per replica (absent = no limit)' },
  max_new_flows_per_sec: { kind: 'int', min: 1, max: 1_000_000, doc: 'new flows per second on this listener, per replica, token bucket (absent = no limit)' },
} as const satisfies FieldTable;

export const LIMIT_FIELDS = {
  max_frame_bytes: { kind: 'int', min: MIN_MAX_FRAME_BYTES, max: 64 * MiB, default: MiB, doc: 'larger frame closes the link (protocol error)' },
  flow_window_bytes: { kind: 'int', min: MIN_FLOW_WINDOW_BYTES, max: 1024 * MiB, default: 256 * 1024, doc: "a flow's initial (and smallest) receive window; it grows from the round trip and drain rate" },
  max_flow_window_bytes: { kind: 'int', min: MIN_FLOW_WINDOW_BYTES, max: 1024 * MiB, default: 16 * MiB, doc: "ceiling of one flow's auto-tuned receive window" },
  tunnel_window_bytes: { kind: 'int', min: MiB, max: 1024 * MiB, default: 64 * MiB, doc: 'window growth budget shared by the flows of one tunnel or mesh link' },
  process_window_bytes: { kind: 'int', min: MiB, max: 16 * 1024 * MiB, default: 256 * MiB, doc: 'window growth budget of the whole process' },
  max_flows_per_agent: { kind: 'int', min: 1, max: 1_000_000, default: 10_000, doc: 'concurrent flows on one tunnel' },
  max_pending_opens_per_agent: { kind: 'int', min: 1, max: 100_000, default: 256, doc: 'OPENs not yet acknowledged by the agent' },
  hello_timeout_sec: { kind: 'int', min: 1, max: 300, default: 10, doc: 'a tunnel without HELLO by then is closed' },
  keepalive_sec: { kind: 'int', min: 1, max: 3600, default: 15, doc: 'PING interval; a peer silent for 3 intervals is dead' },
  open_timeout_sec: { kind: 'int', min: 1, max: 3600, default: 10, doc: 'a flow without OPEN_ACK by then is reset (open_failed reason timeout)' },
} as const satisfies FieldTable;

export const LOGGING_FIELDS = {
  mask_ips: { kind: 'bool', default: true, doc: 'client IPs logged as 10.1.2.x / 2001:db8:1::/48' },
} as const satisfies FieldTable;

export const MESH_TLS_FIELDS = {
  ca_bundle: { kind: 'file', doc: 'CA bundle that signs the peer hubs’ mesh certificates' },
  cert_file: { kind: 'file', doc: 'this hub’s mesh client/server certificate (with key_file)' },
  key_file: { kind: 'file', doc: 'private key of cert_file' },
} as const satisfies FieldTable;

export const MESH_INGRESS_FIELDS = {
  trusted_proxies: {
    kind: 'list',
    minItems: 1,
    items: { kind: 'string', doc: 'IPv4 or IPv6 CIDR' },
    doc: 'sources whose ingress client-cert headers are honoured on /mesh at server.bind; absent = /mesh there answers 404',
  },
} as const satisfies FieldTable;

export const MESH_FIELDS = {
  listen: { kind: 'host_port', doc: 'optional dedicated mesh listener (terminates mTLS itself)' },
  peers: { kind: 'list', items: { kind: 'string', pattern: '^wss?://', doc: 'ws:// or wss:// URL' }, doc: 'static peer hub mesh URLs' },
  require_mtls: { kind: 'bool', default: true, doc: 'refuse mesh peers without a client certificate' },
  tls: { kind: 'section', fields: MESH_TLS_FIELDS, doc: 'mesh TLS files' },
  send_queue_depth: { kind: 'int', min: 1, max: 1_000_000, default: 1000, doc: 'frames queued per mesh link before it is dropped as slow' },
  per_link_max_inflight_bytes: {
    kind: 'int',
    min: 1,
    max: MAX_INFLIGHT_BYTES,
    default: 8 * MiB,
    defaultText: 'max(8388608, limits.max_frame_bytes)',
    doc: 'bytes in flight per mesh link; at least limits.max_frame_bytes',
  },
  connect_backoff_max_sec: { kind: 'int', min: 1, max: 3600, default: 30, doc: 'largest reconnect backoff to a peer' },
  advertise_url: { kind: 'string', pattern: '^wss?://', env: 'NC_MESH_ADVERTISE_URL', doc: 'URL peers dial to reach this hub (replica record)' },
  ingress: { kind: 'section', fields: MESH_INGRESS_FIELDS, doc: 'ingress-terminated mesh mTLS (trusted proxies only)' },
} as const satisfies FieldTable;

export const HA_FIELDS = {
  enabled: { kind: 'bool', default: false, doc: 'HA on (registry, mesh); NC_HA_MODE other than off requires it' },
  mode: {
    kind: 'custom',
    schema: { enum: [...HA_MODES, false] },
    default: 'off',
    env: 'NC_HA_MODE',
    doc: "'off' | shadow | active (quote 'off'; unquoted off = false = 'off')",
  },
  replica_id: { kind: 'name', default: 'hub-a', env: 'NC_REPLICA_ID', doc: 'unique per hub' },
  redis_url: {
    kind: 'string',
    pattern: '^rediss?(\\+sentinel|\\+cluster)?://',
    env: 'NC_REDIS_URL',
    doc: 'registry store; absent = in-memory (single replica)',
  },
  readiness_degraded_code: {
    kind: 'custom',
    schema: { type: 'integer', anyOf: [{ const: 200 }, { minimum: 500, maximum: 599 }] },
    default: 503,
    doc: '/readyz status while degraded (200 or 5xx)',
  },
  lease_sec: { kind: 'int', min: 1, max: 3600, default: 15, doc: 'owner entries and replica records expire unless refreshed (heartbeat lease/3)' },
  sweep_interval_sec: { kind: 'int', min: 1, max: 86_400, default: 30, doc: 'registry sweeper interval' },
  mesh: { kind: 'section', fields: MESH_FIELDS, doc: 'hub-to-hub mesh' },
} as const satisfies FieldTable;

export const CLOUD_FIELDS = {
  server: { kind: 'section', fields: SERVER_FIELDS, doc: 'HTTP/WebSocket server' },
  auth: { kind: 'section', fields: AUTH_FIELDS, doc: 'agent token verification' },
  listeners: {
    kind: 'list',
    items: { kind: 'section', fields: LISTENER_FIELDS, doc: 'one TCP listener' },
    doc: 'TCP listeners; each accepted connection becomes one flow to an agent serving `connector`',
  },
  limits: { kind: 'section', fields: LIMIT_FIELDS, doc: 'every limit refuses with a log line and a counter' },
  logging: { kind: 'section', fields: LOGGING_FIELDS, doc: 'logging' },
  ha: { kind: 'section', fields: HA_FIELDS, doc: 'high availability (SPEC §3)' },
} as const satisfies FieldTable;
