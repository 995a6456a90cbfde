import { OnGatewayConnection, WebSocketGateway } from '@nestjs/websockets';
import type { IncomingMessage } from 'node:http';
import type WebSocket from 'ws';
import { TunnelSessions } from './tunnel-sessions';

/** `/tunnel`: Nest wires the endpoint; the session owns the socket from here on. */
@WebSocketGateway({ path: '/tunnel' })
export class TunnelGateway implements OnGatewayConnection {
  constructor(private readonly sessions: TunnelSessions) {}

  handleConnection(ws: WebSocket, req: IncomingMessage): void {
    this.sessions.accept(ws, req);
  }
}
