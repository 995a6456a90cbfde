import type { Socket } from 'node:net';

/**
 * Reset a TCP socket (RST to the peer) and destroy it. Node refuses a TCP reset while our FIN
 * (a shutdown) is in flight, then drops the handle unclosed and never emits 'close' (fd leak);
 * once our side has ended, close normally instead.
 */
export function resetSocket(s: Socket): void {
  if (s.destroyed) return;
  if (s.writableEnded && !s.writableFinished) {
    s.destroy();
    return;
  }
  try {
    s.resetAndDestroy();
  } catch {
    s.destroy();
  }
}
