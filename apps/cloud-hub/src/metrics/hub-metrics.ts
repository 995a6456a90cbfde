import { Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
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

/** Flushes run when a counter is collected (a scrape), for every HubMetrics sharing that counter. */
const collectHooks = new WeakMap<Counter<string>, Set<() => void>>();

function onCollect(metric: Counter<string>, flush: () => void): () => void {
  let hooks = collectHooks.get(metric);
  if (hooks === undefined) {
    const set = new Set<() => void>();
    hooks = set;
    collectHooks.set(metric, set);
    // prom-client calls a metric's `collect` before reading its values (Registry#metrics -> get()).
    (metric as unknown as { collect: () => void }).collect = () => {
      for (const f of set) f();
    };
  }
  hooks.add(flush);
  return () => hooks.delete(flush);
}

/** Bytes of one direction and connector not yet added to its counter child. */
interface PendingBytes {
  readonly child: Counter.Internal;
  n: number;
}

/**
 * Every hub metric of SPEC §7 (names and labels fixed), on prom-client's
 * default registry, which @willsoto/nestjs-prometheus serves at /metrics.
 * The metrics are providers (HUB_METRIC_PROVIDERS, hub-metric-providers.ts), injected here by name;
 * the data path binds label children once per flow (below), never per frame.
 */
@Injectable()
export class HubMetrics implements OnModuleInit, OnModuleDestroy {
  @InjectMetric('nowconnect_tcp_connections_total') readonly tcpConnections!: Counter<'connector'>;
  @InjectMetric('nowconnect_tcp_bytes_total') readonly tcpBytes!: Counter<'direction' | 'connector'>;
  @InjectMetric('nowconnect_tcp_active_connections') readonly tcpActive!: Gauge<'connector'>;
  @InjectMetric('nowconnect_agents_connected') readonly agentsConnected!: Gauge;
  @InjectMetric('nowconnect_fin_sent_total') readonly finSentTotal!: Counter;
  @InjectMetric('nowconnect_fin_recv_total') readonly finRecvTotal!: Counter;
  @InjectMetric('nowconnect_rst_sent_total') readonly rstSentTotal!: Counter;
  @InjectMetric('nowconnect_rst_recv_total') readonly rstRecvTotal!: Counter;
  @InjectMetric('nowconnect_no_agent_total') readonly noAgent!: Counter<'connector'>;
  @InjectMetric('nowconnect_cidr_blocked_total') readonly cidrBlocked!: Counter<'listener'>;
  @InjectMetric('nowconnect_tunnel_auth_failures_total') readonly authFailures!: Counter<'reason'>;
  @InjectMetric('nowconnect_hello_refused_total') readonly helloRefused!: Counter<'reason'>;
  @InjectMetric('nowconnect_open_failed_total') readonly openFailed!: Counter<'connector' | 'reason'>;
  @InjectMetric('nowconnect_tunnel_auth_expired_total') readonly authExpired!: Counter;
  @InjectMetric('nowconnect_tunnel_slow_consumer_total') readonly slowConsumers!: Counter;
  @InjectMetric('nowconnect_protocol_errors_total') readonly protocolErrors!: Counter<'code'>;
  @InjectMetric('nowconnect_tunnel_rtt_seconds') readonly tunnelRtt!: Histogram;
  @InjectMetric('nowconnect_draining') readonly draining!: Gauge;
  /** Denominator of the cross-replica share SLO: flows by how they reached their agent. */
  @InjectMetric('nowconnect_flows_total') readonly flowsTotal!: Counter<'path'>;
  /** Agent-reported (TARGET_HEALTH); target = the configured host:port text. 1 when any agent of this hub sees it healthy. */
  @InjectMetric('nowconnect_target_up') readonly targetUp!: Gauge<'connector' | 'target'>;
  @InjectMetric('nowconnect_target_connect_failures_total') readonly targetConnectFailures!: Counter<'connector' | 'reason'>;
  /** TARGET_HEALTH frames the hub could not use (the link stays up; the previous report stands). */
  @InjectMetric('nowconnect_target_health_ignored_total') readonly targetHealthIgnored!: Counter<'reason'>;

  private stopCollect: (() => void) | undefined;

  onModuleInit(): void {
    this.stopCollect = onCollect(this.tcpBytes, () => this.flushBytes());
    this.authExpired.inc(0);
    this.slowConsumers.inc(0);
    this.flowsTotal.labels({ path: 'local' }).inc(0);
    this.flowsTotal.labels({ path: 'cross_replica' }).inc(0);
  }

  onModuleDestroy(): void {
    this.flushBytes();
    this.stopCollect?.();
  }

  private readonly c2a = new Map<string, PendingBytes>();
  private readonly a2c = new Map<string, PendingBytes>();

  /**
   * Flow-level metrics for the data plane. Bytes are added to a plain number per chunk and handed to
   * the prom-client counter when it is collected (every scrape): a counter child's inc() hashes its
   * label object on every call, garbage at every chunk read.
   */
  readonly flow: FlowMetrics = {
    bytesOut: (connector, n) => {
      this.bytes(this.c2a, 'c2a', connector).n += n;
    },
    bytesIn: (connector, n) => {
      this.bytes(this.a2c, 'a2c', connector).n += n;
    },
    finSent: () => this.finSentTotal.inc(),
    finRecv: () => this.finRecvTotal.inc(),
    rstSent: () => this.rstSentTotal.inc(),
    rstRecv: () => this.rstRecvTotal.inc(),
  };

  private bytes(cache: Map<string, PendingBytes>, direction: string, connector: string): PendingBytes {
    let entry = cache.get(connector);
    if (entry === undefined) {
      entry = { child: this.tcpBytes.labels({ direction, connector }), n: 0 };
      cache.set(connector, entry);
    }
    return entry;
  }

  /** Adds the bytes counted since the last flush to nowconnect_tcp_bytes_total. */
  flushBytes(): void {
    for (const cache of [this.c2a, this.a2c]) {
      for (const entry of cache.values()) {
        if (entry.n === 0) continue;
        entry.child.inc(entry.n);
        entry.n = 0;
      }
    }
  }

  /** Makes every labelled series visible at 0 before traffic (dashboards and alerts need them). */
  primeConnector(connector: string): void {
    this.tcpConnections.labels({ connector }).inc(0);
    this.bytes(this.c2a, 'c2a', connector).child.inc(0);
    this.bytes(this.a2c, 'a2c', connector).child.inc(0);
    this.tcpActive.labels({ connector }).inc(0);
    this.noAgent.labels({ connector }).inc(0);
  }
}
