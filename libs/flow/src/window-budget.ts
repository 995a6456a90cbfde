/**
 * The per-tunnel cap on receive-window growth (QUIC-style two-level flow
 * control, done by the receiver alone): every flow starts with a small window;
 * a flow that turns out to be bulk doubles its window up to the per-flow
 * ceiling (`limits.flow_window_bytes`), taking the growth from this budget;
 * the growth comes back when the flow slows down or closes. So memory pinned
 * by receive windows is bounded by flows x initial window + this cap, however
 * many flows a tunnel carries.
 */
export class WindowBudget {
  private used = 0;

  constructor(readonly capBytes: number) {}

  /** Takes up to `want` bytes; returns how many were granted (possibly 0). */
  take(want: number): number {
    const n = Math.max(0, Math.min(want, this.capBytes - this.used));
    this.used += n;
    return n;
  }

  give(n: number): void {
    this.used = Math.max(0, this.used - n);
  }

  get inUse(): number {
    return this.used;
  }
}

/** Every flow's initial window (both directions), unless flow_window_bytes is smaller. */
export const INITIAL_FLOW_WINDOW_BYTES = 256 * 1024;
/**
 * Default per-tunnel budget for window growth (proposed config key
 * `limits.tunnel_window_bytes`): 64 MiB lets sixteen bulk flows run at a 4 MiB window at once.
 */
export const DEFAULT_TUNNEL_WINDOW_BYTES = 64 * 1024 * 1024;
