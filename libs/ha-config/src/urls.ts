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

export function parseRedisUrl(text: string, path: string): string {
  const url = parseUrl(text);
  if (url === undefined || (url.protocol !== 'redis:' && url.protocol !== 'rediss:')) {
    throw new ConfigError(path, 'expected a redis:// or rediss:// URL');
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
