/**
 * Typed, validated configuration. Produced only by the parsers in this lib
 * (unknown YAML + env -> readonly typed value); everything else consumes it.
 * Names mirror the YAML keys in camelCase; see SPEC §3 (hub) and §4 (agent).
 */

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

export interface ServerConfig {
  readonly bind: HostPort; // default 0.0.0.0:8765
  readonly adminBind: HostPort; // default 127.0.0.1:9765 (GET /status only)
  readonly drainTimeoutSec: number; // default 30
  /** Whole request (head and body) on server.bind, each request of a keep-alive connection. */
  readonly requestTimeoutSec: number; // default 10
  readonly tls: TlsFiles | undefined; // optional
}

export type AuthKeyConfig =
  | { readonly kind: 'hs256_secret_file'; readonly path: string }
  /** Rotation overlap: a token signed with any of these secrets verifies (e.g. [new, old]). */
  | { readonly kind: 'hs256_secret_files'; readonly path: string; readonly paths: readonly string[] } // path = paths[0]
  | { readonly kind: 'public_key_file'; readonly path: string }
  | { readonly kind: 'jwks_file'; readonly path: string };

export interface AuthConfig {
  readonly audience: string; // default 'nowconnect'
  readonly issuer: string | undefined;
  readonly key: AuthKeyConfig; // exactly one of the key kinds; NC_JWT_SECRET_FILE => hs256_secret_file
  /** A token without `connector:` entries in `scope` is refused at HELLO (reason scope). */
  readonly requireConnectorScope: boolean; // true
  /** Allowed clock skew for `exp`/`nbf`, also after `exp` before an un-renewed tunnel is closed (4003). */
  readonly clockSkewSec: number; // 60
}

export interface Cidr {
  readonly text: string; // as written, e.g. '10.0.0.0/8'
  readonly family: 4 | 6;
  readonly network: bigint; // masked network address
  readonly prefix: number;
}

export interface ListenerConfig {
  readonly name: string;
  readonly bind: HostPort;
  readonly connector: string;
  readonly allowCidrs: readonly Cidr[] | undefined; // undefined = allow all
  /** A client silent both ways this long is reset (reason idle_timeout); 0 = off. */
  readonly idleTimeoutSec: number; // 0
  /** Concurrent flows from one client address; 0 = off. */
  readonly maxFlowsPerClientIp: number; // 0
  /** Concurrent flows on this listener (this replica); undefined = no limit. */
  readonly maxActiveFlows: number | undefined;
  /** New flows per second (token bucket, burst = the rate; this replica); undefined = no limit. */
  readonly maxNewFlowsPerSec: number | undefined;
}

export interface LimitsConfig {
  readonly maxFrameBytes: number; // 1048576
  /** A flow's initial receive window, each way (min(this, 256 KiB) on the wire), and the size it shrinks back to. */
  readonly flowWindowBytes: number; // 262144
  /** Ceiling of one flow's auto-tuned receive window (max with flowWindowBytes; equal to it = tuning off). */
  readonly maxFlowWindowBytes: number; // 16777216
  /** Growth budget shared by the flows of one tunnel or mesh link (windows above their start size). */
  readonly tunnelWindowBytes: number; // 67108864
  /** Growth budget shared by every tunnel and mesh link of the process. */
  readonly processWindowBytes: number; // 268435456
  readonly maxFlowsPerAgent: number; // 10000
  readonly maxPendingOpensPerAgent: number; // 256
  readonly helloTimeoutSec: number; // 10
  readonly keepaliveSec: number; // 15
  /** A flow the agent has not acknowledged (OPEN_ACK) by then is reset, open_failed reason `timeout`. */
  readonly openTimeoutSec: number; // 10
}

export interface LoggingConfig {
  readonly maskIps: boolean; // true
}

export type HaMode = 'off' | 'shadow' | 'active';

export interface MeshTlsConfig {
  readonly caBundle: string | undefined;
  readonly certFile: string | undefined;
  readonly keyFile: string | undefined;
}

export interface MeshConfig {
  readonly listen: HostPort | undefined;
  readonly peers: readonly string[]; // ws:// or wss:// URLs
  readonly requireMtls: boolean; // default true
  readonly tls: MeshTlsConfig;
  readonly sendQueueDepth: number; // 1000
  readonly perLinkMaxInflightBytes: number; // 8388608
  readonly connectBackoffMaxSec: number; // 30
  /** URL other hubs dial to reach this hub's mesh (replica record); NC_MESH_ADVERTISE_URL. */
  readonly advertiseUrl: string | undefined;
  readonly ingress: MeshIngressConfig;
}

/** `ha.mesh.ingress`: who may vouch for a mesh client certificate with headers (TLS terminated at an ingress). */
export interface MeshIngressConfig {
  /**
   * `ha.mesh.ingress.trusted_proxies`: ingress client-cert headers on a plain `/mesh` are honoured only
   * from these sources; undefined = never (a plain `/mesh` with require_mtls answers 404).
   */
  readonly trustedProxies: readonly Cidr[] | undefined;
}

export interface HaConfig {
  readonly enabled: boolean; // false
  readonly mode: HaMode; // 'off'
  readonly replicaId: string; // 'hub-a' default; NC_REPLICA_ID
  readonly redisUrl: string | undefined; // NC_REDIS_URL
  readonly readinessDegradedCode: number; // 503
  /** Lease of owner entries and replica records; the hub heartbeats every lease/3. */
  readonly leaseSec: number; // 15
  /** Registry sweeper interval (connector index, replica records). */
  readonly sweepIntervalSec: number; // 30
  readonly mesh: MeshConfig;
}

export interface CloudConfig {
  readonly server: ServerConfig;
  readonly auth: AuthConfig;
  readonly listeners: readonly ListenerConfig[];
  readonly limits: LimitsConfig;
  readonly logging: LoggingConfig;
  readonly ha: HaConfig;
}

export type TargetStrategy = 'failover' | 'round_robin' | 'least_flows';
export type HealthKind = 'tcp' | 'ldap';

/** connectors[].health: active checks on the agent (absent = no checks, every target counts as up). */
export interface HealthCheckConfig {
  readonly intervalSec: number; // 10
  readonly timeoutMs: number; // 2000
  readonly fall: number; // 3 failed checks in a row => unhealthy
  readonly rise: number; // 2 passed checks in a row => healthy again
  readonly kind: HealthKind; // 'tcp'
}

export interface ConnectorConfig {
  readonly name: string;
  /** The first of `targets` (kept for readers of the single-target form). */
  readonly target: HostPort;
  /** connectors[].targets, or [target]; order matters for `failover`. */
  readonly targets: readonly HostPort[];
  readonly strategy: TargetStrategy; // 'failover'
  readonly connectTimeoutMs: number; // 3000, per target
  readonly health: HealthCheckConfig | undefined;
}

/** Where the agent's token comes from (precedence NC_TOKEN > NC_TOKEN_FILE > token_file). */
export type TokenSource = { readonly kind: 'inline'; readonly token: string } | { readonly kind: 'file'; readonly path: string };

/** premise.yaml `limits`: over either, the agent answers an OPEN with RST agent_busy. */
export interface AgentLimitsConfig {
  readonly maxFlows: number; // 10000
  readonly maxPendingConnects: number; // 256 (target dials not yet connected)
}

export interface PremiseConfig {
  readonly cloudUrls: readonly string[]; // ws:// or wss:// ... /tunnel, fail-over order
  readonly agentId: string;
  readonly token: TokenSource;
  readonly caFile: string | undefined;
  readonly proxyUrl: string | undefined; // explicit proxy_url / NC_PROXY_URL only (env HTTPS_PROXY etc. resolved by the dialer)
  readonly connectors: readonly ConnectorConfig[];
  readonly limits: AgentLimitsConfig;
  /** `links` / NC_LINKS (2): tunnels to distinct hub replicas held at once (1..8). */
  readonly links: number;
  /** `stripes` / NC_STRIPES (4): TCP connections per link, the link's own included (1..8). */
  readonly stripes: number;
}
