import { Inject, Injectable } from '@nestjs/common';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { CLOUD_CONFIG, cidrAllows, formatHostPort, type CloudConfig, type ListenerConfig } from '@nowconnect/ha-config';
import { EventLog } from '@nowconnect/logging';
import { maskIp } from '@nowconnect/logging';
import { HubMetrics } from '../metrics/hub-metrics';
import { TunnelSessions } from '../tunnel/tunnel-sessions';

interface RunningListener {
  readonly config: ListenerConfig;
  readonly server: Server;
}

/**
 * The hub's TCP listeners (one per `listeners[]` entry). Every accepted client
 * is checked against allow_cidrs, routed to an agent of the listener's
 * connector, and becomes one flow; a refusal closes the client at once.
 */
@Injectable()
export class ListenerManager {
  private readonly running: RunningListener[] = [];

  constructor(
    @Inject(CLOUD_CONFIG) private readonly config: CloudConfig,
    private readonly log: EventLog,
    private readonly metrics: HubMetrics,
    private readonly sessions: TunnelSessions,
  ) {}

  async start(): Promise<void> {
    for (const l of this.config.listeners) {
      const server = createServer({ allowHalfOpen: true, noDelay: true }, (sock) => this.onClient(l, sock));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(l.bind.port, l.bind.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      server.on('error', (err) => this.log.error('listener_error', { listener: l.name, error: err.message }));
      this.running.push({ config: l, server });
      this.metrics.primeConnector(l.connector);
      this.metrics.cidrBlocked.labels({ listener: l.name }).inc(0);
      const port = (server.address() as AddressInfo).port;
      this.log.info('listener_started', { listener: l.name, bind: formatHostPort({ host: l.bind.host, port }), connector: l.connector });
    }
  }

  private onClient(l: ListenerConfig, sock: Socket): void {
    const remote = sock.remoteAddress;
    const client = maskIp(remote, this.config.logging.maskIps);
    sock.on('error', () => undefined); // a client reset before routing is not an error of ours
    if (!cidrAllows(l.allowCidrs, remote ?? '')) {
      this.metrics.cidrBlocked.labels({ listener: l.name }).inc();
      this.log.warn('cidr_blocked', { listener: l.name, client });
      sock.destroy();
      return;
    }
    const agent = this.sessions.router.pick(l.connector);
    if (agent === undefined) {
      const full = this.sessions.router.agents().find((a) => a.connectors.includes(l.connector));
      if (full !== undefined) {
        const reason = full.refusalReason();
        this.metrics.openFailed.labels({ connector: l.connector, reason }).inc();
        this.log.warn('open_refused', { listener: l.name, connector: l.connector, reason, client });
      } else {
        this.metrics.noAgent.labels({ connector: l.connector }).inc();
        this.log.warn('no_agent_for_connector', { listener: l.name, connector: l.connector, client });
      }
      sock.destroy();
      return;
    }
    agent.openFlow(sock, l.connector, l.name, client);
  }

  /** Drain: stop accepting (the listening sockets close); running flows continue. */
  async stopAccepting(): Promise<void> {
    const closing = this.running.map(
      (r) => new Promise<void>((resolve) => r.server.close(() => resolve())),
    );
    this.running.length = 0;
    // server.close resolves only after every connection ended; do not wait for that here.
    void Promise.all(closing);
  }

  /** Actual bound addresses (port 0 in config means ephemeral). */
  addresses(): { listener: string; port: number }[] {
    return this.running.map((r) => ({ listener: r.config.name, port: (r.server.address() as AddressInfo).port }));
  }
}
