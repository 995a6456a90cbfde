import type { Socket } from 'node:net';

/**
 * Reset a TCP socket (RST to the peer) and destroy it. Node refuses a TCP reset while our FIN
 * (a shutdown) is in flight, then drops the handle unclosed and never emits 'close' (fd leak).
 * The shutdown is only issued once every queued write has reached the kernel (writableLength 0):
 * until then (end() called, bytes still queued) a reset is allowed and is the only honest end —
 * a plain destroy() would drop the queued bytes and let the kernel send a FIN, a silent
 * truncation. With nothing queued, the kernel holds every byte ahead of our FIN: close normally.
 */
export function resetSocket(s: Socket): void {
  if (s.destroyed) return;
  if (s.writableEnded && !s.writableFinished && s.writableLength === 0) {
    s.destroy();
    return;
  }
  try {
    s.resetAndDestroy();
  } catch {
    s.destroy();
  }
}
