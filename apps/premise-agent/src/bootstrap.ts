import 'reflect-metadata';
import { reserveGcHeadroom } from '@nowconnect/flow';
import { NestFactory } from '@nestjs/core';
import { checkFilesReadable, exitOnConfigError, formatHostPort, loadPremiseConfig, premiseConfigFiles } from '@nowconnect/ha-config';
import { EventLog, JsonNestLogger } from '@nowconnect/logging';
import { AgentModule } from './agent.module';
import { AgentRunner } from './tunnel/agent-runner';

/** Config first (exit 2 with one line on a bad one), then a Nest application context (no HTTP). */
export async function bootstrap(): Promise<void> {
  reserveGcHeadroom(); // relay read buffers vs V8's full-GC trigger (libs/flow gc-headroom.ts)
  const config = exitOnConfigError(() => loadPremiseConfig(process.env));
  exitOnConfigError(() => checkFilesReadable(premiseConfigFiles(config, process.env)));
  const log = new EventLog();
  const app = await NestFactory.createApplicationContext(AgentModule.forRoot(config, log), {
    logger: new JsonNestLogger(log, process.env.NC_LOG_NEST === '1'),
    abortOnError: false,
  });
  log.info('agent_started', {
    agent_id: config.agentId,
    cloud_urls: config.cloudUrls,
    connectors: config.connectors.map((c) => ({ name: c.name, targets: c.targets.map(formatHostPort), strategy: c.strategy, health: c.health?.kind ?? 'off' })),
  });
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    void (async () => {
      await app.get(AgentRunner).stop();
      await app.close();
      log.info('agent_stopped', { signal });
      process.exit(0);
    })();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
