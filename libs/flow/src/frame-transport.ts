/**
 * Where a session's frames go: a WebSocket today (tunnel), a mesh link later.
 * `send` and `sendData` never block; callers check `congested` and wait for
 * `onDrain`. A transport may batch frames written in the same event-loop turn
 * into one message; `flush` writes whatever is batched now.
 */
export interface FrameTransport {
  /** One whole encoded frame (control frames, FIN, RST, WINDOW_UPDATE, ...). */
  send(frame: Buffer): void;
  /**
   * One DATA frame for `flowId` carrying `payload`. The transport writes the
   * header itself and may keep a reference to `payload` (no copy) until it is
   * written: the caller must not modify it afterwards.
   */
  sendData(flowId: number, payload: Buffer): void;
  /** Writes any batched frames now (before closing the link, for instance). */
  flush(): void;
  /** Largest message the peer accepts (its max_frame_bytes): batches never exceed it. */
  maxMessageBytes: number;
  /** True while the transport has more queued than its high-water mark. */
  readonly congested: boolean;
  /** Bytes queued towards the peer and not yet taken by the kernel (control frames included). */
  readonly queuedBytes: number;
  /** Called (repeatedly) whenever the transport's queue drains. */
  onDrain(listener: () => void): void;
}
