import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { CloudConfig } from '@nowconnect/ha-config';
import { maskIp, type EventLog } from '@nowconnect/logging';
import { counter } from '../metrics/hub-metrics';
import { applyRequestTimeout } from './request-timeout';
import { guardUpgradeHeaders, UPGRADE_HEADER_TIMEOUT_MS, type UpgradeHeaderGuard } from './upgrade-header-guard';

/**
 * Wires the HTTP timeouts onto server.bind (before listen):
 * - the slow-loris guard: a connection whose first request head does not arrive within
 *   min(10 s, server.request_timeout_sec) adds 1 to nowconnect_upgrade_header_timeouts_total and
 *   logs `upgrade_header_timeout` (masked client);
 * - server.request_timeout_sec for every request (head and body, each request of a keep-alive
 *   connection): nowconnect_http_request_timeouts_total + `http_request_timeout`.
 * A connection still waiting for its first head is reported once, by the guard, whichever timer
 * fires first. Neither counter is in SPEC §7 ("more are welcome").
 */
export function installUpgradeHeaderGuard(server: HttpServer | HttpsServer, log: EventLog, config: CloudConfig): UpgradeHeaderGuard {
  const timeouts = counter('nowconnect_upgrade_header_timeouts_total', 'Connections on server.bind closed because the request head did not arrive in time (slow-loris)');
  timeouts.inc(0);
  const requestTimeouts = counter('nowconnect_http_request_timeouts_total', 'Requests on server.bind closed because head and body did not arrive within server.request_timeout_sec');
  requestTimeouts.inc(0);
  const requestTimeoutMs = config.server.requestTimeoutSec * 1000;
  const headerTimeoutMs = Math.min(UPGRADE_HEADER_TIMEOUT_MS, requestTimeoutMs);
  const guard = guardUpgradeHeaders(server, {
    headerTimeoutMs,
    onTimeout: (addr) => {
      timeouts.inc();
      log.warn('upgrade_header_timeout', { client: maskIp(addr, config.logging.maskIps), timeout_ms: headerTimeoutMs });
    },
  });
  applyRequestTimeout(server, {
    timeoutMs: requestTimeoutMs,
    onTimeout: (socket) => {
      if (guard.expire(socket)) return;
      requestTimeouts.inc();
      log.warn('http_request_timeout', { client: maskIp(socket.remoteAddress, config.logging.maskIps), timeout_sec: config.server.requestTimeoutSec });
    },
  });
  return guard;
}
