import { isIP } from 'node:net';

/**
 * Picks the HTTP CONNECT proxy for a hub URL (SPEC §4).
 *
 * Rules, in order:
 * 1. An explicit `proxy_url` (config / NC_PROXY_URL) wins for ws:// and wss:// alike. NO_PROXY does
 *    not apply to it: an operator who names a proxy means it.
 * 2. Otherwise the environment, as curl reads it:
 *    - wss:// (and https://) -> `https_proxy`, then `HTTPS_PROXY`;
 *    - ws://  (and http://)  -> `http_proxy`, then `HTTP_PROXY`.
 *    The lowercase name is checked first and wins when both are set (curl's order). curl ignores
 *    uppercase HTTP_PROXY altogether (the "httpoxy" CGI issue); we accept it as a fallback because the
 *    spec says either case is honoured and the agent is not a CGI program.
 *    An empty variable counts as unset. `ALL_PROXY` is deliberately NOT read: it is often a socks://
 *    URL on desktops, which we cannot use.
 * 3. `no_proxy`, then `NO_PROXY` (lowercase wins), is a comma-separated list; whitespace around
 *    entries is ignored. An entry is:
 *    - `*` alone: no proxy for any host;
 *    - a host name, optionally with a leading dot: matches the name itself and any sub-domain
 *      (`example.com` and `.example.com` both match `example.com` and `hub.example.com`, never
 *      `badexample.com`); case-insensitive; a trailing dot is ignored;
 *    - an IP literal (`10.0.0.5`, `::1`, `[::1]`): matches that exact address only (no CIDR ranges);
 *    - any of the above with `:port` (`hub.corp:8443`, `[::1]:443`): matches only that port of the
 *      target (ws:// defaults to 80, wss:// to 443).
 *
 * Proxy URLs without a scheme (`proxy.corp:3128`) are read as http://, as curl does. Only http://
 * proxies are supported; https:// and socks*:// proxies throw. A proxy URL without a port uses 80
 * (curl would use 1080; the WHATWG URL parser cannot tell `http://p` from `http://p:80`).
 */
export function resolveProxy(
  targetUrl: string,
  explicitProxyUrl: string | undefined,
  env: Record<string, string | undefined>,
): URL | undefined {
  const target = new URL(targetUrl);
  const secure = isSecureScheme(target.protocol);

  if (explicitProxyUrl !== undefined && explicitProxyUrl.trim() !== '') {
    return parseProxyUrl(explicitProxyUrl.trim());
  }

  const fromEnv = secure
    ? firstSet(env, 'https_proxy', 'HTTPS_PROXY')
    : firstSet(env, 'http_proxy', 'HTTP_PROXY');
  if (fromEnv === undefined) return undefined;

  const noProxy = firstSet(env, 'no_proxy', 'NO_PROXY');
  if (noProxy !== undefined) {
    const port = target.port === '' ? (secure ? 443 : 80) : Number(target.port);
    if (bypassesProxy(normaliseHost(target.hostname), port, noProxy)) return undefined;
  }
  return parseProxyUrl(fromEnv);
}

/** Parses and checks a proxy URL: http:// only, host required. Errors never echo credentials. */
export function parseProxyUrl(raw: string): URL {
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error('proxy URL is not a valid URL (expected http://[user:pass@]host:port)');
  }
  if (url.protocol !== 'http:') {
    throw new Error(
      `unsupported proxy scheme "${url.protocol.replace(/:$/, '')}://": only http:// (HTTP CONNECT) proxies are supported`,
    );
  }
  if (url.hostname === '') throw new Error('proxy URL has no host (expected http://host:port)');
  return url;
}

/** `http://host:port` of a proxy, without credentials, for log and error messages. */
export function redactProxyUrl(url: URL): string {
  return `${url.protocol}//${url.host}`;
}

function isSecureScheme(protocol: string): boolean {
  if (protocol === 'wss:' || protocol === 'https:') return true;
  if (protocol === 'ws:' || protocol === 'http:') return false;
  throw new Error(`unsupported hub URL scheme "${protocol}" (expected ws:// or wss://)`);
}

function firstSet(env: Record<string, string | undefined>, ...names: string[]): string | undefined {
  for (const name of names) {
    const value = env[name]?.trim();
    if (value !== undefined && value !== '') return value;
  }
  return undefined;
}

/** Lowercase, no IPv6 brackets, no trailing dot. */
function normaliseHost(host: string): string {
  let h = host.toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

/** IPv6 literals in the URL parser's canonical form (`0:0::1` -> `::1`), as target hosts are. */
function canonicalIp(ip: string): string {
  return isIP(ip) === 6 ? normaliseHost(new URL(`http://[${ip}]/`).hostname) : ip;
}

interface NoProxyEntry {
  host: string;
  port?: number;
}

function parseNoProxyEntry(raw: string): NoProxyEntry | undefined {
  const entry = raw.trim().toLowerCase();
  if (entry === '') return undefined;
  if (entry.startsWith('[')) {
    const close = entry.indexOf(']');
    if (close < 0) return undefined;
    const host = entry.slice(1, close);
    const rest = entry.slice(close + 1);
    if (rest === '') return { host };
    return /^:\d+$/.test(rest) ? { host, port: Number(rest.slice(1)) } : undefined;
  }
  if (isIP(entry) === 6) return { host: entry };
  const m = /^(.*):(\d+)$/.exec(entry);
  if (m && m[1] !== undefined && m[2] !== undefined) return { host: m[1], port: Number(m[2]) };
  return { host: entry };
}

function bypassesProxy(host: string, port: number, noProxy: string): boolean {
  for (const raw of noProxy.split(',')) {
    if (raw.trim() === '*') return true;
    const entry = parseNoProxyEntry(raw);
    if (entry === undefined) continue;
    if (entry.port !== undefined && entry.port !== port) continue;
    if (isIP(entry.host) !== 0 || isIP(host) !== 0) {
      if (canonicalIp(entry.host) === host) return true;
      continue;
    }
    const suffix = normaliseHost(entry.host.startsWith('.') ? entry.host.slice(1) : entry.host);
    if (suffix === '') continue;
    if (host === suffix || host.endsWith(`.${suffix}`)) return true;
  }
  return false;
}
