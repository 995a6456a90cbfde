import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, register } from 'prom-client';
import type { FlowMetrics } from '@nowconnect/flow';

/** Get-or-create on the default registry (a second Nest app in one process reuses the series). */
export function counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
  const existing = register.getSingleMetric(name);
  if (existing !== undefined) return existing as Counter<L>;
  return new Counter<L>({ name, help, labelNames });
}

export function gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
  const existing = register.getSingleMetric(name);
  if (existing !== undefined) return existing as Gauge<L>;
  return new Gauge<L>({ name, help, labelNames });
}

export function histogram<L extends string = never>(name: string, help: string, buckets: number[], labelNames: readonly L[] = []): Histogram<L> {
  const existing = register.getSingleMetric(name);
  if (existing !== undefined) return existing as Histogram<L>;
  return new Histogram<L>({ name, help, buckets, labelNames });
}

/**
 * Every hub metric of SPEC §7 (names and labels fixed), on prom-client's
 * default registry, which @willsoto/nestjs-prometheus serves at /metrics.
 */
@Injectable()
export class HubMetrics {
  readonly tcpConnections = counter('nowconnect_tcp_connections_total', 'Client TCP connections accepted and routed to an agent', ['connector']);
  readonly tcpBytes = counter('nowconnect_tcp_bytes_total', 'Payload bytes carried; c2a = client to agent', ['direction', 'connector']);
  readonly tcpActive = gauge('nowconnect_tcp_active_connections', 'Client TCP connections currently open', ['connector']);
  readonly agentsConnected = gauge('nowconnect_agents_connected', 'Agent tunnels that completed HELLO');
  readonly finSentTotal = counter('nowconnect_fin_sent_total', 'FIN frames sent to tunnels and mesh links');
  readonly finRecvTotal = counter('nowconnect_fin_recv_total', 'FIN frames received from tunnels and mesh links');
  readonly rstSentTotal = counter('nowconnect_rst_sent_total', 'RST frames sent to tunnels and mesh links');
  readonly rstRecvTotal = counter('nowconnect_rst_recv_total', 'RST frames received from tunnels and mesh links');
  readonly noAgent = counter('nowconnect_no_agent_total', 'Client connections closed because no agent serves the connector', ['connector']);
  readonly cidrBlocked = counter('nowconnect_cidr_blocked_total', 'Client connections refused by allow_cidrs', ['listener']);
  readonly authFailures = counter('nowconnect_tunnel_auth_failures_total', 'Refused /tunnel upgrades', ['reason']);
  readonly helloRefused = counter('nowconnect_hello_refused_total', 'Refused agent HELLOs', ['reason']);
  readonly openFailed = counter('nowconnect_open_failed_total', 'Flows that could not be opened (target unreachable or a limit)', ['connector', 'reason']);
  readonly authExpired = counter('nowconnect_tunnel_auth_expired_total', 'Tunnels closed (4003) because their token expired past the skew without an in-band re-authentication');
  readonly slowConsumers = counter('nowconnect_tunnel_slow_consumer_total', 'Tunnels closed because the agent left more than the cap unread (slow_consumer)');
  readonly protocolErrors = counter('nowconnect_protocol_errors_total', 'Tunnel links closed for a protocol error', ['code']);
  readonly tunnelRtt = histogram('nowconnect_tunnel_rtt_seconds', 'Keepalive round trip hub<->agent', [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]);
  readonly draining = gauge('nowconnect_draining', '1 while the hub drains after SIGTERM');
  /** Denominator of the cross-replica share SLO: flows by how they reached their agent. */
  readonly flowsTotal = counter('nowconnect_flows_total', 'Flows opened, by path (local agent, or cross_replica over the mesh)', ['path']);
  /** Agent-reported (TARGET_HEALTH); target = the configured host:port text. 1 when any agent of this hub sees it healthy. */
  readonly targetUp = gauge('nowconnect_target_up', 'Target health as reported by the agents connected to this hub (1 up, 0 down)', ['connector', 'target']);
  readonly targetConnectFailures = counter(
    'nowconnect_target_connect_failures_total',
    'Agent dials to a target that failed (each skipped or last target of a flow), agent-reported',
    ['connector', 'reason'],
  );
  /** TARGET_HEALTH frames the hub could not use (the link stays up; the previous report stands). */
  readonly targetHealthIgnored = counter('nowconnect_target_health_ignored_total', 'TARGET_HEALTH frames ignored, by reason', ['reason']);

  constructor() {
    this.authExpired.inc(0);
    this.slowConsumers.inc(0);
    this.flowsTotal.labels({ path: 'local' }).inc(0);
    this.flowsTotal.labels({ path: 'cross_replica' }).inc(0);
  }

  private readonly c2a = new Map<string, Counter.Internal>();
  private readonly a2c = new Map<string, Counter.Internal>();

  /** Flow-level metrics for the data plane: bound children, no label lookups per chunk. */
  readonly flow: FlowMetrics = {
    bytesOut: (connector, n) => this.bytes(this.c2a, 'c2a', connector).inc(n),
    bytesIn: (connector, n) => this.bytes(this.a2c, 'a2c', connector).inc(n),
    finSent: () => this.finSentTotal.inc(),
    finRecv: () => this.finRecvTotal.inc(),
    rstSent: () => this.rstSentTotal.inc(),
    rstRecv: () => this.rstRecvTotal.inc(),
  };

  private bytes(cache: Map<string, Counter.Internal>, direction: string, connector: string): Counter.Internal {
    let child = cache.get(connector);
    if (child === undefined) {
      child = this.tcpBytes.labels({ direction, connector });
      cache.set(connector, child);
    }
    return child;
  }

  /** Makes every labelled series visible at 0 before traffic (dashboards and alerts need them). */
  primeConnector(connector: string): void {
    this.tcpConnections.labels({ connector }).inc(0);
    this.bytes(this.c2a, 'c2a', connector).inc(0);
    this.bytes(this.a2c, 'a2c', connector).inc(0);
    this.tcpActive.labels({ connector }).inc(0);
    this.noAgent.labels({ connector }).inc(0);
  }
}
