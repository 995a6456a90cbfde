import type { INestApplication } from '@nestjs/common';
import { formatHostPort, type CloudConfig } from '@nowconnect/ha-config';
import type { EventLog } from '@nowconnect/logging';
import { HaCoordinator } from '../ha/ha-coordinator';
import { HubState } from '../health/hub-state';
import { ListenerManager } from '../listeners/listener-manager';
import { MeshManager } from '../mesh/mesh-manager';
import { TunnelSessions } from '../tunnel/tunnel-sessions';
import { AdminServer } from './admin-server';
import { buildStatus } from './hub-status';

const DEFAULT_ADMIN_BIND = '127.0.0.1:9765';

/**
 * Binds server.admin_bind (before server.bind). An explicitly configured address that cannot be
 * bound exits 2 naming the key; the default address already taken (several hubs on one host)
 * logs `admin_bind_failed` and the hub runs without /status.
 */
export async function startAdmin(
  app: INestApplication,
  config: CloudConfig,
  log: EventLog,
  fail: (path: string, detail: string) => never,
): Promise<AdminServer | undefined> {
  const sessions = app.get(TunnelSessions);
  const admin = new AdminServer(() =>
    buildStatus({
      config,
      phase: app.get(HubState).phase,
      haMode: app.get(HaCoordinator).enabled ? config.ha.mode : 'off',
      agents: () =>
        sessions.router.agents().map((s) => ({ agentId: s.agentId, connectors: s.connectors, flowsByConnector: s.flowsByConnector(), flowsPerConnection: s.flowsPerConnection() })),
      listenerPorts: () => app.get(ListenerManager).addresses(),
      meshLinks: () => app.get(MeshManager).linkSnapshot(),
    }),
  );
  const bind = formatHostPort(config.server.adminBind);
  try {
    const port = await admin.listen(config.server.adminBind);
    log.info('admin_started', { bind: formatHostPort({ host: config.server.adminBind.host, port }), paths: ['/status'] });
    return admin;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const detail = `cannot listen on ${bind} (${typeof code === 'string' ? code : 'error'})`;
    if (bind !== DEFAULT_ADMIN_BIND) fail('server.admin_bind', detail);
    log.warn('admin_bind_failed', { bind, detail, effect: 'GET /status unavailable; set server.admin_bind' });
    return undefined;
  }
}
