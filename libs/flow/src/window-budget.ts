/**
 * A cap on receive-window growth (QUIC-style two-level flow control, done by
 * the receiver alone): every flow starts with a small window; a flow that
 * turns out to be bulk grows its window (see ReceiveWindow) up to the
 * per-flow ceiling, taking the growth from its tunnel's budget, which takes
 * it in turn from the process's budget (the parent); the growth comes back
 * when the flow slows down or closes. So memory pinned by receive windows is
 * bounded by flows x initial window + the tunnel's cap, and all tunnels (and
 * mesh links) of a process together by flows x initial window + the process's cap.
 */
export class WindowBudget {
  private used = 0;

  constructor(
    private cap: number,
    private readonly parent?: WindowBudget,
  ) {}

  get capBytes(): number {
    return this.cap;
  }

  /** A new cap; growth already taken above it stays until given back. */
  resize(capBytes: number): void {
    this.cap = capBytes;
  }

  /** Takes up to `want` bytes (from this budget and its parent); returns how many were granted (possibly 0). */
  take(want: number): number {
    let n = Math.max(0, Math.min(want, this.cap - this.used));
    if (n > 0 && this.parent !== undefined) n = this.parent.take(n);
    this.used += n;
    return n;
  }

  give(n: number): void {
    const back = Math.min(n, this.used);
    if (back <= 0) return;
    this.used -= back;
    this.parent?.give(back);
  }

  get inUse(): number {
    return this.used;
  }
}

/**
 * Every flow's initial window (both directions), unless flow_window_bytes is smaller. Both ends
 * of a tunnel compute min(flow_window_bytes, this) the same way: it is part of the wire contract.
 */
export const INITIAL_FLOW_WINDOW_BYTES = 256 * 1024;
/**
 * Default per-flow ceiling of an auto-tuned receive window (`limits.max_flow_window_bytes`):
 * twice the bandwidth-delay product of ~80 MB/s at 100 ms.
 */
export const DEFAULT_MAX_FLOW_WINDOW_BYTES = 16 * 1024 * 1024;
/**
 * Default per-tunnel budget for window growth (`limits.tunnel_window_bytes`): 64 MiB lets four
 * flows run at the 16 MiB ceiling at once, or sixteen at 4 MiB.
 */
export const DEFAULT_TUNNEL_WINDOW_BYTES = 64 * 1024 * 1024;
/** Default per-process budget for window growth, all tunnels and mesh links (`limits.process_window_bytes`). */
export const DEFAULT_PROCESS_WINDOW_BYTES = 256 * 1024 * 1024;

/**
 * The process's budget, the parent of every tunnel's and mesh link's budget in this process
 * (its cap set from `limits.process_window_bytes` where the process has that config).
 */
export const PROCESS_WINDOW_BUDGET = new WindowBudget(DEFAULT_PROCESS_WINDOW_BYTES);
