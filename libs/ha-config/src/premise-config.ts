import type { AgentLimitsConfig, ConnectorConfig, PremiseConfig, TokenSource } from './config.types';
import { ConfigError } from './config-error';
import { deepFreeze, envValue, intField, itemPath, NAME_PATTERN, NAME_RULE, optInt, optList, optName, optString, reqName, ROOT_PATH, section } from './fields';
import { parseHostPort } from './host-port';
import { AGENT_LIMIT_FIELDS, CONNECTOR_FIELDS, PREMISE_FIELDS } from './keys/premise-keys';
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

/** `addomain=openldap:389,pg=db:5432` */
function parseEnvConnectors(text: string): ConnectorConfig[] {
  const connectors: ConnectorConfig[] = [];
  text.split(',').forEach((entry, i) => {
    const path = itemPath('NC_CONNECTORS', i);
    const eq = entry.indexOf('=');
    if (eq < 0) throw new ConfigError(path, 'expected name=host:port');
    const name = entry.slice(0, eq).trim();
    if (!NAME_PATTERN.test(name)) throw new ConfigError(path, NAME_RULE);
    const target = parseHostPort(entry.slice(eq + 1).trim(), path, 1);
    pushUnique(connectors, { name, target }, path);
  });
  return connectors;
}

function parseFileConnectors(raw: unknown): ConnectorConfig[] {
  const connectors: ConnectorConfig[] = [];
  (optList(raw, 'connectors') ?? []).forEach((item, i) => {
    const path = itemPath('connectors', i);
    if (item === null || item === undefined) throw new ConfigError(path, 'expected a mapping');
    const f = section(item, path, CONNECTOR_FIELDS);
    const name = reqName(f['name'], `${path}.name`);
    if (f['target'] === undefined || f['target'] === null) throw new ConfigError(`${path}.target`, 'required');
    pushUnique(connectors, { name, target: parseHostPort(f['target'], `${path}.target`, 1) }, `${path}.name`);
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
  return deepFreeze({ cloudUrls, agentId, token, caFile, proxyUrl, connectors, limits });
}
