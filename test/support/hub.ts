import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { waitForHttpStatus, type HttpResult, httpRequest } from './http';
import { mintToken, randomSecret, type MintOptions } from './jwt';
import { scrape } from './metrics';
import { freePort } from './ports';
import { Proc, type ExitInfo } from './proc';
import { makeTmpDir } from './tmp';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const HUB_MAIN = path.join(REPO_ROOT, 'dist', 'apps', 'cloud-hub', 'main.js');
export const AGENT_MAIN = path.join(REPO_ROOT, 'dist', 'apps', 'premise-agent', 'main.js');

export function requireBuilt(file: string): void {
  if (!fs.existsSync(file)) {
    throw new Error(`${path.relative(REPO_ROOT, file)} is missing: run \`npm run build\` first`);
  }
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Deep merge of plain objects (arrays and scalars from `over` replace). */
export function deepMerge(base: Obj, over: Obj): Obj {
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isObj(b) && isObj(v) ? deepMerge(b, v) : v;
  }
  return out;
}

/** A listener entry for the hub config, bound on 127.0.0.1. */
export function listener(name: string, connector: string, port: number, extra: Obj = {}): Obj {
  return { name, bind: `127.0.0.1:${port}`, connector, ...extra };
}

export interface StartHubOptions {
  /** Hub YAML config as an object; deep-merged over the test defaults (server.bind on a free port,
   *  auth.audience nowconnect, auth.hs256_secret_file -> generated secret, no listeners). */
  config?: Obj;
  /** Extra env (NC_* from the parent environment is never inherited). */
  env?: Record<string, string | undefined>;
  /** HS256 secret to write into the generated secret file (default random). */
  secret?: string;
  /** Write this YAML text verbatim instead of config (bad-config tests). */
  rawYaml?: string;
  /** Also wait for /readyz 200 (default false: /healthz 200 only). */
  waitReady?: boolean;
  /** CA (PEM) to trust when the hub serves https (server.tls). */
  ca?: string | Buffer;
  timeoutMs?: number;
  name?: string;
}

export interface HubHandle {
  proc: Proc;
  /** http(s)://127.0.0.1:<port> */
  httpUrl: string;
  /** ws(s)://127.0.0.1:<port>/tunnel */
  tunnelUrl: string;
  /** ws(s)://127.0.0.1:<port>/mesh (on server.bind) */
  meshUrl: string;
  secret: string;
  secretFile: string;
  port: number;
  configPath: string;
  dir: string;
  /** The config object as written. */
  config: Obj;
  /** An HS256 token for this hub's secret (sub = agentId). */
  token(agentId: string, opts?: Omit<MintOptions, 'secret' | 'sub'>): Promise<string>;
  metrics(): Promise<string>;
  get(pathname: string): Promise<HttpResult>;
  /** SIGTERM (drain) and wait for the exit. */
  stop(timeoutMs?: number): Promise<ExitInfo>;
  /** SIGKILL (crash). */
  kill(): Promise<ExitInfo>;
}

function portOf(bind: unknown): number | undefined {
  if (typeof bind !== 'string') return undefined;
  const m = /:(\d+)$/.exec(bind);
  return m?.[1] !== undefined ? Number(m[1]) : undefined;
}

/** Spawn a hub without waiting for it (e.g. to assert a bad config exits 2). */
export async function spawnHub(opts: StartHubOptions = {}): Promise<HubHandle> {
  requireBuilt(HUB_MAIN);
  const dir = makeTmpDir('nc-hub-');
  const secret = opts.secret ?? randomSecret();
  const secretFile = path.join(dir, 'jwt-secret');
  fs.writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });

  const userCfg = opts.config ?? {};
  const userServer = isObj(userCfg.server) ? userCfg.server : {};
  const userAuth = isObj(userCfg.auth) ? userCfg.auth : {};
  const port = portOf(userServer.bind) ?? (await freePort());
  const hasKey = ['hs256_secret_file', 'hs256_secret_files', 'public_key_file', 'jwks_file'].some((k) => k in userAuth);
  const defaults: Obj = {
    server: { bind: `127.0.0.1:${port}`, admin_bind: '127.0.0.1:0', drain_timeout_sec: 5 },
    auth: { audience: 'nowconnect', ...(hasKey ? {} : { hs256_secret_file: secretFile }) },
    listeners: [],
    logging: { mask_ips: true },
  };
  const config = deepMerge(defaults, userCfg);
  const configPath = path.join(dir, 'cloud.yaml');
  fs.writeFileSync(configPath, opts.rawYaml ?? stringify(config));

  const server = isObj(config.server) ? config.server : {};
  const tlsOn = isObj(server.tls);
  const httpUrl = `${tlsOn ? 'https' : 'http'}://127.0.0.1:${port}`;
  const wsBase = `${tlsOn ? 'wss' : 'ws'}://127.0.0.1:${port}`;

  const proc = Proc.node(HUB_MAIN, [], {
    name: opts.name ?? `hub:${port}`,
    cwd: dir,
    env: { NC_CONFIG: configPath, ...(opts.env ?? {}) },
  });
  const ca = opts.ca;
  return {
    proc,
    httpUrl,
    tunnelUrl: `${wsBase}/tunnel`,
    meshUrl: `${wsBase}/mesh`,
    secret,
    secretFile,
    port,
    configPath,
    dir,
    config,
    token: (agentId, o = {}) => mintToken({ ...o, secret, sub: agentId }),
    metrics: () => scrape(httpUrl, ca),
    get: (pathname) => httpRequest(`${httpUrl}${pathname}`, { timeoutMs: 5000, ca }),
    stop: (timeoutMs = 30_000) => proc.stop('SIGTERM', timeoutMs),
    kill: () => proc.kill(),
  };
}

/** Spawn a hub and wait until GET /healthz answers 200 (and /readyz when waitReady). */
export async function startHub(opts: StartHubOptions = {}): Promise<HubHandle> {
  const serverCfg = opts.config?.server;
  const autoPort = opts.rawYaml === undefined && !(isObj(serverCfg) && typeof serverCfg.bind === 'string');
  // An auto-picked port can be taken by a parallel worker before the hub binds it: retry (bounded).
  for (let attempt = 1; ; attempt++) {
    const hub = await spawnHub(opts);
    try {
      await waitHealthy(hub, opts);
      return hub;
    } catch (e) {
      await hub.proc.kill();
      const out = `${hub.proc.stdoutText()}\n${hub.proc.stderrText()}`;
      if (!(autoPort && attempt < 3 && /EADDRINUSE|address already in use/i.test(out))) {
        const msg = e instanceof Error ? e.message : String(e);
        throw new Error(`${msg}\n${hub.proc.tail()}`);
      }
    }
  }
}

async function waitHealthy(hub: HubHandle, opts: StartHubOptions): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const abort = (): string | undefined =>
    hub.proc.running ? undefined : `hub exited ${JSON.stringify(hub.proc.exit)}`;
  await waitForHttpStatus(`${hub.httpUrl}/healthz`, 200, { timeoutMs, ca: opts.ca, abort });
  if (opts.waitReady) await waitForHttpStatus(`${hub.httpUrl}/readyz`, 200, { timeoutMs, ca: opts.ca, abort });
  // a 200 from some other process already on that port must not count
  const gone = abort();
  if (gone !== undefined) throw new Error(gone);
}
