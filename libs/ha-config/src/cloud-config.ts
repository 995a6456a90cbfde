import type { AuthConfig, AuthKeyConfig, Cidr, CloudConfig, HostPort, LimitsConfig, ListenerConfig, ServerConfig } from './config.types';
import { parseCidr } from './cidr';
import { ConfigError } from './config-error';
import { childPath, deepFreeze, envValue, intField, itemPath, optBool, optList, optString, reqName, ROOT_PATH, section } from './fields';
import {
  AUTH_FIELDS,
  CLOUD_FIELDS,
  LIMIT_FIELDS,
  LISTENER_FIELDS,
  LOGGING_FIELDS,
  MIN_FLOW_WINDOW_BYTES,
  MIN_MAX_FRAME_BYTES,
  SERVER_FIELDS,
  TLS_FIELDS,
} from './keys/cloud-keys';
import { parseHa } from './ha-section';
import { formatHostPort, parseHostPort } from './host-port';

/**
 * cloud.yaml (SPEC §3): unknown YAML value + env -> typed, frozen CloudConfig.
 * Throws ConfigError naming the key path of the first problem.
 */

type Env = Readonly<Record<string, string | undefined>>;

const AUTH_KEY_KINDS = ['hs256_secret_file', 'public_key_file', 'jwks_file'] as const;
const KINDS_TEXT = AUTH_KEY_KINDS.join(' | ');

export { MIN_MAX_FRAME_BYTES, MIN_FLOW_WINDOW_BYTES };

const L = LIMIT_FIELDS;
export const LIMIT_DEFAULTS: LimitsConfig = Object.freeze({
  maxFrameBytes: L.max_frame_bytes.default,
  flowWindowBytes: L.flow_window_bytes.default,
  maxFlowWindowBytes: L.max_flow_window_bytes.default,
  tunnelWindowBytes: L.tunnel_window_bytes.default,
  processWindowBytes: L.process_window_bytes.default,
  maxFlowsPerAgent: L.max_flows_per_agent.default,
  maxPendingOpensPerAgent: L.max_pending_opens_per_agent.default,
  helloTimeoutSec: L.hello_timeout_sec.default,
  keepaliveSec: L.keepalive_sec.default,
  openTimeoutSec: L.open_timeout_sec.default,
});

function optHostPort(raw: unknown, path: string, fallback: string): HostPort {
  return parseHostPort(raw === undefined || raw === null ? fallback : raw, path, 0);
}

function parseServer(raw: unknown): ServerConfig {
  const S = SERVER_FIELDS;
  const f = section(raw, 'server', S);
  const bind = optHostPort(f['bind'], 'server.bind', S.bind.default);
  const adminBind = optHostPort(f['admin_bind'], 'server.admin_bind', S.admin_bind.default);
  let tls: ServerConfig['tls'];
  if (f['tls'] !== undefined && f['tls'] !== null) {
    const t = section(f['tls'], 'server.tls', TLS_FIELDS);
    const certFile = optString(t['cert_file'], 'server.tls.cert_file');
    const keyFile = optString(t['key_file'], 'server.tls.key_file');
    if (certFile === undefined) throw new ConfigError('server.tls.cert_file', 'required when server.tls is set');
    if (keyFile === undefined) throw new ConfigError('server.tls.key_file', 'required when server.tls is set');
    tls = { certFile, keyFile };
  }
  return { bind, adminBind, drainTimeoutSec: intField(S.drain_timeout_sec, f['drain_timeout_sec'], 'server.drain_timeout_sec'), requestTimeoutSec: intField(S.request_timeout_sec, f['request_timeout_sec'], 'server.request_timeout_sec'), tls };
}

function parseAuth(raw: unknown, env: Env): AuthConfig {
  const f = section(raw, 'auth', AUTH_FIELDS);
  const audience = optString(f['audience'], 'auth.audience') ?? AUTH_FIELDS.audience.default;
  const issuer = optString(f['issuer'], 'auth.issuer');
  const requireConnectorScope = optBool(f['require_connector_scope'], 'auth.require_connector_scope', AUTH_FIELDS.require_connector_scope.default);
  const clockSkewSec = intField(AUTH_FIELDS.clock_skew_sec, f['clock_skew_sec'], 'auth.clock_skew_sec');
  const keys: AuthKeyConfig[] = [];
  for (const kind of AUTH_KEY_KINDS) {
    const path = optString(f[kind], `auth.${kind}`);
    if (path !== undefined) keys.push({ kind, path });
  }
  const secretList = optList(f['hs256_secret_files'], 'auth.hs256_secret_files');
  if (secretList !== undefined) {
    if (secretList.length === 0) throw new ConfigError('auth.hs256_secret_files', 'expected a non-empty list of file paths');
    const paths = secretList.map((item, i) => {
      const p = itemPath('auth.hs256_secret_files', i);
      const path = typeof item === 'string' ? optString(item, p) : undefined;
      if (path === undefined) throw new ConfigError(p, 'expected a file path');
      return path;
    });
    keys.push({ kind: 'hs256_secret_files', path: paths[0]!, paths });
  }
  const common = { audience, issuer, requireConnectorScope, clockSkewSec };
  const envSecret = envValue(env, 'NC_JWT_SECRET_FILE');
  if (envSecret !== undefined) return { ...common, key: { kind: 'hs256_secret_file', path: envSecret } };
  const [key, extra] = keys;
  if (key === undefined) throw new ConfigError('auth', `one of ${KINDS_TEXT} is required`);
  if (extra !== undefined) throw new ConfigError('auth', `only one of ${KINDS_TEXT} may be set`);
  return { ...common, key };
}

function parseAllowCidrs(raw: unknown, path: string): Cidr[] | undefined {
  const list = optList(raw, path);
  if (list === undefined) return undefined;
  if (list.length === 0) throw new ConfigError(path, 'expected a non-empty list (omit the key to allow all)');
  return list.map((item, i) => {
    const p = itemPath(path, i);
    if (typeof item !== 'string') throw new ConfigError(p, 'expected an IPv4 or IPv6 CIDR like 10.0.0.0/8');
    return parseCidr(item, p);
  });
}

function parseListeners(raw: unknown): ListenerConfig[] {
  const listeners: ListenerConfig[] = [];
  (optList(raw, 'listeners') ?? []).forEach((item, i) => {
    const path = itemPath('listeners', i);
    if (item === null || item === undefined) throw new ConfigError(path, 'expected a mapping');
    const f = section(item, path, LISTENER_FIELDS);
    const name = reqName(f['name'], `${path}.name`);
    const other = listeners.findIndex((l) => l.name === name);
    if (other >= 0) throw new ConfigError(`${path}.name`, `duplicate listener name (also listeners[${other}])`);
    if (f['bind'] === undefined || f['bind'] === null) throw new ConfigError(`${path}.bind`, 'required');
    const bind = parseHostPort(f['bind'], `${path}.bind`, 0);
    const sameBind = listeners.findIndex((l) => bind.port !== 0 && formatHostPort(l.bind) === formatHostPort(bind));
    if (sameBind >= 0) throw new ConfigError(`${path}.bind`, `duplicate bind (also listeners[${sameBind}])`);
    const connector = reqName(f['connector'], `${path}.connector`);
    const optLimit = (key: 'max_active_flows' | 'max_new_flows_per_sec'): number | undefined =>
      f[key] === undefined || f[key] === null ? undefined : intField({ ...LISTENER_FIELDS[key], default: 0 }, f[key], `${path}.${key}`);
    listeners.push({
      name,
      bind,
      connector,
      allowCidrs: parseAllowCidrs(f['allow_cidrs'], `${path}.allow_cidrs`),
      idleTimeoutSec: intField(LISTENER_FIELDS.idle_timeout_sec, f['idle_timeout_sec'], `${path}.idle_timeout_sec`),
      maxFlowsPerClientIp: intField(LISTENER_FIELDS.max_flows_per_client_ip, f['max_flows_per_client_ip'], `${path}.max_flows_per_client_ip`),
      maxActiveFlows: optLimit('max_active_flows'),
      maxNewFlowsPerSec: optLimit('max_new_flows_per_sec'),
    });
  });
  return listeners;
}

function parseLimits(raw: unknown): LimitsConfig {
  const f = section(raw, 'limits', L);
  const at = (key: string): string => childPath('limits', key);
  return {
    maxFrameBytes: intField(L.max_frame_bytes, f['max_frame_bytes'], at('max_frame_bytes')),
    flowWindowBytes: intField(L.flow_window_bytes, f['flow_window_bytes'], at('flow_window_bytes')),
    maxFlowWindowBytes: intField(L.max_flow_window_bytes, f['max_flow_window_bytes'], at('max_flow_window_bytes')),
    tunnelWindowBytes: intField(L.tunnel_window_bytes, f['tunnel_window_bytes'], at('tunnel_window_bytes')),
    processWindowBytes: intField(L.process_window_bytes, f['process_window_bytes'], at('process_window_bytes')),
    maxFlowsPerAgent: intField(L.max_flows_per_agent, f['max_flows_per_agent'], at('max_flows_per_agent')),
    maxPendingOpensPerAgent: intField(L.max_pending_opens_per_agent, f['max_pending_opens_per_agent'], at('max_pending_opens_per_agent')),
    helloTimeoutSec: intField(L.hello_timeout_sec, f['hello_timeout_sec'], at('hello_timeout_sec')),
    keepaliveSec: intField(L.keepalive_sec, f['keepalive_sec'], at('keepalive_sec')),
    openTimeoutSec: intField(L.open_timeout_sec, f['open_timeout_sec'], at('open_timeout_sec')),
  };
}

/**
 * Env overrides: NC_REPLICA_ID, NC_REDIS_URL, NC_HA_MODE (errors name the env
 * var), NC_JWT_SECRET_FILE (replaces the file's auth key with hs256_secret_file).
 * Blank env values count as unset. NC_CONFIG is the loader's business.
 */
export function parseCloudConfig(raw: unknown, env: Env): CloudConfig {
  const top = section(raw, ROOT_PATH, CLOUD_FIELDS);
  const server = parseServer(top['server']);
  const auth = parseAuth(top['auth'], env);
  const listeners = parseListeners(top['listeners']);
  const limits = parseLimits(top['limits']);
  const logging = { maskIps: optBool(section(top['logging'], 'logging', LOGGING_FIELDS)['mask_ips'], 'logging.mask_ips', LOGGING_FIELDS.mask_ips.default) };
  const ha = parseHa(top['ha'], env, limits.maxFrameBytes);
  return deepFreeze({ server, auth, listeners, limits, logging, ha });
}
