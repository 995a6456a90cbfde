/**
 * `ha.redis_url` (env NC_REDIS_URL) parsing. Pure: no I/O, no ioredis.
 *
 *   redis://[user[:password]@]host[:port][/db]                 standalone (default port 6379, db 0)
 *   rediss://...                                               standalone over TLS
 *   redis+sentinel://[user[:password]@]h1[:port],h2[:port]/<master-name>[/db]
 *                                                              Sentinel (default port 26379)
 *   rediss+sentinel://...                                      Sentinel, TLS to sentinels and data nodes
 *   redis+cluster://[user[:password]@]h1[:port],h2[:port]      Cluster seed nodes (default port 6379)
 *   rediss+cluster://...                                       Cluster over TLS
 *
 * The credentials (percent-encoded when they contain ':', '@', '/', ',', '%') authenticate against
 * the data nodes (standalone / Sentinel-managed master / every Cluster node); a Sentinel that needs
 * its own password is configured through `RedisStoreOptions.redisOptions.sentinelPassword`.
 * IPv6 hosts are written in brackets: `redis://[::1]:6379`.
 *
 * Error messages never echo the URL or the credentials (the URL may carry a password): they name the
 * part that is wrong, e.g. `redis+sentinel:// needs a master name: ...`.
 */

export interface RedisHostPort {
  host: string;
  port: number;
}

interface RedisUrlCommon {
  /** rediss / rediss+sentinel / rediss+cluster */
  tls: boolean;
  username?: string;
  password?: string;
}

export interface StandaloneRedisUrl extends RedisUrlCommon, RedisHostPort {
  kind: 'standalone';
  db: number;
}

export interface SentinelRedisUrl extends RedisUrlCommon {
  kind: 'sentinel';
  sentinels: RedisHostPort[];
  /** Master name as configured by `sentinel monitor <name> ...`. */
  name: string;
  db: number;
}

export interface ClusterRedisUrl extends RedisUrlCommon {
  kind: 'cluster';
  /** Seed nodes; the client discovers the rest with CLUSTER SLOTS. */
  nodes: RedisHostPort[];
}

export type ParsedRedisUrl = StandaloneRedisUrl | SentinelRedisUrl | ClusterRedisUrl;
export type RedisUrlKind = ParsedRedisUrl['kind'];

/** A bad `ha.redis_url`; `message` is the detail (safe to print: no credentials). */
export class RedisUrlError extends Error {
  constructor(msg: string) {
    super(msg);
    this.name = 'RedisUrlError';
  }
}

const SCHEMES: Record<string, { kind: RedisUrlKind; tls: boolean; defaultPort: number }> = {
  'redis:': { kind: 'standalone', tls: false, defaultPort: 6379 },
  'rediss:': { kind: 'standalone', tls: true, defaultPort: 6379 },
  'redis+sentinel:': { kind: 'sentinel', tls: false, defaultPort: 26379 },
  'rediss+sentinel:': { kind: 'sentinel', tls: true, defaultPort: 26379 },
  'redis+cluster:': { kind: 'cluster', tls: false, defaultPort: 6379 },
  'rediss+cluster:': { kind: 'cluster', tls: true, defaultPort: 6379 },
};

const EXPECTED =
  'expected redis://host:port[/db], rediss://..., redis+sentinel://host:port[,host:port...]/<master-name>[/db] ' +
  'or redis+cluster://host:port[,host:port...]';
const HOSTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;
const IPV6 = /^[0-9A-Fa-f:.]+(?:%[A-Za-z0-9_.-]+)?$/;
const MASTER_NAME = /^[A-Za-z0-9_.-]+$/;
const MAX_DB = 1_000_000;

/** Parse `ha.redis_url`; throws `RedisUrlError` naming what is wrong. */
export function parseRedisUrl(url: string): ParsedRedisUrl {
  if (typeof url !== 'string' || url.trim() === '') throw new RedisUrlError(`empty URL: ${EXPECTED}`);
  if (url !== url.trim() || /\s/.test(url)) throw new RedisUrlError('URL contains whitespace');
  const m = /^([A-Za-z][A-Za-z0-9+.-]*:)\/\/(.*)$/.exec(url);
  if (m === null) throw new RedisUrlError(`not a URL: ${EXPECTED}`);
  const schemeText = m[1]!.toLowerCase();
  const scheme = SCHEMES[schemeText];
  if (scheme === undefined) {
    throw new RedisUrlError(`unsupported scheme '${schemeText.slice(0, 32)}//': ${EXPECTED}`);
  }
  let rest = m[2]!;
  if (rest.includes('#')) throw new RedisUrlError('a fragment (#...) is not supported');
  if (rest.includes('?')) throw new RedisUrlError('query parameters (?...) are not supported');

  // Credentials: everything before the last '@' (so an unencoded '/' in a password still works).
  const creds: { username?: string; password?: string } = {};
  const at = rest.lastIndexOf('@');
  if (at !== -1) {
    Object.assign(creds, parseUserInfo(rest.slice(0, at)));
    rest = rest.slice(at + 1);
  }

  const slash = rest.indexOf('/');
  const authority = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  if (authority === '') throw new RedisUrlError(`no host: ${EXPECTED}`);
  const hosts = authority.split(',').map((h, i, all) => parseHostPort(h, scheme.defaultPort, all.length > 1 ? i + 1 : 0));
  const common: RedisUrlCommon = { tls: scheme.tls, ...creds };

  switch (scheme.kind) {
    case 'standalone': {
      if (hosts.length > 1) {
        throw new RedisUrlError(
          `${schemeText}// takes one host (got ${hosts.length}); use redis+sentinel:// or redis+cluster:// for several`,
        );
      }
      const segs = pathSegments(path);
      if (segs.length > 1) throw new RedisUrlError(`path must be /<db> (got ${segs.length} segments)`);
      return { kind: 'standalone', ...hosts[0]!, db: segs.length === 1 ? parseDb(segs[0]!) : 0, ...common };
    }
    case 'sentinel': {
      const segs = pathSegments(path);
      if (segs.length === 0) {
        throw new RedisUrlError(`${schemeText}// needs a master name: ${schemeText}//host:26379[,host:port...]/<master-name>[/db]`);
      }
      if (segs.length > 2) throw new RedisUrlError(`path must be /<master-name>[/db] (got ${segs.length} segments)`);
      const name = segs[0]!;
      if (!MASTER_NAME.test(name)) throw new RedisUrlError('master name must be letters, digits, ".", "_" or "-"');
      return {
        kind: 'sentinel',
        sentinels: hosts,
        name,
        db: segs.length === 2 ? parseDb(segs[1]!) : 0,
        ...common,
      };
    }
    case 'cluster': {
      const segs = pathSegments(path);
      if (segs.length > 1 || (segs.length === 1 && parseDb(segs[0]!) !== 0)) {
        throw new RedisUrlError('Redis Cluster has only database 0: drop the /<db> path');
      }
      return { kind: 'cluster', nodes: hosts, ...common };
    }
  }
}

/** The error detail for a bad URL (for the hub's `ha.redis_url: <detail>` config error), else undefined. */
export function validateRedisUrl(url: string): string | undefined {
  try {
    parseRedisUrl(url);
    return undefined;
  } catch (e) {
    if (e instanceof RedisUrlError) return e.message;
    throw e;
  }
}

/** A log-safe one-line description (no credentials), e.g. `cluster 10.0.0.1:7000,10.0.0.2:7000 tls`. */
export function describeRedisUrl(p: ParsedRedisUrl): string {
  const hp = (h: RedisHostPort): string => `${h.host.includes(':') ? `[${h.host}]` : h.host}:${h.port}`;
  const tls = p.tls ? ' tls' : '';
  const auth = p.password !== undefined ? ' auth' : '';
  switch (p.kind) {
    case 'standalone':
      return `standalone ${hp(p)}/${p.db}${tls}${auth}`;
    case 'sentinel':
      return `sentinel ${p.sentinels.map(hp).join(',')} master=${p.name} db=${p.db}${tls}${auth}`;
    case 'cluster':
      return `cluster ${p.nodes.map(hp).join(',')}${tls}${auth}`;
  }
}

function parseUserInfo(info: string): { username?: string; password?: string } {
  const colon = info.indexOf(':');
  const rawUser = colon === -1 ? info : info.slice(0, colon);
  const rawPass = colon === -1 ? undefined : info.slice(colon + 1);
  const out: { username?: string; password?: string } = {};
  const user = decode(rawUser, 'user name');
  if (user !== '') out.username = user;
  if (rawPass !== undefined) {
    const pass = decode(rawPass, 'password');
    if (pass === '') throw new RedisUrlError('empty password after ":" in the credentials');
    out.password = pass;
  }
  if (out.username === undefined && out.password === undefined) throw new RedisUrlError('empty credentials before "@"');
  return out;
}

function decode(s: string, what: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new RedisUrlError(`invalid percent-encoding in the ${what}`);
  }
}

function parseHostPort(text: string, defaultPort: number, index: number): RedisHostPort {
  const where = index > 0 ? `host #${index}` : 'host';
  if (text === '') throw new RedisUrlError(`${where} is empty (stray ",")`);
  let host: string;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close === -1) throw new RedisUrlError(`${where}: unterminated "[" of an IPv6 address`);
    host = text.slice(1, close);
    const after = text.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) throw new RedisUrlError(`${where}: expected ":port" after "]"`);
    portText = after === '' ? undefined : after.slice(1);
    if (!IPV6.test(host) || !host.includes(':')) throw new RedisUrlError(`${where}: "${host}" is not an IPv6 address`);
  } else {
    const colon = text.indexOf(':');
    if (colon !== -1 && text.indexOf(':', colon + 1) !== -1) {
      throw new RedisUrlError(`${where}: an IPv6 address must be written in brackets, e.g. [::1]:6379`);
    }
    host = colon === -1 ? text : text.slice(0, colon);
    portText = colon === -1 ? undefined : text.slice(colon + 1);
    if (!HOSTNAME.test(host)) throw new RedisUrlError(`${where}: "${host.slice(0, 64)}" is not a valid host name`);
  }
  if (portText === undefined) return { host, port: defaultPort };
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    throw new RedisUrlError(`${where}: port "${portText.slice(0, 16)}" is not a number 1-65535`);
  }
  return { host, port: Number(portText) };
}

function pathSegments(path: string): string[] {
  if (path === '' || path === '/') return [];
  const segs = path.slice(1).split('/');
  if (segs[segs.length - 1] === '') segs.pop(); // one trailing slash is tolerated
  if (segs.some((s) => s === '')) throw new RedisUrlError('empty path segment ("//")');
  return segs;
}

function parseDb(s: string): number {
  if (!/^\d+$/.test(s) || Number(s) > MAX_DB) throw new RedisUrlError(`db "${s.slice(0, 16)}" is not a non-negative integer`);
  return Number(s);
}
