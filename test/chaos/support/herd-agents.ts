/**
 * A herd of premise agents in one process: HERD_COUNT instances of the real AgentRunner (the same
 * dial / HELLO / reconnect-with-backoff-and-jitter code as dist/apps/premise-agent), each with its
 * own agent id and tunnel. Run with `node scripts/run-ts.js test/chaos/support/herd-agents.ts`.
 * Env: HERD_COUNT, HERD_PREFIX, HERD_URL (hub /tunnel), HERD_SECRET (HS256), HERD_CONNECTORS.
 * Prints the agents' JSON events on stdout and `{"event":"herd_started","count":N}` once all run.
 */
import 'reflect-metadata';
import { parsePremiseConfig } from '@nowconnect/ha-config';
import { EventLog } from '@nowconnect/logging';
import { AgentRunner } from '../../../apps/premise-agent/src/tunnel/agent-runner';
import { mintToken } from '../../support/jwt';

async function main(): Promise<void> {
  const count = Number(process.env.HERD_COUNT ?? '0');
  const prefix = process.env.HERD_PREFIX ?? 'herd';
  const url = process.env.HERD_URL ?? '';
  const secret = process.env.HERD_SECRET ?? '';
  const connectors = process.env.HERD_CONNECTORS ?? '';
  if (!(count > 0 && count <= 1000) || url === '' || secret === '' || connectors === '') {
    process.stderr.write('herd-agents: need HERD_COUNT (1..1000), HERD_URL, HERD_SECRET, HERD_CONNECTORS\n');
    process.exit(2);
  }
  const log = new EventLog();
  const runners: AgentRunner[] = [];
  for (let i = 0; i < count; i++) {
    const agentId = `${prefix}-${i}`;
    const token = await mintToken({ secret, sub: agentId, expSec: 6 * 3600 });
    const config = parsePremiseConfig({}, { NC_CLOUD_URL: url, NC_AGENT_ID: agentId, NC_TOKEN: token, NC_CONNECTORS: connectors });
    const r = new AgentRunner(config, log);
    r.onApplicationBootstrap();
    runners.push(r);
  }
  log.info('herd_started', { count });
  const stop = (): void => {
    void Promise.all(runners.map((r) => r.stop())).then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

void main();
