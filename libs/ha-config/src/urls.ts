import { ConfigError } from './config-error';

/** URL checks. Errors never echo the URL (it may carry credentials). */

function parseUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/** A hub URL (agent -> hub) or a mesh peer URL (hub -> hub). Returned as written. */
export function parseWsUrl(text: string, path: string): string {
  const url = parseUrl(text);
  if (url === undefined || (url.protocol !== 'ws:' && url.protocol !== 'wss:') || url.hostname === '') {
    throw new ConfigError(path, 'expected a ws:// or wss:// URL');
  }
  return text;
}

const REDIS_TOPOLOGY_URL = /^rediss?\+(sentinel|cluster):\/\/([^/@]*@)?[^/@]+(\/.*)?$/;

/**
 * `redis://` / `rediss://` (standalone), `redis+sentinel://h1:26379,h2:26379/<master>[/db]` or
 * `redis+cluster://h1:7000,h2:7001` (also `rediss+...`). The registry parses the details.
 */
export function parseRedisUrl(text: string, path: string): string {
  if (REDIS_TOPOLOGY_URL.test(text)) return text;
  const url = parseUrl(text);
  if (url === undefined || (url.protocol !== 'redis:' && url.protocol !== 'rediss:') || url.hostname === '') {
    throw new ConfigError(path, 'expected a redis://, rediss://, redis+sentinel:// or redis+cluster:// URL');
  }
  return text;
}

/** An HTTP CONNECT proxy; `proxy.corp:3128` without a scheme means `http://proxy.corp:3128` (as curl does). */
export function parseProxyUrl(text: string, path: string): string {
  const withScheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(text) ? text : `http://${text}`;
  const url = parseUrl(withScheme);
  if (url === undefined || url.protocol !== 'http:' || url.hostname === '') {
    throw new ConfigError(path, 'expected an http:// proxy URL (HTTP CONNECT)');
  }
  return withScheme;
}
