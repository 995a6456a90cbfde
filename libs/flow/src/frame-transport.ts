/**
 * Where a session's frames go: a WebSocket today (tunnel), a mesh link later.
 * `send` never blocks; callers check `congested` and wait for `onDrain`.
 */
export interface FrameTransport {
  send(frame: Buffer): void;
  /** True while the transport has more queued than its high-water mark. */
  readonly congested: boolean;
  /** Called (repeatedly) whenever the transport's queue drains. */
  onDrain(listener: () => void): void;
}
