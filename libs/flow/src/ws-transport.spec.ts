import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type WebSocket from 'ws';
import { WsTransport } from './ws-transport';

/** Just the two members of ws.WebSocket the transport touches. */
class FakeWs {
  bufferedAmount = 0;
  readonly sent: Array<[Buffer, unknown]> = [];
  send(data: Buffer, options: unknown): void {
    this.sent.push([data, options]);
  }
}

function make(highWater: number): { ws: FakeWs; socket: EventEmitter; transport: WsTransport } {
  const ws = new FakeWs();
  const socket = new EventEmitter();
  const transport = new WsTransport(ws as unknown as WebSocket, socket as unknown as Socket, highWater);
  return { ws, socket, transport };
}

describe('WsTransport', () => {
  it('sends each frame as one binary, uncompressed, final message', () => {
    const { ws, transport } = make(100);
    const frame = Buffer.from('01050000000000070000000268 69'.replace(/ /g, ''), 'hex');
    transport.send(frame);
    expect(ws.sent).toEqual([[frame, { binary: true, compress: false, fin: true }]]);
  });

  it('is congested only above the high-water mark', () => {
    const { ws, transport } = make(100);
    expect(transport.congested).toBe(false);
    ws.bufferedAmount = 100;
    expect(transport.congested).toBe(false);
    ws.bufferedAmount = 101;
    expect(transport.congested).toBe(true);
  });

  it("relays every 'drain' of the underlying socket", () => {
    const { socket, transport } = make(100);
    let drains = 0;
    transport.onDrain(() => drains++);
    socket.emit('drain');
    socket.emit('drain');
    expect(drains).toBe(2);
  });
});
