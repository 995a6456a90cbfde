import * as fs from 'node:fs';
import * as path from 'node:path';
import { AGENT_MAIN, requireBuilt, type HubHandle } from './hub';
import { Proc, type ExitInfo, type JsonEvent } from './proc';
import { makeTmpDir } from './tmp';

export interface StartAgentOptions {
  /** One hub tunnel URL (ws://.../tunnel) ... */
  hubUrl?: string;
  /** ... or a fail-over list (joined with commas into NC_CLOUD_URL). */
  urls?: string[];
  agentId: string;
  /** The JWT. Sent as NC_TOKEN, or written to a file and sent as NC_TOKEN_FILE when useTokenFile. */
  token?: string;
  useTokenFile?: boolean;
  /** connector name -> 'host:port' (NC_CONNECTORS, order kept). */
  connectors: Record<string, string>;
  /** Extra env (e.g. NC_CA_FILE, NC_PROXY_URL, HTTPS_PROXY); NC_* of the parent env is never inherited. */
  env?: Record<string, string | undefined>;
  /** Wait for the agent's first `connecting_to_cloud` event (default true). */
  waitStarted?: boolean;
  timeoutMs?: number;
  name?: string;
}

export interface AgentHandle {
  proc: Proc;
  agentId: string;
  /** Temp dir used as cwd (holds no config, so no default config file is found). */
  dir: string;
  /** Path of the token file when useTokenFile. */
  tokenFile: string | undefined;
  /** Atomically replace the token file's content (rotation). */
  writeToken(token: string): void;
  stop(timeoutMs?: number): Promise<ExitInfo>;
  kill(): Promise<ExitInfo>;
}

export function connectorsEnv(connectors: Record<string, string>): string {
  return Object.entries(connectors)
    .map(([name, target]) => `${name}=${target}`)
    .join(',');
}

/** Spawn `node dist/apps/premise-agent/main.js` configured by env only (NC_CONFIG unset). */
export async function startAgent(opts: StartAgentOptions): Promise<AgentHandle> {
  requireBuilt(AGENT_MAIN);
  const urls = opts.urls ?? (opts.hubUrl !== undefined ? [opts.hubUrl] : []);
  if (urls.length === 0) throw new Error('startAgent: give hubUrl or urls');
  const dir = makeTmpDir('nc-agent-');
  let tokenFile: string | undefined;
  const writeToken = (token: string): void => {
    tokenFile ??= path.join(dir, 'token');
    const tmp = `${tokenFile}.tmp`;
    fs.writeFileSync(tmp, `${token}\n`, { mode: 0o600 });
    fs.renameSync(tmp, tokenFile);
  };
  const env: Record<string, string | undefined> = {
    NC_CLOUD_URL: urls.join(','),
    NC_AGENT_ID: opts.agentId,
    NC_CONNECTORS: connectorsEnv(opts.connectors),
  };
  if (opts.token !== undefined) {
    if (opts.useTokenFile) {
      writeToken(opts.token);
      env.NC_TOKEN_FILE = tokenFile;
    } else {
      env.NC_TOKEN = opts.token;
    }
  }
  const proc = Proc.node(AGENT_MAIN, [], {
    name: opts.name ?? `agent:${opts.agentId}`,
    cwd: dir,
    env: { ...env, ...(opts.env ?? {}) },
  });
  if (opts.waitStarted ?? true) {
    try {
      await proc.waitForEvent('connecting_to_cloud', undefined, opts.timeoutMs ?? 20_000);
    } catch (e) {
      await proc.kill();
      throw e;
    }
  }
  return {
    proc,
    agentId: opts.agentId,
    dir,
    get tokenFile() {
      return tokenFile;
    },
    writeToken,
    stop: (timeoutMs = 15_000) => proc.stop('SIGTERM', timeoutMs),
    kill: () => proc.kill(),
  };
}

/**
 * Start an agent for `hub` with a fresh HS256 token (unless given) and wait until the hub logs
 * `agent_connected` for this agent id.
 */
export async function startAgentConnected(
  hub: HubHandle,
  opts: Omit<StartAgentOptions, 'hubUrl' | 'urls'> & { urls?: string[] },
): Promise<AgentHandle & { connected: JsonEvent }> {
  const token = opts.token ?? (await hub.token(opts.agentId));
  const mark = hub.proc.mark();
  const agent = await startAgent({ ...opts, token, urls: opts.urls ?? [hub.tunnelUrl] });
  try {
    const connected = await hub.proc.waitForEventSince(
      mark,
      'agent_connected',
      (e) => e.agent_id === opts.agentId,
      opts.timeoutMs ?? 20_000,
    );
    return Object.assign(agent, { connected });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    await agent.kill();
    throw new Error(`${msg}\n${agent.proc.tail()}`);
  }
}
