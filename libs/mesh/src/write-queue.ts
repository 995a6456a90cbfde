import type { BackpressureReason } from './mesh-metrics';

/**
 * Hands one frame to the socket; `done` when the socket has taken it (ws.send's callback).
 * With `payload`, the frame is `frame` followed by `payload` (M_DATA: its head, then the
 * payload as it is, not copied next to it).
 */
export type FrameSink = (frame: Buffer, done: () => void, payload: Buffer | undefined) => void;

export interface LinkWriteQueueOptions {
  /** ha.mesh.send_queue_depth: frames waiting for the socket. */
  readonly maxDepth: number;
  /** ha.mesh.per_link_max_inflight_bytes: bytes handed to the socket and not yet written out. */
  readonly maxInflightBytes: number;
  readonly sink: FrameSink;
}

/**
 * One mesh link's writer. Frames wait here (at most `maxDepth` of them) and
 * are handed to the socket while the bytes it has not yet written stay under
 * `maxInflightBytes` (one frame always passes, so a frame larger than the cap
 * cannot wedge the link).
 *
 * Rules (docs/mesh.md "Backpressure"):
 * - `push` never drops: frames of existing flows are never lost.
 * - `congested` says when flows must stop producing DATA (they wait for
 *   `onDrain`); with per-flow credit that keeps the queue at its caps.
 * - `tryAdmitOpen` refuses a new cross-replica flow while the link is at a cap,
 *   naming the reason.
 */
export class LinkWriteQueue {
  private queue: Buffer[] = [];
  /** Each frame's payload sent after it as it is (M_DATA), or undefined. */
  private payloads: (Buffer | undefined)[] = [];
  private head = 0;
  private queued = 0;
  private inflight = 0;
  /** Frames handed to the socket and not yet written out. */
  private inflightCount = 0;
  /** Frames without a payload (every frame but M_DATA: control) queued or in flight. */
  private control = 0;
  private wasCongested = false;
  private closed = false;
  private pumping = false;
  private readonly drainListeners: Array<() => void> = [];
  private emptyWaiters: Array<() => void> = [];

  constructor(private readonly options: LinkWriteQueueOptions) {
    if (!(options.maxDepth >= 1) || !(options.maxInflightBytes >= 1)) throw new RangeError('LinkWriteQueue: caps must be positive');
  }

  /** Frames waiting for the socket (gauge nowconnect_mesh_queue_depth{peer}). */
  get depth(): number {
    return this.queue.length - this.head;
  }

  /** Bytes waiting in this queue. */
  get queuedBytes(): number {
    return this.queued;
  }

  /** Bytes handed to the socket and not yet written (gauge nowconnect_mesh_inflight_bytes{peer}). */
  get inflightBytes(): number {
    return this.inflight;
  }

  /** Frames handed to the socket and not yet written out. */
  get inflightFrames(): number {
    return this.inflightCount;
  }

  /**
   * Control frames (every frame but M_DATA) not yet written out, queued or in flight: what a peer that
   * does not read piles up with M_PING (each answered with an M_PONG) — the link's owner closes it
   * (`slow_consumer`) past a cap.
   */
  get controlBacklog(): number {
    return this.control;
  }

  get congested(): boolean {
    return this.depth >= this.options.maxDepth || this.inflight >= this.options.maxInflightBytes;
  }

  /** null when a new flow may start on this link, else why not. */
  tryAdmitOpen(): BackpressureReason | null {
    if (this.depth >= this.options.maxDepth) return 'queue_full';
    if (this.inflight >= this.options.maxInflightBytes) return 'inflight_cap';
    return null;
  }

  /** Called (repeatedly) each time the queue stops being congested. */
  onDrain(listener: () => void): void {
    this.drainListeners.push(listener);
  }

  /** Calls `cb` once every queued frame has been handed to the socket (at once when none is queued). */
  whenEmpty(cb: () => void): void {
    if (this.depth === 0 || this.closed) cb();
    else this.emptyWaiters.push(cb);
  }

  /** Queues a frame; with `payload`, the frame is `frame` then `payload` (kept as it is, not copied). */
  push(frame: Buffer, payload?: Buffer): void {
    if (this.closed) return;
    this.queue.push(frame);
    this.payloads.push(payload);
    this.queued += frame.length + (payload === undefined ? 0 : payload.length);
    if (payload === undefined) this.control++;
    this.pump();
    if (this.congested) this.wasCongested = true;
  }

  /** The link is gone: forget what is queued; later pushes are ignored. */
  close(): void {
    this.closed = true;
    this.queue = [];
    this.payloads = [];
    this.head = 0;
    this.queued = 0;
    this.control = 0;
    this.emptyWaiters = [];
  }

  private pump(): void {
    // A sink that completes synchronously re-enters through `done`: the running loop picks that up.
    if (this.pumping) return;
    this.pumping = true;
    try {
      this.pumpLoop();
    } finally {
      this.pumping = false;
    }
  }

  private pumpLoop(): void {
    const { maxInflightBytes, sink } = this.options;
    while (!this.closed && this.head < this.queue.length) {
      const frame = this.queue[this.head]!;
      const payload = this.payloads[this.head];
      const bytes = frame.length + (payload === undefined ? 0 : payload.length);
      if (this.inflight > 0 && this.inflight + bytes > maxInflightBytes) break;
      this.queue[this.head] = EMPTY;
      this.payloads[this.head] = undefined;
      this.head++;
      this.queued -= bytes;
      this.inflight += bytes;
      this.inflightCount++;
      const isControl = payload === undefined;
      let called = false;
      sink(
        frame,
        () => {
          if (called) return;
          called = true;
          this.inflight -= bytes;
          this.inflightCount--;
          if (isControl && !this.closed) this.control--;
          this.pump();
          this.maybeDrained();
        },
        payload,
      );
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.payloads = this.payloads.slice(this.head);
      this.head = 0;
    }
    if (this.depth === 0 && this.emptyWaiters.length > 0) {
      const waiters = this.emptyWaiters;
      this.emptyWaiters = [];
      for (const cb of waiters) cb();
    }
  }

  private maybeDrained(): void {
    if (!this.wasCongested || this.congested || this.closed) return;
    this.wasCongested = false;
    for (const listener of this.drainListeners) listener();
  }
}

const EMPTY = Buffer.alloc(0);
