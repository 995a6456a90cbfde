import { HEADER_BYTES, MAX_CONTROL_PAYLOAD_BYTES } from '@nowconnect/frames';
import type { AuthConfig, AuthKeyConfig, Cidr, CloudConfig, LimitsConfig, ListenerConfig, ServerConfig } from './config.types';
import { parseCidr } from './cidr';
import { ConfigError } from './config-error';
import { childPath, deepFreeze, envValue, itemPath, optBool, optInt, optList, optString, reqName, ROOT_PATH, section } from './fields';
import { parseHa } from './ha-section';
import { formatHostPort, parseHostPort } from './host-port';

/**
 * cloud.yaml (SPEC §3): unknown YAML value + env -> typed, frozen CloudConfig.
 * Throws ConfigError naming the key path of the first problem.
 */

type Env = Readonly<Record<string, string | undefined>>;

const TOP_KEYS = ['server', 'auth', 'listeners', 'limits', 'logging', 'ha'] as const;
const SERVER_KEYS = ['bind', 'drain_timeout_sec', 'tls'] as const;
const TLS_KEYS = ['cert_file', 'key_file'] as const;
const AUTH_KEY_KINDS = ['hs256_secret_file', 'public_key_file', 'jwks_file'] as const;
const AUTH_KEYS = ['audience', 'issuer', ...AUTH_KEY_KINDS] as const;
const LISTENER_KEYS = [
  'name',
  'bind',
  'connector',
  'allow_cidrs',
  'idle_timeout_sec',
  'max_flows_per_client_ip',
  'max_active_flows',
  'max_new_flows_per_sec',
] as const;
const LIMIT_KEYS = [
  'max_frame_bytes',
  'flow_window_bytes',
  'tunnel_window_bytes',
  'max_flows_per_agent',
  'max_pending_opens_per_agent',
  'hello_timeout_sec',
  'keepalive_sec',
] as const;
const KINDS_TEXT = AUTH_KEY_KINDS.join(' | ');

/** The smallest frame must still carry a full control payload. */
export const MIN_MAX_FRAME_BYTES = HEADER_BYTES + MAX_CONTROL_PAYLOAD_BYTES;
export const MIN_FLOW_WINDOW_BYTES = 16 * 1024;

export const LIMIT_DEFAULTS: LimitsConfig = Object.freeze({
  maxFrameBytes: 1024 * 1024,
  flowWindowBytes: 256 * 1024,
  tunnelWindowBytes: 64 * 1024 * 1024,
  maxFlowsPerAgent: 10_000,
  maxPendingOpensPerAgent: 256,
  helloTimeoutSec: 10,
  keepaliveSec: 15,
});

function parseServer(raw: unknown): ServerConfig {
  const f = section(raw, 'server', SERVER_KEYS);
  const bind = f['bind'] === undefined || f['bind'] === null ? { host: '0.0.0.0', port: 8765 } : parseHostPort(f['bind'], 'server.bind', 0);
  let tls: ServerConfig['tls'];
  if (f['tls'] !== undefined && f['tls'] !== null) {
    const t = section(f['tls'], 'server.tls', TLS_KEYS);
    const certFile = optString(t['cert_file'], 'server.tls.cert_file');
    const keyFile = optString(t['key_file'], 'server.tls.key_file');
    if (certFile === undefined) throw new ConfigError('server.tls.cert_file', 'required when server.tls is set');
    if (keyFile === undefined) throw new ConfigError('server.tls.key_file', 'required when server.tls is set');
    tls = { certFile, keyFile };
  }
  return { bind, drainTimeoutSec: optInt(f['drain_timeout_sec'], 'server.drain_timeout_sec', 30, 0, 3600), tls };
}

function parseAuth(raw: unknown, env: Env): AuthConfig {
  const f = section(raw, 'auth', AUTH_KEYS);
  const audience = optString(f['audience'], 'auth.audience') ?? 'nowconnect';
  const issuer = optString(f['issuer'], 'auth.issuer');
  const keys: AuthKeyConfig[] = [];
  for (const kind of AUTH_KEY_KINDS) {
    const path = optString(f[kind], `auth.${kind}`);
    if (path !== undefined) keys.push({ kind, path });
  }
  const envSecret = envValue(env, 'NC_JWT_SECRET_FILE');
  if (envSecret !== undefined) return { audience, issuer, key: { kind: 'hs256_secret_file', path: envSecret } };
  const [key, extra] = keys;
  if (key === undefined) throw new ConfigError('auth', `one of ${KINDS_TEXT} is required`);
  if (extra !== undefined) throw new ConfigError('auth', `only one of ${KINDS_TEXT} may be set`);
  return { audience, issuer, key };
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
    const f = section(item, path, LISTENER_KEYS);
    const name = reqName(f['name'], `${path}.name`);
    const other = listeners.findIndex((l) => l.name === name);
    if (other >= 0) throw new ConfigError(`${path}.name`, `duplicate listener name (also listeners[${other}])`);
    if (f['bind'] === undefined || f['bind'] === null) throw new ConfigError(`${path}.bind`, 'required');
    const bind = parseHostPort(f['bind'], `${path}.bind`, 0);
    const sameBind = listeners.findIndex((l) => bind.port !== 0 && formatHostPort(l.bind) === formatHostPort(bind));
    if (sameBind >= 0) throw new ConfigError(`${path}.bind`, `duplicate bind (also listeners[${sameBind}])`);
    const connector = reqName(f['connector'], `${path}.connector`);
    const optLimit = (key: string, max: number): number | undefined =>
      f[key] === undefined || f[key] === null ? undefined : optInt(f[key], `${path}.${key}`, 0, 1, max);
    listeners.push({
      name,
      bind,
      connector,
      allowCidrs: parseAllowCidrs(f['allow_cidrs'], `${path}.allow_cidrs`),
      idleTimeoutSec: optInt(f['idle_timeout_sec'], `${path}.idle_timeout_sec`, 0, 0, 7 * 24 * 3600),
      maxFlowsPerClientIp: optInt(f['max_flows_per_client_ip'], `${path}.max_flows_per_client_ip`, 0, 0, 1_000_000),
      maxActiveFlows: optLimit('max_active_flows', 10_000_000),
      maxNewFlowsPerSec: optLimit('max_new_flows_per_sec', 1_000_000),
    });
  });
  return listeners;
}

function parseLimits(raw: unknown): LimitsConfig {
  const f = section(raw, 'limits', LIMIT_KEYS);
  const d = LIMIT_DEFAULTS;
  const at = (key: string): string => childPath('limits', key);
  return {
    maxFrameBytes: optInt(f['max_frame_bytes'], at('max_frame_bytes'), d.maxFrameBytes, MIN_MAX_FRAME_BYTES, 64 * 1024 * 1024),
    flowWindowBytes: optInt(f['flow_window_bytes'], at('flow_window_bytes'), d.flowWindowBytes, MIN_FLOW_WINDOW_BYTES, 1024 * 1024 * 1024),
    tunnelWindowBytes: optInt(f['tunnel_window_bytes'], at('tunnel_window_bytes'), d.tunnelWindowBytes, 1024 * 1024, 1024 * 1024 * 1024),
    maxFlowsPerAgent: optInt(f['max_flows_per_agent'], at('max_flows_per_agent'), d.maxFlowsPerAgent, 1, 1_000_000),
    maxPendingOpensPerAgent: optInt(f['max_pending_opens_per_agent'], at('max_pending_opens_per_agent'), d.maxPendingOpensPerAgent, 1, 100_000),
    helloTimeoutSec: optInt(f['hello_timeout_sec'], at('hello_timeout_sec'), d.helloTimeoutSec, 1, 300),
    keepaliveSec: optInt(f['keepalive_sec'], at('keepalive_sec'), d.keepaliveSec, 1, 3600),
  };
}

/**
 * Env overrides: NC_REPLICA_ID, NC_REDIS_URL, NC_HA_MODE (errors name the env
 * var), NC_JWT_SECRET_FILE (replaces the file's auth key with hs256_secret_file).
 * Blank env values count as unset. NC_CONFIG is the loader's business.
 */
export function parseCloudConfig(raw: unknown, env: Env): CloudConfig {
  const top = section(raw, ROOT_PATH, TOP_KEYS);
  const server = parseServer(top['server']);
  const auth = parseAuth(top['auth'], env);
  const listeners = parseListeners(top['listeners']);
  const limits = parseLimits(top['limits']);
  const logging = { maskIps: optBool(section(top['logging'], 'logging', ['mask_ips'])['mask_ips'], 'logging.mask_ips', true) };
  const ha = parseHa(top['ha'], env, limits.maxFrameBytes);
  return deepFreeze({ server, auth, listeners, limits, logging, ha });
}
