import type { Provider } from '@nestjs/common';
import { makeCounterProvider, makeGaugeProvider, makeHistogramProvider } from '@willsoto/nestjs-prometheus';

/*
 * Declarations in the hub's usual `counter(name, help, labels)` shape (test/observability reads the labels
 * from these calls). makeXProvider is get-or-create on prom-client's default registry: several apps in one
 * process share the series.
 */
const counter = (name: string, help: string, labelNames: string[] = []): Provider => makeCounterProvider({ name, help, labelNames });
const gauge = (name: string, help: string, labelNames: string[] = []): Provider => makeGaugeProvider({ name, help, labelNames });
const histogram = (name: string, help: string, buckets: number[], labelNames: string[] = []): Provider =>
  makeHistogramProvider({ name, help, buckets, labelNames });

/** The SPEC §7 hub metrics, injected into HubMetrics with @InjectMetric (names and labels fixed). */
export const HUB_METRIC_PROVIDERS: Provider[] = [
  counter('nowconnect_tcp_connections_total', 'Client TCP connections accepted and routed to an agent', ['connector']),
  counter('nowconnect_tcp_bytes_total', 'Payload bytes carried; c2a = client to agent', ['direction', 'connector']),
  gauge('nowconnect_tcp_active_connections', 'Client TCP connections currently open', ['connector']),
  gauge('nowconnect_agents_connected', 'Agent tunnels that completed HELLO'),
  counter('nowconnect_fin_sent_total', 'FIN frames sent to tunnels and mesh links'),
  counter('nowconnect_fin_recv_total', 'FIN frames received from tunnels and mesh links'),
  counter('nowconnect_rst_sent_total', 'RST frames sent to tunnels and mesh links'),
  counter('nowconnect_rst_recv_total', 'RST frames received from tunnels and mesh links'),
  counter('nowconnect_no_agent_total', 'Client connections closed because no agent serves the connector', ['connector']),
  counter('nowconnect_cidr_blocked_total', 'Client connections refused by allow_cidrs', ['listener']),
  counter('nowconnect_tunnel_auth_failures_total', 'Refused /tunnel upgrades', ['reason']),
  counter('nowconnect_hello_refused_total', 'Refused agent HELLOs', ['reason']),
  counter('nowconnect_open_failed_total', 'Flows that could not be opened (target unreachable or a limit)', ['connector', 'reason']),
  counter('nowconnect_tunnel_auth_expired_total', 'Tunnels closed (4003) because their token expired past the skew without an in-band re-authentication'),
  counter('nowconnect_tunnel_slow_consumer_total', 'Tunnels closed because the agent left more than the cap unread (slow_consumer)'),
  counter('nowconnect_protocol_errors_total', 'Tunnel links closed for a protocol error', ['code']),
  histogram('nowconnect_tunnel_rtt_seconds', 'Keepalive round trip hub<->agent', [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]),
  gauge('nowconnect_draining', '1 while the hub drains after SIGTERM'),
  counter('nowconnect_flows_total', 'Flows opened, by path (local agent, or cross_replica over the mesh)', ['path']),
  gauge('nowconnect_target_up', 'Target health as reported by the agents connected to this hub (1 up, 0 down)', ['connector', 'target']),
  counter(
    'nowconnect_target_connect_failures_total',
    'Agent dials to a target that failed (each skipped or last target of a flow), agent-reported',
    ['connector', 'reason'],
  ),
  counter('nowconnect_target_health_ignored_total', 'TARGET_HEALTH frames ignored, by reason', ['reason']),
];
