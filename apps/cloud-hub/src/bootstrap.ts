import 'reflect-metadata';
import { reserveGcHeadroom } from '@nowconnect/flow';
import { type NestApplicationContext, NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { readFileSync } from 'node:fs';
import { checkFilesReadable, cloudConfigFiles, ConfigError, exitOnConfigError, formatHostPort, loadCloudConfig, type CloudConfig } from '@nowconnect/ha-config';
import { validateRedisUrl } from '@nowconnect/registry';
import { installUpgradeHeaderGuard, TunnelAuthenticator, watchKeyFiles } from './auth';
import { HubModule } from './hub.module';
import { EventLog, JsonNestLogger } from '@nowconnect/logging';
import { HubWsAdapter } from './tunnel/hub-ws-adapter';
import { TunnelSessions } from './tunnel/tunnel-sessions';
import { ListenerManager } from './listeners/listener-manager';
import { HubState } from './health/hub-state';
import { HaCoordinator } from './ha/ha-coordinator';
import { MeshManager } from './mesh/mesh-manager';
import { startAdmin } from './admin/start-admin';

/** Slack over max_frame_bytes for one WebSocket message (several small frames may share one). */
const WS_PAYLOAD_SLACK = 64 * 1024;

function fail(path: string, detail: string): never {
  process.stderr.write(`${path}: ${detail}\n`);
  process.exit(2);
}

async function loadAuthenticator(config: CloudConfig): Promise<TunnelAuthenticator> {
  try {
    return await TunnelAuthenticator.fromConfig(config.auth);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.path, err.detail);
    fail(`auth.${config.auth.key.kind}`, err instanceof Error ? err.message : String(err));
  }
}

function readTls(config: CloudConfig): { cert: Buffer; key: Buffer } | undefined {
  const tls = config.server.tls;
  if (tls === undefined) return undefined;
  const read = (path: string, key: string): Buffer => {
    try {
      return readFileSync(path);
    } catch {
      fail(key, `cannot read ${path}`);
    }
  };
  return { cert: read(tls.certFile, 'server.tls.cert_file'), key: read(tls.keyFile, 'server.tls.key_file') };
}

/**
 * Config is parsed and validated before Nest starts (exit 2 with one line on a
 * bad file). SIGTERM/SIGINT run the drain, close the app and exit 0: Nest's
 * own enableShutdownHooks re-raises the signal, which would end the process
 * by signal instead of exit code 0 (SPEC §9), so the hub installs its own.
 */
/** ha-config checks the scheme; the registry's parser checks the rest (hosts, ports, master name, db). */
function checkRedisUrl(config: CloudConfig): void {
  const url = config.ha.redisUrl;
  if (url === undefined) return;
  const detail = validateRedisUrl(url);
  if (detail !== undefined) fail(process.env.NC_REDIS_URL?.trim() ? 'NC_REDIS_URL' : 'ha.redis_url', detail);
}

export async function bootstrap(): Promise<void> {
  reserveGcHeadroom(); // relay read buffers vs V8's full-GC trigger (libs/flow gc-headroom.ts)
  const config = exitOnConfigError(() => loadCloudConfig(process.env));
  exitOnConfigError(() => checkFilesReadable(cloudConfigFiles(config, process.env)));
  checkRedisUrl(config);
  const authenticator = await loadAuthenticator(config);
  const httpsOptions = readTls(config);
  const log = new EventLog();
  const app = await NestFactory.create<NestExpressApplication>(HubModule.forRoot(config, authenticator, log), {
    logger: new JsonNestLogger(log, process.env.NC_LOG_NEST === '1'),
    httpsOptions,
    abortOnError: false,
  });
  const sessions = app.get(TunnelSessions);
  const mesh = app.get(MeshManager);
  app.useWebSocketAdapter(
    new HubWsAdapter(app, {
      maxPayload: config.limits.maxFrameBytes + WS_PAYLOAD_SLACK,
      verify: (path, req) =>
        path === '/tunnel'
          ? sessions.verifyUpgrade(req)
          : path === '/mesh'
            ? mesh.verifyUpgrade(req)
            : Promise.resolve({ ok: false, status: 404, message: 'Not Found' }),
    }),
  );
  app.disable('x-powered-by');
  installUpgradeHeaderGuard(app.getHttpServer(), log, config);
  const admin = await startAdmin(app, config, log, fail);
  watchKeyFiles(authenticator, config.auth.key, log);
  await app.listen(config.server.bind.port, config.server.bind.host);
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address !== null ? address.port : config.server.bind.port;
  log.info('hub_started', {
    bind: formatHostPort({ host: config.server.bind.host, port }),
    tls: httpsOptions !== undefined,
    replica_id: config.ha.replicaId,
    ha_mode: config.ha.enabled ? config.ha.mode : 'off',
  });
  await app.get(HaCoordinator).start(port);
  await mesh.start();
  await app.get(ListenerManager).start();
  app.get(HubState).phase = 'ready';

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    void (async () => {
      // Lifecycle hooks, in order: drain (DrainService), mesh links and listener closed (MeshManager),
      // holdings released (HaCoordinator), Redis closed (RegistryModule).
      // NestApplicationContext.close(signal) passes the signal to the hooks (the interface omits the parameter).
      await (app as unknown as NestApplicationContext).close(signal);
      await admin?.close();
      log.info('hub_stopped', { signal });
      process.exit(0);
    })();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
