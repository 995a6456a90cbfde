import type { Socket } from 'node:net';
import type WebSocket from 'ws';
import type { FrameTransport } from './frame-transport';

const SEND_OPTIONS = { binary: true, compress: false, fin: true } as const;

/**
 * A WebSocket as a frame transport. `congested` reads ws.bufferedAmount (ws's
 * own queue plus the socket's); the underlying TCP socket's 'drain' says when
 * to resume.
 */
export class WsTransport implements FrameTransport {
  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Socket,
    private readonly highWaterBytes: number,
  ) {}

  send(frame: Buffer): void {
    this.ws.send(frame, SEND_OPTIONS);
  }

  get congested(): boolean {
    return this.ws.bufferedAmount > this.highWaterBytes;
  }

  onDrain(listener: () => void): void {
    this.socket.on('drain', listener);
  }
}
