/** Why a new cross-replica open was refused by a link's writer (label of nowconnect_mesh_backpressure_drops_total). */
export type BackpressureReason = 'queue_full' | 'inflight_cap';

export type MeshFrameDir = 'in' | 'out';

/**
 * Why a link was refused or closed for a trust reason (issue 13; `mesh_link_failed` reason and the
 * label of nowconnect_mesh_link_failures_total): the peer did not prove its replica id (`identity`),
 * or its unread backlog passed the link's caps (`slow_consumer`).
 */
export type MeshLinkFailure = 'identity' | 'slow_consumer';

/**
 * What the mesh data plane reports; the hub binds it to Prometheus
 * (SPEC §7 names in comments), tests to a recorder. Gauges (queue depth,
 * in-flight bytes, link states) are read from the links by the hub's collector.
 */
export interface MeshMetrics {
  /** nowconnect_mesh_frames_total{dir,type} (type: M_OPEN, M_DATA, ...). */
  frame(dir: MeshFrameDir, type: string): void;
  /** nowconnect_mesh_rtt_seconds (histogram). */
  rtt(seconds: number): void;
  /** nowconnect_owner_epoch_mismatch_total. */
  epochMismatch(): void;
  /** nowconnect_cid_dedup_dropped_total. */
  dedupDropped(): void;
  /** nowconnect_mesh_backpressure_drops_total{peer,reason}. */
  backpressureDrop(peer: string, reason: BackpressureReason): void;
  /** nowconnect_mesh_link_errors_total (protocol errors, handshake failures, dead peers). */
  linkError(): void;
  /** nowconnect_mesh_link_reconnects_total (the peer manager, on each re-dial after a failure or loss). */
  linkReconnect(): void;
  /** nowconnect_mesh_link_failures_total{reason} (not in SPEC §7; issue 13): counted next to linkError. */
  linkFailed(reason: MeshLinkFailure): void;
}

export const NOOP_MESH_METRICS: MeshMetrics = {
  frame: () => undefined,
  rtt: () => undefined,
  epochMismatch: () => undefined,
  dedupDropped: () => undefined,
  backpressureDrop: () => undefined,
  linkError: () => undefined,
  linkReconnect: () => undefined,
  linkFailed: () => undefined,
};
