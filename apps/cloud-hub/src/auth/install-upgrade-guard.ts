import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { CloudConfig } from '@nowconnect/ha-config';
import { maskIp, type EventLog } from '@nowconnect/logging';
import { counter } from '../metrics/hub-metrics';
import { guardUpgradeHeaders, UPGRADE_HEADER_TIMEOUT_MS, type UpgradeHeaderGuard } from './upgrade-header-guard';

/**
 * Wires the slow-loris guard onto server.bind: each connection closed by it adds 1 to
 * nowconnect_upgrade_header_timeouts_total (not in SPEC §7, "more are welcome") and logs
 * `upgrade_header_timeout` (masked client).
 */
export function installUpgradeHeaderGuard(server: HttpServer | HttpsServer, log: EventLog, config: CloudConfig): UpgradeHeaderGuard {
  const timeouts = counter('nowconnect_upgrade_header_timeouts_total', 'Connections on server.bind closed because the request head did not arrive in time (slow-loris)');
  timeouts.inc(0);
  return guardUpgradeHeaders(server, {
    headerTimeoutMs: UPGRADE_HEADER_TIMEOUT_MS,
    onTimeout: (addr) => {
      timeouts.inc();
      log.warn('upgrade_header_timeout', { client: maskIp(addr, config.logging.maskIps), timeout_ms: UPGRADE_HEADER_TIMEOUT_MS });
    },
  });
}
