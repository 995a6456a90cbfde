import type { AgentLimitsConfig, ConnectorConfig, HealthCheckConfig, HealthKind, HostPort, PremiseConfig, TargetStrategy, TokenSource } from './config.types';
import { ConfigError } from './config-error';
import { deepFreeze, envValue, intField, itemPath, NAME_PATTERN, NAME_RULE, optList, optName, optString, reqName, ROOT_PATH, section } from './fields';
import { parseHostPort } from './host-port';
import { AGENT_LIMIT_FIELDS, CONNECTOR_FIELDS, HEALTH_FIELDS, PREMISE_FIELDS } from './keys/premise-keys';
import { parseProxyUrl, parseWsUrl } from './urls';

/**
 * premise.yaml (SPEC §4) + env -> typed, frozen PremiseConfig. Env wins over
 * the file for every key; errors inside an env value name the env var
 * (`NC_CONNECTORS[1]: ...`). Blank env values count as unset. HTTPS_PROXY /
 * HTTP_PROXY / NO_PROXY are NOT read here: the dialer resolves them when
 * proxyUrl is undefined.
 */

type Env = Readonly<Record<string, string | undefined>>;

const AL = AGENT_LIMIT_FIELDS;
export const AGENT_LIMIT_DEFAULTS: AgentLimitsConfig = Object.freeze({ maxFlows: AL.max_flows.default, maxPendingConnects: AL.max_pending_connects.default });

function parseAgentLimits(raw: unknown): AgentLimitsConfig {
  const f = section(raw, 'limits', AL);
  return {
    maxFlows: intField(AL.max_flows, f['max_flows'], 'limits.max_flows'),
    maxPendingConnects: intField(AL.max_pending_connects, f['max_pending_connects'], 'limits.max_pending_connects'),
  };
}
/** `links` (or NC_LINKS, a decimal integer): how many distinct hub replicas to hold tunnels to. */
function parseLinks(raw: unknown, env: Env): number {
  const spec = PREMISE_FIELDS.links;
  const fromEnv = envValue(env, 'NC_LINKS');
  if (fromEnv === undefined) return intField(spec, raw, 'links');
  if (!/^[0-9]{1,3}$/.test(fromEnv)) throw new ConfigError('NC_LINKS', `expected an integer from ${spec.min} to ${spec.max}`);
  return intField(spec, Number(fromEnv), 'NC_LINKS');
}

/** `stripes` (or NC_STRIPES, a decimal integer): TCP connections per link. */
function parseStripes(raw: unknown, env: Env): number {
  const spec = PREMISE_FIELDS.stripes;
  const fromEnv = envValue(env, 'NC_STRIPES');
  if (fromEnv === undefined) return intField(spec, raw, 'stripes');
  if (!/^[0-9]{1,3}$/.test(fromEnv)) throw new ConfigError('NC_STRIPES', `expected an integer from ${spec.min} to ${spec.max}`);
  return intField(spec, Number(fromEnv), 'NC_STRIPES');
}

const STRATEGIES: readonly TargetStrategy[] = ['failover', 'round_robin', 'least_flows'];
const HEALTH_KINDS: readonly HealthKind[] = ['tcp', 'ldap'];
export const CONNECT_TIMEOUT_MS_DEFAULT = CONNECTOR_FIELDS.connect_timeout_ms.default;
export const MAX_TARGETS_PER_CONNECTOR = 32;
const WS_RULE = 'expected a ws:// or wss:// URL';

/** A list of hub URLs (fail-over order) from a comma-separated string. */
function splitUrls(text: string, path: string): string[] {
  return checkUrls(text.split(','), path);
}

function checkUrls(items: readonly unknown[], path: string): string[] {
  const urls: string[] = [];
  items.forEach((item, i) => {
    const p = itemPath(path, i);
    const text = typeof item === 'string' ? item.trim() : '';
    if (text === '') throw new ConfigError(p, WS_RULE);
    const url = parseWsUrl(text, p);
    if (urls.includes(url)) throw new ConfigError(p, 'duplicate URL');
    urls.push(url);
  });
  return urls;
}

function parseCloudUrls(raw: unknown, env: Env): string[] {
  const fromEnv = envValue(env, 'NC_CLOUD_URL');
  if (fromEnv !== undefined) return fromEnv.includes(',') ? splitUrls(fromEnv, 'NC_CLOUD_URL') : [parseWsUrl(fromEnv, 'NC_CLOUD_URL')];
  if (typeof raw === 'string') {
    return raw.includes(',') ? splitUrls(raw, 'cloud_url') : [parseWsUrl(optString(raw, 'cloud_url') ?? '', 'cloud_url')];
  }
  if (raw !== undefined && raw !== null && !Array.isArray(raw)) throw new ConfigError('cloud_url', `${WS_RULE} or a list of them`);
  const list = optList(raw, 'cloud_url');
  if (list === undefined || list.length === 0) throw new ConfigError('cloud_url', 'required (or NC_CLOUD_URL)');
  return checkUrls(list, 'cloud_url');
}

function parseToken(raw: unknown, env: Env): TokenSource {
  const inline = envValue(env, 'NC_TOKEN');
  if (inline !== undefined) return { kind: 'inline', token: inline };
  const envFile = envValue(env, 'NC_TOKEN_FILE');
  if (envFile !== undefined) return { kind: 'file', path: envFile };
  const file = optString(raw, 'token_file');
  if (file === undefined) throw new ConfigError('token_file', 'required (or NC_TOKEN / NC_TOKEN_FILE)');
  return { kind: 'file', path: file };
}

function pushUnique(connectors: ConnectorConfig[], connector: ConnectorConfig, path: string): void {
  const other = connectors.findIndex((c) => c.name === connector.name);
  if (other >= 0) throw new ConfigError(path, `duplicate connector name (also index ${other})`);
  connectors.push(connector);
}

/** The defaults of a connector given only its targets (NC_CONNECTORS, or a file entry without the other keys). */
function plainConnector(name: string, targets: HostPort[]): ConnectorConfig {
  return { name, target: targets[0]!, targets, strategy: 'failover', connectTimeoutMs: CONNECT_TIMEOUT_MS_DEFAULT, health: undefined };
}

function checkTargets(targets: HostPort[], path: string): HostPort[] {
  if (targets.length === 0) throw new ConfigError(path, 'expected at least one host:port');
  if (targets.length > MAX_TARGETS_PER_CONNECTOR) throw new ConfigError(path, `at most ${MAX_TARGETS_PER_CONNECTOR} targets`);
  const seen = new Set<string>();
  targets.forEach((t, i) => {
    const key = `${t.host}:${t.port}`;
    if (seen.has(key)) throw new ConfigError(itemPath(path, i), 'duplicate target');
    seen.add(key);
  });
  return targets;
}

/** `addomain=dc1:389|dc2:389,pg=db:5432` (several targets of one connector separated by `|`). */
function parseEnvConnectors(text: string): ConnectorConfig[] {
  const connectors: ConnectorConfig[] = [];
  text.split(',').forEach((entry, i) => {
    const path = itemPath('NC_CONNECTORS', i);
    const eq = entry.indexOf('=');
    if (eq < 0) throw new ConfigError(path, 'expected name=host:port');
    const name = entry.slice(0, eq).trim();
    if (!NAME_PATTERN.test(name)) throw new ConfigError(path, NAME_RULE);
    const targets = entry
      .slice(eq + 1)
      .split('|')
      .map((t) => parseHostPort(t.trim(), path, 1));
    pushUnique(connectors, plainConnector(name, checkTargets(targets, path)), path);
  });
  return connectors;
}

function parseHealth(raw: unknown, path: string): HealthCheckConfig | undefined {
  if (raw === undefined || raw === null) return undefined;
  const f = section(raw, path, HEALTH_FIELDS);
  const H = HEALTH_FIELDS;
  const kindText = optString(f['kind'], `${path}.kind`) ?? H.kind.default;
  const kind = HEALTH_KINDS.find((k) => k === kindText);
  if (kind === undefined) throw new ConfigError(`${path}.kind`, `expected one of ${HEALTH_KINDS.join(' | ')}`);
  const intervalSec = intField(H.interval_sec, f['interval_sec'], `${path}.interval_sec`);
  const timeoutMs = intField(H.timeout_ms, f['timeout_ms'], `${path}.timeout_ms`);
  if (timeoutMs > intervalSec * 1000) throw new ConfigError(`${path}.timeout_ms`, 'must not exceed interval_sec * 1000');
  return {
    intervalSec,
    timeoutMs,
    fall: intField(H.fall, f['fall'], `${path}.fall`),
    rise: intField(H.rise, f['rise'], `${path}.rise`),
    kind,
  };
}

function parseFileTargets(f: Readonly<Record<string, unknown>>, path: string): HostPort[] {
  const single = f['target'];
  const list = optList(f['targets'], `${path}.targets`);
  const hasSingle = single !== undefined && single !== null;
  if (hasSingle && list !== undefined) throw new ConfigError(`${path}.targets`, 'give either target or targets, not both');
  if (hasSingle) return [parseHostPort(single, `${path}.target`, 1)];
  if (list === undefined) throw new ConfigError(`${path}.target`, 'required (or targets)');
  return checkTargets(
    list.map((t, j) => parseHostPort(t, itemPath(`${path}.targets`, j), 1)),
    `${path}.targets`,
  );
}

function parseFileConnectors(raw: unknown): ConnectorConfig[] {
  const connectors: ConnectorConfig[] = [];
  (optList(raw, 'connectors') ?? []).forEach((item, i) => {
    const path = itemPath('connectors', i);
    if (item === null || item === undefined) throw new ConfigError(path, 'expected a mapping');
    const f = section(item, path, CONNECTOR_FIELDS);
    const name = reqName(f['name'], `${path}.name`);
    const targets = parseFileTargets(f, path);
    const strategyText = optString(f['strategy'], `${path}.strategy`) ?? CONNECTOR_FIELDS.strategy.default;
    const strategy = STRATEGIES.find((s) => s === strategyText);
    if (strategy === undefined) throw new ConfigError(`${path}.strategy`, `expected one of ${STRATEGIES.join(' | ')}`);
    pushUnique(
      connectors,
      {
        ...plainConnector(name, targets),
        strategy,
        connectTimeoutMs: intField(CONNECTOR_FIELDS.connect_timeout_ms, f['connect_timeout_ms'], `${path}.connect_timeout_ms`),
        health: parseHealth(f['health'], `${path}.health`),
      },
      `${path}.name`,
    );
  });
  return connectors;
}

export function parsePremiseConfig(raw: unknown, env: Env): PremiseConfig {
  const top = section(raw, ROOT_PATH, PREMISE_FIELDS);
  const cloudUrls = parseCloudUrls(top['cloud_url'], env);

  const agentEnv = envValue(env, 'NC_AGENT_ID');
  const agentId = agentEnv !== undefined ? optName(agentEnv, 'NC_AGENT_ID') : optName(top['agent_id'], 'agent_id');
  if (agentId === undefined) throw new ConfigError('agent_id', 'required (or NC_AGENT_ID)');

  const token = parseToken(top['token_file'], env);
  const caFile = envValue(env, 'NC_CA_FILE') ?? optString(top['ca_file'], 'ca_file');

  const proxyEnv = envValue(env, 'NC_PROXY_URL');
  const proxyFile = optString(top['proxy_url'], 'proxy_url');
  const proxyUrl =
    proxyEnv !== undefined ? parseProxyUrl(proxyEnv, 'NC_PROXY_URL') : proxyFile === undefined ? undefined : parseProxyUrl(proxyFile, 'proxy_url');

  const connectorsEnv = envValue(env, 'NC_CONNECTORS');
  const connectors = connectorsEnv !== undefined ? parseEnvConnectors(connectorsEnv) : parseFileConnectors(top['connectors']);
  if (connectors.length === 0) throw new ConfigError('connectors', 'required (or NC_CONNECTORS)');

  const limits = parseAgentLimits(top['limits']);
  const links = parseLinks(top['links'], env);
  const stripes = parseStripes(top['stripes'], env);
  return deepFreeze({ cloudUrls, agentId, token, caFile, proxyUrl, connectors, limits, links, stripes });
}
