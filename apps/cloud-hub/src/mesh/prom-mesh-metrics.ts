import { type DynamicModule, Injectable, Module, type Provider } from '@nestjs/common';
import { InjectMetric, makeCounterProvider, makeGaugeProvider, makeHistogramProvider } from '@willsoto/nestjs-prometheus';
import type { Counter, Histogram } from 'prom-client';
import { Gauge, register } from 'prom-client';
import type { BackpressureReason, MeshFrameDir, MeshLinkFailure, MeshMetrics } from '@nowconnect/mesh';

/* Declarations in the hub's `counter(name, help, labels)` shape (test/observability reads the labels from
 * these calls); makeXProvider is get-or-create on prom-client's default registry. */
const counter = (name: string, help: string, labelNames: string[] = []): Provider => makeCounterProvider({ name, help, labelNames });
const gauge = (name: string, help: string, labelNames: string[] = []): Provider => makeGaugeProvider({ name, help, labelNames });
const histogram = (name: string, help: string, buckets: number[], labelNames: string[] = []): Provider =>
  makeHistogramProvider({ name, help, buckets, labelNames });

/** One gauge sample set, read from the live links at scrape time. */
export interface MeshGaugeSample {
  readonly peer: string;
  readonly state: string;
  readonly queueDepth: number;
  readonly inflightBytes: number;
}

/** The collector of the current MeshManager (one per process; a second app in one process replaces it). */
let currentSource: (() => readonly MeshGaugeSample[]) | undefined;
const LINK_STATES = ['connecting', 'up', 'draining', 'down'] as const;

function collectedGauge(name: string, help: string, labelNames: string[], fill: (g: Gauge<string>, samples: readonly MeshGaugeSample[]) => void): Gauge<string> {
  const existing = register.getSingleMetric(name);
  if (existing !== undefined) return existing as Gauge<string>;
  return new Gauge<string>({
    name,
    help,
    labelNames,
    collect() {
      this.reset();
      fill(this, currentSource?.() ?? []);
    },
  });
}


/** The mesh metric providers (HA on only, see MeshMetricsModule). */
const MESH_METRIC_PROVIDERS: Provider[] = [
  counter('nowconnect_mesh_frames_total', 'Mesh frames sent (out) and received (in), by type', ['dir', 'type']),
  histogram('nowconnect_mesh_rtt_seconds', 'Mesh keepalive round trip hub<->hub', [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]),
  counter('nowconnect_owner_epoch_mismatch_total', 'Frames or claims refused because their ownership epoch is not the current one'),
  counter('nowconnect_cid_dedup_dropped_total', 'Mesh flow frames dropped as replays (seq not above the last accepted one for the CID)'),
  counter(
    'nowconnect_mesh_backpressure_drops_total',
    'New cross-replica flows refused because the mesh link was at its queue or in-flight cap',
    ['peer', 'reason'],
  ),
  counter('nowconnect_mesh_link_reconnects_total', 'Mesh re-dials after a failed dial or a lost link'),
  counter('nowconnect_mesh_link_errors_total', 'Mesh link errors (protocol errors, handshake failures, dead peers, socket errors)'),
  // Not in SPEC §7 (an addition): lets an alert see a mesh certificate's expiry without a blackbox probe.
  gauge(
    'nowconnect_mesh_cert_expiry_timestamp_seconds',
    'Earliest not-after (unix time) of the mesh TLS certificates loaded from disk: file="cert" (ha.mesh.tls.cert_file), file="ca" (ca_bundle)',
    ['file'],
  ),
  // Not in SPEC §7 (issue 13): links refused or closed for a trust reason (`mesh_link_failed`).
  counter(
    'nowconnect_mesh_link_failures_total',
    'Mesh links refused or closed because the peer did not prove its replica id (identity) or did not read (slow_consumer)',
    ['reason'],
  ),
  // Not in SPEC §7 (issue 13): `/mesh` upgrades refused, by reason (no_trusted_proxies, untrusted_source, no_client_cert, ...).
  counter('nowconnect_mesh_upgrade_refused_total', 'Mesh WebSocket upgrades refused before any frame, by reason', ['reason']),
];

/**
 * SPEC §7 mesh metrics on prom-client's default registry. Counters move as
 * events happen; the gauges (links by state, queue depth, in-flight bytes) are
 * read from the links when /metrics is scraped.
 */
@Injectable()
export class PromMeshMetrics implements MeshMetrics {
  private readonly frameChildren = new Map<string, Counter.Internal>();

  constructor(
    @InjectMetric('nowconnect_mesh_frames_total') readonly frames: Counter<'dir' | 'type'>,
    @InjectMetric('nowconnect_mesh_rtt_seconds') readonly rttSeconds: Histogram,
    @InjectMetric('nowconnect_owner_epoch_mismatch_total') readonly epochMismatchTotal: Counter,
    @InjectMetric('nowconnect_cid_dedup_dropped_total') readonly dedupTotal: Counter,
    @InjectMetric('nowconnect_mesh_backpressure_drops_total') readonly backpressureTotal: Counter<'peer' | 'reason'>,
    @InjectMetric('nowconnect_mesh_link_reconnects_total') readonly reconnects: Counter,
    @InjectMetric('nowconnect_mesh_link_errors_total') readonly errors: Counter,
    @InjectMetric('nowconnect_mesh_cert_expiry_timestamp_seconds') readonly certExpiry: Gauge<'file'>,
    @InjectMetric('nowconnect_mesh_link_failures_total') readonly failures: Counter<'reason'>,
    @InjectMetric('nowconnect_mesh_upgrade_refused_total') readonly upgradeRefusals: Counter<'reason'>,
  ) {
    for (const reason of ['identity', 'slow_consumer'] as const) this.failures.labels({ reason }).inc(0);
    this.reconnects.inc(0);
    this.errors.inc(0);
    this.dedupTotal.inc(0);
    this.epochMismatchTotal.inc(0);
  }

  /** The live links the gauges read at scrape time (MeshManager.start); registers those gauges. */
  bind(source: () => readonly MeshGaugeSample[]): void {
    currentSource = source;
    collectedGauge('nowconnect_mesh_links', 'Mesh links by peer and state (1 = the link to that peer is in that state)', ['peer', 'state'], (g, samples) => {
      for (const s of samples) for (const state of LINK_STATES) g.labels({ peer: s.peer, state }).set(s.state === state ? 1 : 0);
    });
    collectedGauge('nowconnect_mesh_queue_depth', 'Frames waiting in the mesh link writer queue', ['peer'], (g, samples) => {
      for (const s of samples) g.labels({ peer: s.peer }).set(s.queueDepth);
    });
    collectedGauge('nowconnect_mesh_inflight_bytes', 'Bytes handed to the mesh link socket and not yet written out', ['peer'], (g, samples) => {
      for (const s of samples) g.labels({ peer: s.peer }).set(s.inflightBytes);
    });
  }

  frame(dir: MeshFrameDir, type: string): void {
    const key = `${dir}:${type}`;
    let child = this.frameChildren.get(key);
    if (child === undefined) {
      child = this.frames.labels({ dir, type });
      this.frameChildren.set(key, child);
    }
    child.inc();
  }

  rtt(seconds: number): void {
    this.rttSeconds.observe(seconds);
  }

  epochMismatch(): void {
    this.epochMismatchTotal.inc();
  }

  dedupDropped(): void {
    this.dedupTotal.inc();
  }

  backpressureDrop(peer: string, reason: BackpressureReason): void {
    this.backpressureTotal.labels({ peer, reason }).inc();
  }

  linkError(): void {
    this.errors.inc();
  }

  linkReconnect(): void {
    this.reconnects.inc();
  }

  linkFailed(reason: MeshLinkFailure): void {
    this.failures.labels({ reason }).inc();
  }

  upgradeRefused(reason: string): void {
    this.upgradeRefusals.labels({ reason }).inc();
  }
}

/**
 * Provides and exports PromMeshMetrics with HA on; with HA off nothing (no mesh series at all; MeshManager
 * injects it as optional and never starts).
 */
@Module({})
export class MeshMetricsModule {
  static register(enabled: boolean): DynamicModule {
    return { module: MeshMetricsModule, providers: enabled ? [...MESH_METRIC_PROVIDERS, PromMeshMetrics] : [], exports: enabled ? [PromMeshMetrics] : [] };
  }
}
