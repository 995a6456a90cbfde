import { parseCidr } from './cidr';
import type { Cidr, HaConfig, HaMode, MeshConfig, MeshIngressConfig, MeshTlsConfig } from './config.types';
import { ConfigError } from './config-error';
import { childPath, envValue, intField, itemPath, optBool, optInt, optList, optName, optString, section } from './fields';
import { HA_FIELDS, HA_MODES, MAX_INFLIGHT_BYTES, MESH_FIELDS, MESH_INGRESS_FIELDS, MESH_TLS_FIELDS } from './keys/cloud-keys';
import { parseHostPort } from './host-port';
import { parseRedisUrl, parseWsUrl } from './urls';

/**
 * The `ha:` block of cloud.yaml (SPEC §3), with its env overrides NC_REPLICA_ID, NC_REDIS_URL, NC_HA_MODE
 * (and NC_MESH_ADVERTISE_URL for `ha.mesh.advertise_url`).
 */

type Env = Readonly<Record<string, string | undefined>>;

/** The key a hub in active mode needs when its only mesh path relies on ingress headers. */
export const TRUSTED_PROXIES_KEY = 'ha.mesh.ingress.trusted_proxies';
const MODE_RULE = "expected 'off' | 'shadow' | 'active'";
const H = HA_FIELDS;
const M = MESH_FIELDS;

export const HA_DEFAULTS = {
  replicaId: H.replica_id.default,
  readinessDegradedCode: H.readiness_degraded_code.default,
  sendQueueDepth: M.send_queue_depth.default,
  perLinkMaxInflightBytes: M.per_link_max_inflight_bytes.default,
  connectBackoffMaxSec: M.connect_backoff_max_sec.default,
  leaseSec: H.lease_sec.default,
  sweepIntervalSec: H.sweep_interval_sec.default,
} as const;

/**
 * `'off'`, `'shadow'`, `'active'`; also boolean `false`, which is what an
 * unquoted `off` becomes for a YAML 1.1 writer/reader (our parser is 1.2 and
 * hands over the string 'off', but files pass through other tools too).
 */
export function parseHaMode(value: unknown, path: string): HaMode {
  if (value === false) return 'off';
  const mode = HA_MODES.find((m) => m === (typeof value === 'string' ? value.trim() : value));
  if (mode === undefined) throw new ConfigError(path, MODE_RULE);
  return mode;
}

function parseMeshTls(raw: unknown, path: string): MeshTlsConfig {
  const f = section(raw, path, MESH_TLS_FIELDS);
  const caBundle = optString(f['ca_bundle'], childPath(path, 'ca_bundle'));
  const certFile = optString(f['cert_file'], childPath(path, 'cert_file'));
  const keyFile = optString(f['key_file'], childPath(path, 'key_file'));
  if (certFile !== undefined && keyFile === undefined) throw new ConfigError(childPath(path, 'key_file'), 'required when cert_file is set');
  if (keyFile !== undefined && certFile === undefined) throw new ConfigError(childPath(path, 'cert_file'), 'required when key_file is set');
  return { caBundle, certFile, keyFile };
}

function parseIngress(raw: unknown, path: string): MeshIngressConfig {
  const f = section(raw, path, MESH_INGRESS_FIELDS);
  const p = childPath(path, 'trusted_proxies');
  const list = optList(f['trusted_proxies'], p);
  if (list === undefined) return { trustedProxies: undefined };
  if (list.length === 0) throw new ConfigError(p, 'expected a non-empty list of CIDRs (omit the key: /mesh on server.bind answers 404)');
  const trustedProxies: Cidr[] = list.map((item, i) => {
    const ip = itemPath(p, i);
    if (typeof item !== 'string') throw new ConfigError(ip, 'expected an IPv4 or IPv6 CIDR like 10.0.0.0/8');
    return parseCidr(item, ip);
  });
  return { trustedProxies };
}

function parsePeers(raw: unknown, path: string): string[] {
  const peers: string[] = [];
  (optList(raw, path) ?? []).forEach((item, i) => {
    const p = itemPath(path, i);
    const text = optString(item, p);
    if (text === undefined) throw new ConfigError(p, 'expected a ws:// or wss:// URL');
    const url = parseWsUrl(text, p);
    if (peers.includes(url)) throw new ConfigError(p, 'duplicate peer');
    peers.push(url);
  });
  return peers;
}

function parseMesh(raw: unknown, path: string, maxFrameBytes: number, env: Env): MeshConfig {
  const f = section(raw, path, M);
  const at = (key: string): string => childPath(path, key);
  const listen = f['listen'] === undefined || f['listen'] === null ? undefined : parseHostPort(f['listen'], at('listen'), 0);
  const inflightPath = at('per_link_max_inflight_bytes');
  const inflightDefault = Math.max(HA_DEFAULTS.perLinkMaxInflightBytes, maxFrameBytes);
  const perLinkMaxInflightBytes = optInt(f['per_link_max_inflight_bytes'], inflightPath, inflightDefault, M.per_link_max_inflight_bytes.min, MAX_INFLIGHT_BYTES);
  if (perLinkMaxInflightBytes < maxFrameBytes) {
    throw new ConfigError(inflightPath, `must be at least limits.max_frame_bytes (${maxFrameBytes})`);
  }
  return {
    listen,
    peers: parsePeers(f['peers'], at('peers')),
    requireMtls: optBool(f['require_mtls'], at('require_mtls'), true),
    tls: parseMeshTls(f['tls'], at('tls')),
    sendQueueDepth: intField(M.send_queue_depth, f['send_queue_depth'], at('send_queue_depth')),
    perLinkMaxInflightBytes,
    connectBackoffMaxSec: intField(M.connect_backoff_max_sec, f['connect_backoff_max_sec'], at('connect_backoff_max_sec')),
    advertiseUrl: parseAdvertiseUrl(f['advertise_url'], at('advertise_url'), env),
    ingress: parseIngress(f['ingress'], at('ingress')),
  };
}

/**
 * Whether the mesh accepts links only through ingress headers (require_mtls without a TLS listener of
 * its own): then those headers need `ha.mesh.ingress.trusted_proxies`.
 */
export function meshNeedsTrustedProxies(mesh: MeshConfig): boolean {
  const tlsListener = mesh.listen !== undefined && mesh.tls.certFile !== undefined;
  return mesh.requireMtls && !tlsListener;
}

function parseAdvertiseUrl(raw: unknown, path: string, env: Env): string | undefined {
  const fromEnv = envValue(env, 'NC_MESH_ADVERTISE_URL');
  if (fromEnv !== undefined) return parseWsUrl(fromEnv, 'NC_MESH_ADVERTISE_URL');
  const text = optString(raw, path);
  return text === undefined ? undefined : parseWsUrl(text, path);
}

function parseDegradedCode(value: unknown, path: string): number {
  if (value === undefined || value === null) return HA_DEFAULTS.readinessDegradedCode;
  if (value === 200 || (typeof value === 'number' && Number.isInteger(value) && value >= 500 && value <= 599)) return value;
  throw new ConfigError(path, 'expected 200 or a 5xx status code');
}

/** `maxFrameBytes` (already parsed limits) bounds the mesh in-flight budget from below: one frame must fit. */
export function parseHa(raw: unknown, env: Env, maxFrameBytes: number): HaConfig {
  const path = 'ha';
  const f = section(raw, path, H);
  const at = (key: string): string => childPath(path, key);

  const modeEnv = envValue(env, 'NC_HA_MODE');
  const mode = modeEnv !== undefined ? parseHaMode(modeEnv, 'NC_HA_MODE') : f['mode'] === undefined || f['mode'] === null ? 'off' : parseHaMode(f['mode'], at('mode'));

  const replicaEnv = envValue(env, 'NC_REPLICA_ID');
  const replicaId = replicaEnv !== undefined ? optName(replicaEnv, 'NC_REPLICA_ID') : optName(f['replica_id'], at('replica_id'));

  const redisEnv = envValue(env, 'NC_REDIS_URL');
  const redisFile = optString(f['redis_url'], at('redis_url'));
  const redisUrl = redisEnv !== undefined ? parseRedisUrl(redisEnv, 'NC_REDIS_URL') : redisFile === undefined ? undefined : parseRedisUrl(redisFile, at('redis_url'));

  const enabled = optBool(f['enabled'], at('enabled'), H.enabled.default);
  if (modeEnv !== undefined && mode !== 'off' && !enabled) {
    // Chosen over silently enabling HA: an env var must not turn on a registry and a mesh the file never configured.
    throw new ConfigError('NC_HA_MODE', `${mode} requires ha.enabled: true (set ha.enabled in the config, or unset NC_HA_MODE)`);
  }
  const mesh = parseMesh(f['mesh'], at('mesh'), maxFrameBytes, env);
  if (enabled && mode === 'active' && meshNeedsTrustedProxies(mesh) && mesh.ingress.trustedProxies === undefined) {
    // Issue 13 finding 1: without it no peer could ever link (every /mesh answers 404), and honouring the
    // headers from anyone lets a stranger into the mesh.
    throw new ConfigError(
      TRUSTED_PROXIES_KEY,
      'required in active mode when the mesh has no TLS listener of its own (ha.mesh.listen with ha.mesh.tls.cert_file) and require_mtls is on: list the ingress addresses that may send client-cert headers',
    );
  }
  return {
    enabled,
    mode,
    replicaId: replicaId ?? HA_DEFAULTS.replicaId,
    redisUrl,
    readinessDegradedCode: parseDegradedCode(f['readiness_degraded_code'], at('readiness_degraded_code')),
    leaseSec: intField(H.lease_sec, f['lease_sec'], at('lease_sec')),
    sweepIntervalSec: intField(H.sweep_interval_sec, f['sweep_interval_sec'], at('sweep_interval_sec')),
    mesh,
  };
}
